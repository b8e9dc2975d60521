"""Feature propagation F + S + W of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 3-4, Eq. 3).

The flow network F runs on both frames at half resolution (Sec. 4) and returns the flow field
M_{i->k} and the scale field S_{i->k} on the feature grid (stride 16 of the full-size input);
the key-frame features are then warped (Eq. 3, :func:`dff_common.warp.warp`). When the flow
grid differs from the feature grid the fields are "bi-linearly resized to the same spatial
resolution of the feature maps" (Sec. 3) by :func:`resize_flow`.
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dff_common.warp import warp

__all__ = ["FeaturePropagation", "resize_flow"]

_HALF = (torch.float16, torch.bfloat16)


def _axis_ratio(new: int, old: int) -> float:
    # align_corners=True maps the first and last pixels of both grids onto each other, so one
    # pixel of the old grid spans (new - 1) / (old - 1) pixels of the new one.
    return (new - 1) / (old - 1) if new > 1 and old > 1 else new / old


def resize_flow(flow: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a flow field to another grid, rescaling its vectors to the new pixels.

    Uses ``align_corners=True`` geometry, the one :func:`~dff_common.warp.warp` samples with
    (pixel ``j`` of an axis of length ``n`` sits at ``j / (n - 1)`` of the image); the x and y
    components are multiplied by ``(w' - 1) / (w - 1)`` and ``(h' - 1) / (h - 1)``
    (``w' / w`` on a length-1 axis).

    Args:
        flow (Tensor): ``(N, 2, h, w)`` flow in pixels of its grid, channel 0 = x.
        size (Sequence[int]): target ``(h', w')``.

    Returns:
        Tensor: ``(N, 2, h', w')`` flow in pixels of the new grid; ``flow`` itself if the size
        is unchanged.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (N, 2, h, w), got shape {tuple(flow.shape)}")
    (h, w), (new_h, new_w) = flow.shape[2:], (int(size[0]), int(size[1]))
    if (h, w) == (new_h, new_w):
        return flow
    resized = F.interpolate(flow, size=(new_h, new_w), mode="bilinear", align_corners=True)
    ratio = flow.new_tensor([_axis_ratio(new_w, w), _axis_ratio(new_h, h)]).view(1, 2, 1, 1)
    return resized * ratio


def _check_frames(key_images: torch.Tensor, cur_images: torch.Tensor):
    for name, images in (("key_images", key_images), ("cur_images", cur_images)):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"{name} must be (N, 3, H, W) RGB, got shape {tuple(images.shape)}")
    if key_images.shape[0] != cur_images.shape[0]:
        raise ValueError(
            f"batch mismatch: key_images has {key_images.shape[0]} frames, "
            f"cur_images has {cur_images.shape[0]}"
        )
    if key_images.shape[2:] != cur_images.shape[2:]:
        raise ValueError(
            f"frames of different sizes: key_images {tuple(key_images.shape[2:])}, "
            f"cur_images {tuple(cur_images.shape[2:])}"
        )


class FeaturePropagation(nn.Module):
    """Propagate key-frame features to the current frame, ``f_i = W(f_k, M_{i->k}, S_{i->k})``.

    Args:
        flow_net (nn.Module): ``flow, scale = flow_net(key, cur)`` on ``(N, 3, h, w)`` frames
            normalised as ``(RGB - mean) / flow_input_std``; ``flow`` ``(N, 2, h', w')`` in
            feature-map pixels (channel 0 = x, current -> key), ``scale`` ``(N, C, h', w')``
            (or None), ``(h', w')`` the feature grid or any grid covering the same frame.
        flow_input_scale (float): resize factor of the frames fed to the flow network; the
            paper feeds half-sized frames (Sec. 4). Defaults to 0.5.
        image_std (Sequence[float]): per-channel RGB std the incoming frames are divided by
            (the feature network's normalisation ``(RGB - mean) / image_std``).
            Defaults to (1., 1., 1.).
        flow_input_std (float): divisor the flow network was trained with,
            ``(RGB - mean) / 255`` for FlowNet (Sec. 4). Defaults to 255.
        use_scale (bool): multiply by the scale field S (Eq. 3). False ignores it, the
            paper's "scale function removed" ablation and the setting for hand-crafted flow
            (Sec. 3: S is then ones). Defaults to True.
    """

    def __init__(
        self,
        flow_net: nn.Module,
        flow_input_scale: float = 0.5,
        image_std: Sequence[float] = (1.0, 1.0, 1.0),
        flow_input_std: float = 255.0,
        use_scale: bool = True,
    ):
        super().__init__()
        if not flow_input_scale > 0:
            raise ValueError(f"flow_input_scale must be > 0, got {flow_input_scale}")
        if len(image_std) != 3 or min(image_std) <= 0 or not flow_input_std > 0:
            raise ValueError(
                f"image_std must be 3 positive values and flow_input_std positive, got "
                f"{tuple(image_std)} and {flow_input_std}"
            )
        self.flow_net = flow_net
        self.flow_input_scale = float(flow_input_scale)
        self.flow_input_std = float(flow_input_std)
        self.use_scale = bool(use_scale)
        # (RGB - mean) / image_std * (image_std / flow_input_std) = (RGB - mean) / flow_input_std
        factor = torch.tensor(image_std, dtype=torch.float32) / self.flow_input_std
        self.register_buffer("input_factor", factor.view(1, 3, 1, 1), persistent=False)

    def _flow_input(self, images: torch.Tensor) -> torch.Tensor:
        if self.flow_input_scale != 1.0:
            # ceil keeps ceil(H / 2 / 8) == ceil(H / 16), the feature grid; on even sizes the
            # bilinear half-size resize is the 2x2 average pooling of the authors' code
            h, w = (math.ceil(n * self.flow_input_scale) for n in images.shape[2:])
            images = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False)
        return images * self.input_factor.to(images.dtype)

    def flow_and_scale(
        self, key_images: torch.Tensor, cur_images: torch.Tensor, feat_size: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flow field M_{i->k} and scale field S_{i->k} on the feature grid.

        Args:
            key_images (Tensor): ``(N, 3, H, W)`` key frames I_k, feature-network normalisation.
            cur_images (Tensor): ``(N, 3, H, W)`` current frames I_i, same normalisation.
            feat_size (Sequence[int]): ``(h, w)`` of the key-frame feature maps.

        Returns:
            tuple: ``flow`` ``(N, 2, h, w)`` in feature-map pixels, and ``scale``
            ``(N, C, h, w)``, or None when ``use_scale`` is False or the flow net gives none;
            float32 (or float64) even when F returns half precision (under autocast).
        """
        _check_frames(key_images, cur_images)
        flow, scale = self.flow_net(self._flow_input(key_images), self._flow_input(cur_images))
        if flow.dim() != 4 or flow.shape[:2] != (key_images.shape[0], 2):
            raise ValueError(
                f"flow_net must return flow (N={key_images.shape[0]}, 2, h, w), "
                f"got shape {tuple(flow.shape)}"
            )
        # F under autocast gives half precision: the resize and the warp's positions need fp32
        flow = resize_flow(flow.float() if flow.dtype in _HALF else flow, feat_size)
        if not self.use_scale or scale is None:
            return flow, None
        scale = scale.float() if scale.dtype in _HALF else scale
        if tuple(scale.shape[2:]) != tuple(feat_size):
            scale = F.interpolate(scale, size=tuple(feat_size), mode="bilinear", align_corners=True)
        return flow, scale

    def propagate(
        self, f_key: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None
    ) -> torch.Tensor:
        """Eq. (3) with fields from :meth:`flow_and_scale`: ``(N, C, h, w) -> (N, C, h, w)``."""
        return warp(f_key, flow, scale if self.use_scale else None)

    def forward(
        self,
        f_key: torch.Tensor,
        key_images: torch.Tensor,
        cur_images: torch.Tensor,
        same_frame: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Propagated features f_i of the current frames.

        Args:
            f_key (Tensor): ``(N, C, h, w)`` key-frame features f_k.
            key_images (Tensor): ``(N, 3, H, W)`` key frames I_k, feature-network normalisation.
            cur_images (Tensor): ``(N, 3, H, W)`` current frames I_i.
            same_frame (Tensor, optional): ``(N,)`` bool, True where I_i is I_k (key offset 0):
                ``f_key`` is returned unchanged there, "no propagation is done" (Sec. 3). The
                flow network still runs on the whole batch so that every parameter takes part
                in each step. Defaults to None (propagate all).

        Returns:
            Tensor: ``(N, C, h, w)`` features f_i.
        """
        _check_frames(key_images, cur_images)
        if f_key.dim() != 4 or f_key.shape[0] != cur_images.shape[0]:
            raise ValueError(
                f"f_key must be (N, C, h, w) with N = {cur_images.shape[0]} frames, "
                f"got shape {tuple(f_key.shape)}"
            )
        flow, scale = self.flow_and_scale(key_images, cur_images, f_key.shape[2:])
        f_cur = self.propagate(f_key, flow, scale)
        if same_frame is None:
            return f_cur
        if same_frame.shape != (f_key.shape[0],) or same_frame.dtype != torch.bool:
            raise ValueError(
                f"same_frame must be a bool tensor of shape ({f_key.shape[0]},), got "
                f"{same_frame.dtype} {tuple(same_frame.shape)}"
            )
        return torch.where(same_frame.view(-1, 1, 1, 1), f_key, f_cur)

    def extra_repr(self) -> str:
        return (
            f"flow_input_scale={self.flow_input_scale}, flow_input_std={self.flow_input_std}, "
            f"use_scale={self.use_scale}"
        )
