"""Untrained flow functions F for the baselines of Table 3: shallow feature flow and copying.

Both stand in for a flow network inside ``dff_common.propagation.FeaturePropagation`` (used by
both plugins for the SFF and copy baselines): they
take the two frames as the flow network does (``(RGB - mean) / 255``, at the flow network's
input resolution) and return ``(flow, None)``, the flow in pixels of the stride-8 grid of
their input (= the feature grid) pointing from the current frame into the key frame, and no
scale field (Sec. 3: "the scale function S is set to ones everywhere").

- :class:`DISFlow`: *SFF*, a hand-crafted flow. The paper uses SIFT-Flow; OpenCV's DIS optical
  flow (Kroeger et al., ECCV 2016) plays that role here (CPU, no training).
- :class:`ZeroFlow`: a zero flow, i.e. the key frame's features copied unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CLASSICAL_FLOWS", "DISFlow", "ZeroFlow"]

IMAGENET_MEAN = (123.675, 116.28, 103.53)
_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_TO_GREY = {"RGB": cv2.COLOR_RGB2GRAY, "BGR": cv2.COLOR_BGR2GRAY}


def _grid_size(height: int, width: int, stride: int) -> tuple[int, int]:
    return math.ceil(height / stride), math.ceil(width / stride)


class ZeroFlow(nn.Module):
    """Zero flow: propagation copies the key-frame features (the "feature copying" baseline).

    Args:
        stride (int): output grid stride relative to the input. Defaults to 8.
    """

    def __init__(self, stride: int = 8):
        super().__init__()
        self.stride = stride

    def forward(self, key: torch.Tensor, cur: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Return ``(N, 2, ceil(h / stride), ceil(w / stride))`` zeros and no scale field."""
        n, _, h, w = cur.shape
        return cur.new_zeros(n, 2, *_grid_size(h, w, self.stride)), None

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class DISFlow(nn.Module):
    """OpenCV's DIS optical flow from the current frame into the key frame (SFF baseline).

    Frames are mapped back to 8-bit grey images (``x * input_std + mean``), DIS computes the
    dense flow ``M`` with ``cur(p) ~ key(p + M(p))`` in input pixels, and the flow is averaged
    over ``stride x stride`` cells and divided by ``stride``: pixels of the feature grid.
    Not differentiable; runs on the CPU.

    Args:
        preset (str): "ultrafast", "fast" or "medium" (DIS quality presets). Defaults to
            "medium".
        stride (int): output grid stride relative to the input. Defaults to 8.
        mean (Sequence[float]): per-channel mean subtracted from the frames, in their channel
            order. Defaults to ImageNet's RGB mean.
        input_std (float): divisor of the frames. Defaults to 255.
        channel_order (str): "RGB", or "BGR" for a model fed BGR frames (a detectron2 model-zoo
            detector, ``INPUT.FORMAT``): the grey image weighs the channels by their colour.
            Defaults to "RGB".
    """

    def __init__(
        self,
        preset: str = "medium",
        stride: int = 8,
        mean: Sequence[float] = IMAGENET_MEAN,
        input_std: float = 255.0,
        channel_order: str = "RGB",
    ):
        super().__init__()
        if preset not in _DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; use one of {sorted(_DIS_PRESETS)}")
        if channel_order not in _TO_GREY:
            raise ValueError(
                f"DISFlow: channel_order must be 'RGB' or 'BGR', got {channel_order!r}"
            )
        self.channel_order = channel_order
        self.preset = preset
        self.stride = stride
        self.input_std = float(input_std)
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )

    def _grey(self, frames: torch.Tensor) -> np.ndarray:
        colour = frames.detach().float() * self.input_std + self.mean.to(frames.device)
        colour = colour.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        code = _TO_GREY[self.channel_order]
        return np.stack([cv2.cvtColor(image, code) for image in colour])

    @torch.no_grad()
    def forward(self, key: torch.Tensor, cur: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Flow ``M_{i->k}`` on the stride-``stride`` grid, in its pixels; no scale field.

        Args:
            key (Tensor): ``(N, 3, h, w)`` key frames, ``(colour - mean) / input_std``.
            cur (Tensor): ``(N, 3, h, w)`` current frames, same normalisation.

        Returns:
            tuple: flow ``(N, 2, ceil(h / stride), ceil(w / stride))``, channel 0 = x; None.
        """
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        flows = [dis.calc(c, k, None) for c, k in zip(self._grey(cur), self._grey(key))]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(cur)  # [N, 2, h, w]
        flow = F.avg_pool2d(flow, self.stride, ceil_mode=True) / self.stride
        return flow, None

    def extra_repr(self) -> str:
        return f"preset={self.preset!r}, stride={self.stride}, channel_order={self.channel_order}"


CLASSICAL_FLOWS = {"dis": DISFlow, "zero": ZeroFlow}
