"""The feature network of Sec. 4 as an mmseg backbone (``type='DilatedResNet'``)."""

from __future__ import annotations

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS

from dff_common.checkpoint import load_torchvision_resnet
from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.norm import NORM_LAYERS

from .pretrained import PretrainedInitMixin

__all__ = ["DilatedResNet"]


@MODELS.register_module()
class DilatedResNet(PretrainedInitMixin, DilatedResNetFeatureNet):
    """Dilated ResNet-50/101 + 3x3 dilation-6 conv to ``out_channels`` (output stride 16).

    ``dff_common.feature_net.DilatedResNetFeatureNet`` with mmseg's conventions: ``forward``
    returns a tuple of one map (the decode head's ``in_index=0``) and ``init_cfg=dict(
    type='Pretrained', checkpoint=...)`` reads an ImageNet ResNet in torchvision's layout
    (``resnet101-63fe2227.pth``; the 1000-way classifier is dropped, ``conv_feat`` stays
    random, Sec. 4). The split point of Table 5 (``num_task_layers``) is read by
    ``DFFSegmentor`` through ``feature_part()`` / ``task_prefix()``.

    Args:
        depth (int): 50 or 101. Defaults to 101.
        out_channels (int): channels of ``conv_feat``. Defaults to 1024.
        num_task_layers (int): learnable layers moved into N_task, 1, 5, 12 or 21 (Table 5).
            Defaults to 1.
        frozen_stages (int): leading stages not trained (2: conv1 and res2). Defaults to 2.
        norm (str): ``"FrozenBN"`` (the paper), ``"BN"`` or ``"GN"``. Defaults to "FrozenBN".
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=FILE)``.
    """

    def __init__(
        self,
        depth: int = 101,
        out_channels: int = 1024,
        num_task_layers: int = 1,
        frozen_stages: int = 2,
        norm: str = "FrozenBN",
        init_cfg: dict | None = None,
    ):
        if norm not in NORM_LAYERS:
            raise ValueError(
                f"DilatedResNet: unknown norm {norm!r}; use one of {sorted(NORM_LAYERS)}"
            )
        super().__init__(
            init_cfg=init_cfg,
            depth=depth,
            out_channels=out_channels,
            num_task_layers=num_task_layers,
            frozen_stages=frozen_stages,
            norm_layer=NORM_LAYERS[norm],
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor]:
        """``((N, out_channels, H/16, W/16),)`` for normalised images ``(N, 3, H, W)``."""
        return (super().forward(images),)

    def load_pretrained(self, checkpoint: str) -> None:
        """ImageNet weights in torchvision's layout into ``body`` (Sec. 4)."""
        result = load_torchvision_resnet(self, checkpoint, prefix="body.")
        print_log(f"DilatedResNet: ImageNet weights from {checkpoint} ({result})", "current")
