"""The DFF feature network N_feat as a detectron2 backbone (Zhu et al., CVPR 2017, Sec. 4)."""

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.norm import NORM_LAYERS

__all__ = ["DFFResNetBackbone", "build_dff_resnet_backbone"]


class DFFResNetBackbone(Backbone):
    """Dilated ResNet + 3x3 dilation-6 conv (``DilatedResNetFeatureNet``) for R-FCN (Sec. 4).

    ``forward`` is the per-frame feature computation (Fig. 2a): the 1024-d maps split into the
    RPN's half (``dff_rpn``) and the R-FCN's half (``dff_rfcn``). For DFF the network is cut at
    the split point of Table 5: :meth:`feature_part` runs on key frames (N_feat) and gives the
    propagated map, :meth:`task_prefix` starts N_task after propagation (the moved layers,
    then the split in halves). Both share this module's parameters.

    Args:
        net (DilatedResNetFeatureNet): the network.
        out_features (tuple[str, str]): names of the RPN's and the R-FCN's halves.
    """

    propagated = "dff_feat"  # name of the propagated map

    def __init__(self, net: DilatedResNetFeatureNet, out_features=("dff_rpn", "dff_rfcn")):
        super().__init__()
        if net.out_channels % 2:
            raise ValueError(f"the 1024-d maps must split in two halves, got {net.out_channels}")
        self.net = net
        self.out_features = tuple(out_features)
        # not registered as submodules: they share net's parameters (one state_dict entry each)
        self._parts = (net.feature_part(), net.task_prefix())

    @property
    def size_divisibility(self) -> int:
        """Images are padded to multiples of the stride 16, so F's stride-8 output on the
        half-size frames lands exactly on the feature grid."""
        return self.net.stride

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The halves ``(N, C/2, H/16, W/16)`` for normalised images ``(N, 3, H, W)``."""
        return self.task_prefix(self.feature_part(images))

    def feature_part(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """N_feat: images -> ``{"dff_feat": (N, C_split, h, w)}``, the map DFF propagates."""
        return {self.propagated: self._parts[0](images)}

    def task_prefix(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Layers of N moved into N_task (none at the default split 1), then the halves."""
        halves = self._parts[1](features[self.propagated]).chunk(2, dim=1)
        return dict(zip(self.out_features, halves))

    @property
    def channels_at_split(self) -> int:
        """Channels of the propagated maps (1024 at the default split)."""
        return self.net.channels_at_split

    def output_shape(self) -> dict[str, ShapeSpec]:
        half = ShapeSpec(channels=self.net.out_channels // 2, stride=self.net.stride)
        return dict.fromkeys(self.out_features, half)


@BACKBONE_REGISTRY.register()
def build_dff_resnet_backbone(cfg, input_shape: ShapeSpec) -> DFFResNetBackbone:
    """Build the DFF backbone from ``cfg.MODEL.DFF.FEATURE`` (random weights: ImageNet ones
    come with ``MODEL.WEIGHTS``, see ``tools/convert_weights.py``).

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
    return DFFResNetBackbone(net)
