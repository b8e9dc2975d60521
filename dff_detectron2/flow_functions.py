"""Flow functions F of the Table 3 variants and the propagation module built from the config.

- DFF: a flow network of ``dff_common.flow_nets`` started from a pre-trained checkpoint
  (Flying Chairs in the paper, Sec. 4) with the scale field added, trained end to end.
- SFF, "shallow feature flow": a hand-crafted flow with no training and S = 1 (Sec. 3: "any
  flow function F ... is readily applicable"): ``dff_common.classical_flow.DISFlow``, whose
  presets play the paper's SIFT-Flow fast / slow roles.
- Copy: zero flow and no scale (``dff_common.classical_flow.ZeroFlow``), so W copies the key
  frame's features unchanged (the Clockwork-style feature reuse, Sec. 2).
"""

import logging

from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from dff_common.checkpoint import load_flownets
from dff_common.classical_flow import DISFlow, ZeroFlow
from dff_common.flow_nets import build_flow_net
from dff_common.propagation import FeaturePropagation

__all__ = ["build_propagation", "freeze_batchnorm"]

logger = logging.getLogger(__name__)


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` by torchvision's ``FrozenBatchNorm2d`` with its values.

    torchvision's frozen norm, not detectron2's: the latter resets the running statistics to
    0 / 1 when a checkpoint without them is loaded (its old-version path), which wipes the
    pre-trained flow network's statistics as soon as DFF starts from a Frame checkpoint.

    Returns:
        nn.Module: ``module`` (converted in place) or its replacement when it is a BatchNorm.
    """
    if isinstance(module, nn.BatchNorm2d):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(frozen, name).copy_(getattr(module, name).detach())
        return frozen
    for name, child in module.named_children():
        setattr(module, name, freeze_batchnorm(child))
    return module


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
            dff.FLOW.NAME,
            feat_channels=feat_channels,
            norm=dff.FLOW.NORM or None,
            flow_factor=dff.FLOW.FLOW_FACTOR,
        )
        if dff.FLOW.WEIGHTS:  # pre-trained F; its scale field is added anew (Sec. 3)
            result = load_flownets(
                flow_net, dff.FLOW.WEIGHTS, dff.FLOW.WEIGHTS_LAYOUT, keep_scale_field=False
            )
            logger.info(f"flow weights from {dff.FLOW.WEIGHTS}: {result}")
        # statistics of a BN flow net stay those of its pre-training (small batches here)
        flow_net = freeze_batchnorm(flow_net)
    elif mode == "sff":
        flow_net = DISFlow(
            dff.FLOW.SFF_PRESET, mean=cfg.MODEL.PIXEL_MEAN, input_std=dff.FLOW.INPUT_STD
        )
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
