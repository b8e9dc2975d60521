"""Data preprocessor for multi-frame inputs (a key frame and the current frame, or a clip)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmseg.models import SegDataPreProcessor
from mmseg.registry import MODELS


@MODELS.register_module()
class VideoSegDataPreProcessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` for ``(3T, H, W)`` inputs of T stacked frames.

    Each frame (channels ``3t .. 3t+2``, see :class:`~dff_mmseg.datasets.transforms.
    LoadVideoFrames`) gets the channel conversion and the normalisation ``(x - mean) / std``
    of a single image, so the key frame is normalised exactly like the current frame; then
    batching and padding are ``SegDataPreProcessor``'s (``size``, ``size_divisor``, 255 for
    labels). ``mean`` and ``std`` stay available to the model (the flow network's input is
    ``(RGB - mean) / 255``, Sec. 4).

    Args:
        mean (Sequence[float]): per-channel mean of one RGB frame (after ``bgr_to_rgb``).
        std (Sequence[float]): per-channel std of one RGB frame.
        bgr_to_rgb (bool): convert each frame from BGR to RGB. Defaults to False.
        rgb_to_bgr (bool): convert each frame from RGB to BGR. Defaults to False.
        **kwargs: ``size``, ``size_divisor``, ``pad_val``, ``seg_pad_val``, ``test_cfg`` of
            ``SegDataPreProcessor``.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        bgr_to_rgb: bool = False,
        rgb_to_bgr: bool = False,
        **kwargs,
    ) -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std must have 3 values (RGB), got {mean} and {std}")
        if bgr_to_rgb and rgb_to_bgr:
            raise ValueError("bgr_to_rgb and rgb_to_bgr cannot both be True")
        super().__init__(**kwargs)  # no mean/std: the parent then leaves values alone
        self.swap_channels = bgr_to_rgb or rgb_to_bgr
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def normalize_frames(self, inputs: torch.Tensor) -> torch.Tensor:
        """Convert and normalise each frame of one ``(3T, H, W)`` input.

        Returns:
            Tensor: float ``(3T, H, W)``.
        """
        if inputs.dim() != 3 or inputs.shape[0] % 3:
            raise ValueError(f"inputs must be (3T, H, W) stacked frames, got {tuple(inputs.shape)}")
        frames = inputs.float().view(-1, 3, *inputs.shape[1:])  # [T, 3, H, W]
        if self.swap_channels:
            frames = frames.flip(1)
        frames = (frames - self.mean) / self.std
        return frames.reshape(inputs.shape)

    def forward(self, data: dict, training: bool = False) -> dict[str, Any]:
        """Normalise every frame, then batch and pad as ``SegDataPreProcessor``.

        Returns:
            dict: ``inputs`` float ``(N, 3T, H, W)`` and ``data_samples``.
        """
        data = self.cast_data(data)
        data = dict(data, inputs=[self.normalize_frames(x) for x in data["inputs"]])
        return super().forward(data, training)
