"""The flow function F of the config and the propagation module F + S + W built from it.

``DFF_FLOW_FUNCTION_REGISTRY`` holds the flow functions of Table 3 under their class names
(``dff_common.flow_functions``): the flow networks of Sec. 4 with their scale field, trained
end to end (DFF); ``DISFlow``, a hand-crafted flow with S = 1 (SFF, Sec. 3: "any flow function
F ... is readily applicable"); ``ZeroFlow``, feature copying (the Clockwork-style reuse, Sec. 2).
A project registers its own flow function class there and names it in
``MODEL.DFF.FLOW.NAME``. Initial flow weights come with ``MODEL.WEIGHTS``
(``tools/convert_weights.py``), never while building.
"""

from collections.abc import Sequence

from detectron2.utils.registry import Registry

from dff_common.flow_functions import FLOW_FUNCTIONS, accepted_arguments
from dff_common.norm import freeze_batchnorm
from dff_common.propagation import FeaturePropagation

__all__ = ["DFF_FLOW_FUNCTION_REGISTRY", "build_flow_function", "build_propagation"]

DFF_FLOW_FUNCTION_REGISTRY = Registry("DFF_FLOW_FUNCTION")
DFF_FLOW_FUNCTION_REGISTRY.__doc__ = """
Flow functions F of DFF. A registered class is called with the arguments it takes among
``feat_channels`` (channels of its scale field), ``norm``, ``flow_factor``, ``mean``,
``input_std``, ``preset`` and ``channel_order`` (from ``MODEL.DFF.FLOW``, ``MODEL.PIXEL_MEAN`` and
``INPUT.FORMAT``); its module maps ``(key, cur)`` frames ``(N, 3, h, w)``, normalised
``(colour - mean) / INPUT_STD`` in the channel order of ``INPUT.FORMAT``, to
``(flow (N, 2, h', w') in pixels of its grid, scale (N, C, h', w') or None)``.
"""
for _cls in FLOW_FUNCTIONS.values():
    DFF_FLOW_FUNCTION_REGISTRY.register(_cls)


def build_flow_function(cfg, feat_channels: int):
    """The flow function ``cfg.MODEL.DFF.FLOW.NAME``, its BatchNorm (if any) frozen.

    Args:
        cfg (CfgNode): config with the DFF keys.
        feat_channels (int): channels of the propagated maps (the scale field's).

    Returns:
        nn.Module: ``flow, scale = F(key, cur)``.
    """
    flow = cfg.MODEL.DFF.FLOW
    cls = DFF_FLOW_FUNCTION_REGISTRY.get(flow.NAME)
    takes = accepted_arguments(cls, {"channel_order": None})
    if takes and cfg.INPUT.FORMAT not in ("RGB", "BGR"):
        raise ValueError(
            f"INPUT.FORMAT must be 'RGB' or 'BGR' for {flow.NAME}, got {cfg.INPUT.FORMAT!r}"
        )
    offered = dict(
        feat_channels=feat_channels,
        norm=flow.NORM or None,
        flow_factor=flow.FLOW_FACTOR,
        mean=tuple(cfg.MODEL.PIXEL_MEAN),
        input_std=flow.INPUT_STD,
        preset=flow.DIS_PRESET,
        channel_order=cfg.INPUT.FORMAT,
    )
    # statistics of a BN flow net stay those of its pre-training (mini-batches of 1-2 pairs)
    return freeze_batchnorm(cls(**accepted_arguments(cls, offered)))


def build_propagation(cfg, level_channels: Sequence[int]) -> FeaturePropagation | None:
    """The propagation F + S + W of ``cfg.MODEL.DFF.MODE`` (None for "frame").

    Args:
        cfg (CfgNode): config with the DFF keys.
        level_channels (Sequence[int]): channels of each propagated feature level, in the
            order of the backbone's features (the layout of the scale field's channels).

    Returns:
        FeaturePropagation | None: the module.
    """
    mode = cfg.MODEL.DFF.MODE
    if mode == "frame":
        return None
    if mode != "dff":
        raise ValueError(f"MODEL.DFF.MODE must be 'dff' or 'frame', got {mode!r}")
    flow_net = build_flow_function(cfg, sum(level_channels))
    learned = any(p.requires_grad for p in flow_net.parameters())
    return FeaturePropagation(
        flow_net,
        flow_input_scale=cfg.MODEL.DFF.FLOW.INPUT_SCALE,
        image_std=cfg.MODEL.PIXEL_STD,
        flow_input_std=cfg.MODEL.DFF.FLOW.INPUT_STD,
        use_scale=cfg.MODEL.DFF.FLOW.USE_SCALE and learned,  # S = 1 for hand-crafted flows
        level_channels=level_channels,
    )
