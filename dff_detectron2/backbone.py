"""The DFF feature network N_feat as a detectron2 backbone (Zhu et al., CVPR 2017, Sec. 4)."""

import logging
from functools import partial

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from dff_common.checkpoint import load_torchvision_resnet
from dff_common.feature_net import DilatedResNetFeatureNet

__all__ = ["DFFResNetBackbone", "build_dff_resnet_backbone"]

logger = logging.getLogger(__name__)

NORM_LAYERS = {
    "FrozenBN": FrozenBatchNorm2d,
    "BN": nn.BatchNorm2d,
    "GN": partial(nn.GroupNorm, 32),
}


class DFFResNetBackbone(Backbone):
    """Dilated ResNet + 3x3 dilation-6 conv (``DilatedResNetFeatureNet``), output ``dff_feat``.

    ``forward`` is the per-frame feature computation (Fig. 2a). For DFF the network is cut at
    the split point of Table 5: :meth:`feature_part` runs on key frames (N_feat), and
    :meth:`task_prefix` starts N_task after propagation. Both share this module's parameters.

    Args:
        net (DilatedResNetFeatureNet): the network.
        out_feature (str): name of the output map. Defaults to "dff_feat".
    """

    def __init__(self, net: DilatedResNetFeatureNet, out_feature: str = "dff_feat"):
        super().__init__()
        self.net = net
        self.out_feature = out_feature
        # not registered as submodules: they share net's parameters (one state_dict entry each)
        self._parts = (net.feature_part(), net.task_prefix())

    @property
    def size_divisibility(self) -> int:
        """Images are padded to multiples of the stride 16, so F's stride-8 output on the
        half-size frames lands exactly on the feature grid."""
        return self.net.stride

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{out_feature: (N, C, H/16, W/16)}`` for normalised images ``(N, 3, H, W)``."""
        return {self.out_feature: self.net(images)}

    def feature_part(self, images: torch.Tensor) -> torch.Tensor:
        """N_feat: images ``(N, 3, H, W)`` -> maps propagated by DFF ``(N, C_split, h, w)``."""
        return self._parts[0](images)

    def task_prefix(self, features: torch.Tensor) -> torch.Tensor:
        """Layers of N moved into N_task (identity at the default split 1)."""
        return self._parts[1](features)

    @property
    def channels_at_split(self) -> int:
        """Channels of the propagated maps (1024 at the default split)."""
        return self.net.channels_at_split

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {self.out_feature: ShapeSpec(channels=self.net.out_channels, stride=self.net.stride)}


@BACKBONE_REGISTRY.register()
def build_dff_resnet_backbone(cfg, input_shape: ShapeSpec) -> DFFResNetBackbone:
    """Build the DFF backbone from ``cfg.MODEL.DFF.FEATURE`` (and ImageNet weights if given).

    Args:
        cfg (CfgNode): config with the DFF keys (``add_dff_config``).
        input_shape (ShapeSpec): input image channels; must be 3.

    Returns:
        DFFResNetBackbone: the backbone.
    """
    if input_shape.channels != 3:
        raise ValueError(f"DFF backbone expects 3-channel images, got {input_shape.channels}")
    feature = cfg.MODEL.DFF.FEATURE
    if feature.NORM not in NORM_LAYERS:
        raise ValueError(
            f"MODEL.DFF.FEATURE.NORM must be one of {sorted(NORM_LAYERS)}, got {feature.NORM!r}"
        )
    net = DilatedResNetFeatureNet(
        depth=feature.DEPTH,
        out_channels=feature.OUT_CHANNELS,
        num_task_layers=cfg.MODEL.DFF.NUM_TASK_LAYERS,
        frozen_stages=feature.FROZEN_STAGES,
        norm_layer=NORM_LAYERS[feature.NORM],
    )
    if feature.WEIGHTS:
        result = load_torchvision_resnet(net, feature.WEIGHTS, prefix="body.")
        logger.info(f"ImageNet weights from {feature.WEIGHTS}: {result}")
    return DFFResNetBackbone(net)
