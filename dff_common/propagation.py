"""Feature propagation F + S + W of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 3-4, Eq. 3).

The flow network F runs on both frames at half resolution (Sec. 4) and returns the flow field
M_{i->k} and the scale field S_{i->k} on the feature grid (stride 16 of the full-size input);
the key-frame features are then warped (Eq. 3, :func:`dff_common.warp.warp`). When the flow
grid differs from the feature grid the fields are "bi-linearly resized to the same spatial
resolution of the feature maps" (Sec. 3) by :func:`resize_flow`.
"""

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dff_common.levels import feature_maps
from dff_common.warp import warp

__all__ = ["FeaturePropagation", "resize_flow", "resize_scale"]

_HALF = (torch.float16, torch.bfloat16)


def resize_flow(flow: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a flow field to another grid over the same image, in the new pixels.

    The grids are feature grids of the same image at different strides: pixel ``j`` of an axis
    of length ``n`` covers ``[j, j + 1) / n`` of the image (``align_corners=False``), so one
    pixel of the old grid is ``n' / n`` pixels of the new one and the x and y components are
    multiplied by ``w' / w`` and ``h' / h``: a flow at stride 16 resized to a stride-4 level is
    multiplied by 4 (Sec. 3: "bi-linearly resized to the same spatial resolution of the
    feature maps").

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
    resized = F.interpolate(flow, size=(new_h, new_w), mode="bilinear", align_corners=False)
    ratio = flow.new_tensor([new_w / w, new_h / h]).view(1, 2, 1, 1)
    return resized * ratio


def resize_scale(scale: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a scale field ``(N, C, h, w)`` to ``size`` (same geometry as
    :func:`resize_flow`; the values are factors and stay as they are)."""
    if tuple(scale.shape[2:]) == tuple(size):
        return scale
    return F.interpolate(scale, size=tuple(size), mode="bilinear", align_corners=False)


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


def _keep(keep: torch.Tensor, key_level, cur_level):
    """``key_level`` where ``keep`` (N, 1, 1, 1), else ``cur_level`` (None stays None)."""
    return None if key_level is None else torch.where(keep, key_level, cur_level)


Features = torch.Tensor | Sequence[torch.Tensor | None] | Mapping[str, torch.Tensor | None]


class FeaturePropagation(nn.Module):
    """Propagate key-frame features to the current frame, ``f_i = W(f_k, M_{i->k}, S_{i->k})``.

    The features are one map ``(N, C, h, w)`` (the paper's network) or several levels, each a
    map at its own stride (a backbone's multi-scale outputs, an FPN): the flow is computed once
    and, for each level, resized to its grid with its vectors rescaled to that grid's pixels
    (:func:`resize_flow`); the scale field's channels are the levels' channels in order, each
    slice resized to its level.

    Args:
        flow_net (nn.Module): ``flow, scale = flow_net(key, cur)`` on ``(N, 3, h, w)`` frames
            normalised as ``(RGB - mean) / flow_input_std``; ``flow`` ``(N, 2, h', w')`` in
            pixels of its grid (channel 0 = x, current -> key), ``scale`` ``(N, C, h', w')``
            (or None), ``(h', w')`` any grid covering the frame (the paper's: the feature grid).
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
        level_channels (Sequence[int], optional): channels of each level of multi-level
            features, in order (the layout of the scale field's channels). None: the features
            are a single map. Defaults to None.
    """

    def __init__(
        self,
        flow_net: nn.Module,
        flow_input_scale: float = 0.5,
        image_std: Sequence[float] = (1.0, 1.0, 1.0),
        flow_input_std: float = 255.0,
        use_scale: bool = True,
        level_channels: Sequence[int] | None = None,
    ):
        super().__init__()
        if not flow_input_scale > 0:
            raise ValueError(f"flow_input_scale must be > 0, got {flow_input_scale}")
        if len(image_std) != 3 or min(image_std) <= 0 or not flow_input_std > 0:
            raise ValueError(
                f"image_std must be 3 positive values and flow_input_std positive, got "
                f"{tuple(image_std)} and {flow_input_std}"
            )
        if level_channels is not None and (len(level_channels) == 0 or min(level_channels) <= 0):
            raise ValueError(f"level_channels must be positive counts, got {level_channels}")
        self.flow_net = flow_net
        self.flow_input_scale = float(flow_input_scale)
        self.flow_input_std = float(flow_input_std)
        self.use_scale = bool(use_scale)
        self.level_channels = None if level_channels is None else tuple(map(int, level_channels))
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
        self,
        key_images: torch.Tensor,
        cur_images: torch.Tensor,
        feat_size: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flow field M_{i->k} and scale field S_{i->k}.

        Args:
            key_images (Tensor): ``(N, 3, H, W)`` key frames I_k, feature-network normalisation.
            cur_images (Tensor): ``(N, 3, H, W)`` current frames I_i, same normalisation.
            feat_size (Sequence[int], optional): ``(h, w)`` to resize the fields to (a single
                feature map's grid). Defaults to None: the flow network's own grid.

        Returns:
            tuple: ``flow`` ``(N, 2, h, w)`` in pixels of its grid, and ``scale``
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
        flow = flow.float() if flow.dtype in _HALF else flow
        if not self.use_scale or scale is None:
            scale = None
        elif scale.dtype in _HALF:
            scale = scale.float()
        if feat_size is not None:
            flow = resize_flow(flow, feat_size)
            scale = None if scale is None else resize_scale(scale, feat_size)
        return flow, scale

    def _scale_slices(self, scale: torch.Tensor | None) -> list:
        """The scale field cut into the levels' channel slices (Nones without a scale)."""
        if scale is None:
            return [None] * len(self.level_channels)
        if scale.shape[1] != sum(self.level_channels):
            raise ValueError(
                f"the scale field has {scale.shape[1]} channels, the levels "
                f"{list(self.level_channels)} need {sum(self.level_channels)}"
            )
        return list(scale.split(self.level_channels, dim=1))

    def propagate(self, f_key: Features, flow: torch.Tensor, scale: torch.Tensor | None):
        """Eq. (3) with fields from :meth:`flow_and_scale`, on one map or on every level.

        Args:
            f_key (Tensor | Sequence | Mapping): ``(N, C, h, w)`` key-frame features, or one
                such map per level of ``level_channels``, in order (a sequence, or a mapping
                in its iteration order); a None level is not needed and stays None.
            flow (Tensor): ``(N, 2, h', w')`` flow field in pixels of its grid.
            scale (Tensor, optional): ``(N, C, h', w')`` scale field (C = all levels' channels).

        Returns:
            Tensor | tuple | dict: the propagated features, in the structure of ``f_key``.
        """
        scale = scale if self.use_scale else None
        if isinstance(f_key, torch.Tensor):
            size = f_key.shape[2:]
            level_scale = None if scale is None else resize_scale(scale, size)
            return warp(f_key, resize_flow(flow, size), level_scale)
        maps = list(f_key.values()) if isinstance(f_key, Mapping) else list(f_key)
        if self.level_channels is None or len(maps) != len(self.level_channels):
            raise ValueError(
                f"got {len(maps)} feature levels; the propagation was built for "
                f"{'one map' if self.level_channels is None else list(self.level_channels)}"
            )
        levels = []
        for level, level_scale in zip(maps, self._scale_slices(scale)):
            if level is None:
                levels.append(None)
                continue
            size = level.shape[2:]
            level_scale = None if level_scale is None else resize_scale(level_scale, size)
            levels.append(warp(level, resize_flow(flow, size), level_scale))
        return dict(zip(f_key, levels)) if isinstance(f_key, Mapping) else tuple(levels)

    def forward(
        self,
        f_key: Features,
        key_images: torch.Tensor,
        cur_images: torch.Tensor,
        same_frame: torch.Tensor | None = None,
    ):
        """Propagated features f_i of the current frames.

        Args:
            f_key (Tensor | Sequence | Mapping): ``(N, C, h, w)`` key-frame features f_k, or
                one map per level (see :meth:`propagate`).
            key_images (Tensor): ``(N, 3, H, W)`` key frames I_k, feature-network normalisation.
            cur_images (Tensor): ``(N, 3, H, W)`` current frames I_i.
            same_frame (Tensor, optional): ``(N,)`` bool, True where I_i is I_k (key offset 0):
                ``f_key`` is returned unchanged there, "no propagation is done" (Sec. 3). The
                flow network still runs on the whole batch so that every parameter takes part
                in each step. Defaults to None (propagate all).

        Returns:
            Tensor | tuple | dict: features f_i, in the structure of ``f_key``.
        """
        _check_frames(key_images, cur_images)
        n = cur_images.shape[0]
        for level in feature_maps(f_key):
            if level.dim() != 4 or level.shape[0] != n:
                shape = tuple(level.shape)
                raise ValueError(
                    f"f_key must be (N, C, h, w) with N = {n} frames, got shape {shape}"
                )
        flow, scale = self.flow_and_scale(key_images, cur_images)
        f_cur = self.propagate(f_key, flow, scale)
        if same_frame is None:
            return f_cur
        if same_frame.shape != (n,) or same_frame.dtype != torch.bool:
            raise ValueError(
                f"same_frame must be a bool tensor of shape ({n},), got "
                f"{same_frame.dtype} {tuple(same_frame.shape)}"
            )
        keep = same_frame.view(-1, 1, 1, 1)
        if isinstance(f_key, torch.Tensor):
            return torch.where(keep, f_key, f_cur)
        if isinstance(f_key, Mapping):
            return {name: _keep(keep, f_key[name], f_cur[name]) for name in f_key}
        return tuple(_keep(keep, k, c) for k, c in zip(f_key, f_cur))

    def extra_repr(self) -> str:
        levels = "" if self.level_channels is None else f", level_channels={self.level_channels}"
        return (
            f"flow_input_scale={self.flow_input_scale}, flow_input_std={self.flow_input_std}, "
            f"use_scale={self.use_scale}{levels}"
        )
