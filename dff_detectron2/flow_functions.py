"""Flow functions F of the Table 3 variants and the propagation module built from the config.

- DFF: a flow network of ``dff_common.flow_nets`` started from a pre-trained checkpoint
  (Flying Chairs in the paper, Sec. 4) with the scale field added, trained end to end.
- SFF, "shallow feature flow": a hand-crafted flow with no training and S = 1 (Sec. 3: "any
  flow function F ... is readily applicable"). The paper uses SIFT-Flow; here OpenCV's DIS
  optical flow (Kroeger et al., ECCV 2016), whose presets play the fast / slow roles.
- Copy: zero flow and no scale, so W copies the key frame's features unchanged (the
  Clockwork-style feature reuse the paper compares against, Sec. 2).
"""

import logging

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from detectron2.layers import FrozenBatchNorm2d
from torch import nn

from dff_common.checkpoint import load_flownets
from dff_common.flow_nets import build_flow_net
from dff_common.propagation import FeaturePropagation

__all__ = ["DISFlow", "ZeroFlow", "build_propagation", "load_flow_weights"]

logger = logging.getLogger(__name__)

FLOW_STRIDE = 8  # flow functions return fields at stride 8 of their (half-size) input
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlow(nn.Module):
    """OpenCV DIS optical flow as a (non-learned) flow function F, on CPU.

    Args:
        pixel_mean (Sequence[float]): RGB mean subtracted from the frames it receives.
        input_std (float): divisor of the frames it receives, ``(RGB - mean) / input_std``.
        preset (str): "ultrafast", "fast" or "medium".
    """

    def __init__(self, pixel_mean, input_std: float = 255.0, preset: str = "medium"):
        super().__init__()
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; valid: {sorted(DIS_PRESETS)}")
        self.preset = preset
        self.input_std = float(input_std)
        self.register_buffer(
            "pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1), False
        )

    def _gray(self, frames: torch.Tensor) -> np.ndarray:
        rgb = frames.detach().float() * self.input_std + self.pixel_mean
        gray = rgb[:, 0] * 0.299 + rgb[:, 1] * 0.587 + rgb[:, 2] * 0.114
        return gray.clamp(0, 255).round().to(torch.uint8).cpu().numpy()

    @torch.no_grad()
    def forward(self, key: torch.Tensor, cur: torch.Tensor):
        """Flow M_{i->k} from the current into the key frame, no scale field.

        Args:
            key (Tensor): ``(N, 3, h, w)`` key frames, ``(RGB - mean) / input_std``.
            cur (Tensor): ``(N, 3, h, w)`` current frames.

        Returns:
            tuple: ``flow`` ``(N, 2, ceil(h/8), ceil(w/8))`` in pixels of that stride-8 grid
            (channel 0 = x), and ``None``.
        """
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.preset])
        # calc(I0, I1) finds I0(p) ~ I1(p + flow(p)): I0 = current, I1 = key frame
        flows = [dis.calc(c, k, None) for k, c in zip(self._gray(key), self._gray(cur))]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(key.device)
        flow = F.avg_pool2d(flow, FLOW_STRIDE, ceil_mode=True) / FLOW_STRIDE
        return flow.to(key.dtype), None

    def extra_repr(self) -> str:
        return f"preset={self.preset}"


class ZeroFlow(nn.Module):
    """Zero flow and no scale field: propagation copies the key frame's features."""

    def forward(self, key: torch.Tensor, cur: torch.Tensor):
        """``(N, 3, h, w)`` frames -> zero flow ``(N, 2, ceil(h/8), ceil(w/8))`` and None."""
        n, _, h, w = cur.shape
        return cur.new_zeros(n, 2, -(-h // FLOW_STRIDE), -(-w // FLOW_STRIDE)), None


def load_flow_weights(flow_net: nn.Module, path: str, layout: str = "auto"):
    """Load pre-trained flow weights, dropping any scale field (it is added anew, Sec. 3).

    Args:
        flow_net (nn.Module): a network of ``dff_common.flow_nets``.
        path (str): checkpoint (``{"state_dict": ...}`` or a bare state dict).
        layout (str): ``"auto"``, ``"mmflow"``, ``"flownet_pytorch"`` or ``"dff"``.

    Returns:
        LoadResult: missing and unexpected key names.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = checkpoint.get("state_dict", checkpoint)
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith("scale_field.")}
    return load_flownets(flow_net, state_dict, layout=layout)


def build_propagation(cfg, feat_channels: int) -> FeaturePropagation | None:
    """The propagation F + S + W of ``cfg.MODEL.DFF.MODE`` (None for "frame").

    Args:
        cfg (CfgNode): config with the DFF keys.
        feat_channels (int): channels of the propagated maps (the scale field's).

    Returns:
        FeaturePropagation | None: the module.
    """
    dff, mode = cfg.MODEL.DFF, cfg.MODEL.DFF.MODE
    if mode == "frame":
        return None
    use_scale = dff.FLOW.USE_SCALE
    if mode == "dff":
        flow_net = build_flow_net(
            dff.FLOW.NAME, feat_channels=feat_channels, norm=dff.FLOW.NORM or None
        )
        if dff.FLOW.WEIGHTS:
            result = load_flow_weights(flow_net, dff.FLOW.WEIGHTS, dff.FLOW.WEIGHTS_LAYOUT)
            logger.info(f"flow weights from {dff.FLOW.WEIGHTS}: {result}")
        # statistics of a BN flow net stay those of its pre-training (small batches here)
        flow_net = FrozenBatchNorm2d.convert_frozen_batchnorm(flow_net)
    elif mode == "sff":
        flow_net = DISFlow(cfg.MODEL.PIXEL_MEAN, dff.FLOW.INPUT_STD, dff.FLOW.SFF_PRESET)
        use_scale = False
    elif mode == "copy":
        flow_net, use_scale = ZeroFlow(), False
    else:
        raise ValueError(f"MODEL.DFF.MODE must be dff, frame, sff or copy, got {mode!r}")
    return FeaturePropagation(
        flow_net,
        flow_input_scale=dff.FLOW.INPUT_SCALE,
        image_std=cfg.MODEL.PIXEL_STD,
        flow_input_std=dff.FLOW.INPUT_STD,
        use_scale=use_scale,
    )
