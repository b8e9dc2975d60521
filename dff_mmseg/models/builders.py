"""Build the parts of the DFF segmentor from config dicts, loading their pre-trained weights.

The parts themselves are ``dff_common``'s (feature network, flow networks, propagation); these
helpers only map mmseg-style config dicts onto them (Sec. 4 of the paper for the defaults).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from mmengine.logging import print_log
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from dff_common.checkpoint import load_flownets, load_torchvision_resnet
from dff_common.classical_flow import CLASSICAL_FLOWS
from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.flow_nets import FLOW_NETS, build_flow_net

__all__ = ["NORM_LAYERS", "build_feature_net", "build_flow_function"]

# Normalisation of the feature network's ResNet: "FrozenBN" as in the original code (ImageNet
# statistics, fixed); "BN"/"GN" only for training from scratch (e.g. the synthetic configs).
NORM_LAYERS = {
    "FrozenBN": FrozenBatchNorm2d,
    "BN": nn.BatchNorm2d,
    "GN": functools.partial(nn.GroupNorm, 32),
}


def build_feature_net(
    depth: int = 101,
    out_channels: int = 1024,
    num_task_layers: int = 1,
    frozen_stages: int = 2,
    norm: str = "FrozenBN",
    pretrained: str | None = None,
) -> DilatedResNetFeatureNet:
    """The dilated ResNet feature network of Sec. 4, with ImageNet weights if given.

    Args:
        depth (int): 50 or 101. Defaults to 101.
        out_channels (int): channels of the 3x3 dilation-6 ``conv_feat``. Defaults to 1024.
        num_task_layers (int): split point of Table 5 (1, 5, 12 or 21; the segmentor maps 0
            to 1 and moves its head). Defaults to 1.
        frozen_stages (int): leading ResNet stages not trained (2: conv1 and res2, as in the
            original code). Defaults to 2.
        norm (str): one of ``NORM_LAYERS``. Defaults to "FrozenBN".
        pretrained (str, optional): torchvision-layout ImageNet ResNet checkpoint.

    Returns:
        DilatedResNetFeatureNet: the network.
    """
    if norm not in NORM_LAYERS:
        raise ValueError(f"unknown feature-net norm {norm!r}; use one of {sorted(NORM_LAYERS)}")
    net = DilatedResNetFeatureNet(
        depth=depth,
        out_channels=out_channels,
        num_task_layers=num_task_layers,
        frozen_stages=frozen_stages,
        norm_layer=NORM_LAYERS[norm],
    )
    if pretrained:
        try:
            result = load_torchvision_resnet(net, pretrained, prefix="body.")
        except ValueError as err:  # name the file: the message may only name keys
            raise ValueError(f"feature_net.pretrained={pretrained}: {err}") from err
        print_log(f"feature net: ImageNet weights from {pretrained} ({result})", "current")
    return net


def build_flow_function(
    name: str,
    feat_channels: int,
    mean: Sequence[float],
    checkpoint: str | None = None,
    layout: str = "auto",
    bgr_to_rgb: bool = False,
    **kwargs,
) -> nn.Module:
    """The flow function F: a flow network of ``dff_common`` or a classical flow.

    Args:
        name (str): a flow network of ``dff_common.flow_nets.FLOW_NETS`` ("flownet",
            "flownet_half", "flownet_inception"), or "dis" (SFF) or "zero" (feature copying).
        feat_channels (int): channels of the propagated features (the scale field's).
        mean (Sequence[float]): RGB mean of the frames (for "dis", which needs pixel values).
        checkpoint (str, optional): pre-trained flow network (Flying Chairs, Sec. 4), in a
            layout of ``dff_common.checkpoint.load_flownets``. The scale field is always new
            (Sec. 3: weights 0, bias 1): its entries in the checkpoint are not loaded.
        layout (str): checkpoint layout. Defaults to "auto".
        bgr_to_rgb (bool): see ``load_flownets``. Defaults to False.
        **kwargs: passed to the network (``norm``, ``flow_factor``, DIS ``preset``).

    Returns:
        nn.Module: ``flow, scale = F(key, cur)`` (``scale`` None for classical flows).
    """
    if name in CLASSICAL_FLOWS:
        if checkpoint:
            raise ValueError(f"flow {name!r} has no weights, but a checkpoint was given")
        extra = {"mean": tuple(mean)} if name == "dis" else {}
        return CLASSICAL_FLOWS[name](**extra, **kwargs)
    if name not in FLOW_NETS:
        raise ValueError(
            f"unknown flow {name!r}; use one of {sorted(FLOW_NETS) + sorted(CLASSICAL_FLOWS)}"
        )
    net = build_flow_net(name, feat_channels=feat_channels, **kwargs)
    if checkpoint:
        try:
            result = load_flownets(
                net, checkpoint, layout=layout, bgr_to_rgb=bgr_to_rgb, keep_scale_field=False
            )
        except ValueError as err:  # name the file: the message may only name keys
            raise ValueError(f"flow_net.checkpoint={checkpoint}: {err}") from err
        print_log(f"flow net: weights from {checkpoint} ({result})", "current")
    return net
