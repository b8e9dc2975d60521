"""The flow function F of Algorithm 1 by name: a flow network or a hand-crafted flow (Table 3).

- ``"flownet"``, ``"flownet_half"``, ``"flownet_inception"``: the flow networks of Sec. 4
  (Tables 6-8) with the scale field S, trained end to end in DFF (``dff_common.flow_nets``);
- ``"dis"``: shallow feature flow (SFF), a hand-crafted flow with S = 1 (OpenCV DIS in the
  role of the paper's SIFT-Flow, ``dff_common.classical_flow.DISFlow``);
- ``"zero"``: feature copying, zero flow and S = 1 (``dff_common.classical_flow.ZeroFlow``).

Every flow function maps ``(key, cur)`` frames at the flow network's input resolution to
``(flow, scale)``: flow ``(N, 2, h, w)`` in feature-map pixels pointing from the current frame
into the key frame, scale ``(N, C, h, w)`` or None.
"""

from torch import nn

from dff_common.classical_flow import CLASSICAL_FLOWS
from dff_common.flow_nets import FLOW_NETS

__all__ = ["FLOW_FUNCTIONS", "build_flow_function", "is_flow_network"]

FLOW_FUNCTIONS = {**FLOW_NETS, **CLASSICAL_FLOWS}


def is_flow_network(name: str) -> bool:
    """True for a trainable flow network (with a scale field), False for a hand-crafted flow."""
    return name in FLOW_NETS


def build_flow_function(name: str, feat_channels: int = 1024, **kwargs) -> nn.Module:
    """Build the flow function F called ``name``.

    Args:
        name (str): one of ``FLOW_FUNCTIONS`` (module docstring).
        feat_channels (int): channels C of the scale field of a flow network (those of the
            propagated feature maps); unused by hand-crafted flows. Defaults to 1024.
        **kwargs: the flow function's own arguments: ``norm``, ``flow_factor`` for networks;
            ``preset``, ``mean``, ``input_std`` for ``"dis"``.

    Returns:
        nn.Module: ``flow, scale = F(key, cur)``.

    Raises:
        ValueError: for an unknown name, naming the valid ones.
    """
    if name not in FLOW_FUNCTIONS:
        raise ValueError(
            f"unknown flow function {name!r}; valid names: {', '.join(FLOW_FUNCTIONS)}"
        )
    if is_flow_network(name):
        kwargs["feat_channels"] = feat_channels
    return FLOW_FUNCTIONS[name](**kwargs)
