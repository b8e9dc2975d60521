"""The flow functions F of Algorithm 1 (Table 3): flow networks and hand-crafted flows.

- ``FlowNetSimple``, ``FlowNetHalf``, ``FlowNetInception``: the flow networks of Sec. 4
  (Tables 6-8) with the scale field S, trained end to end in DFF (``dff_common.flow_nets``);
- ``DISFlow``: shallow feature flow (SFF), a hand-crafted flow with S = 1 (OpenCV DIS in the
  role of the paper's SIFT-Flow, ``dff_common.classical_flow``);
- ``ZeroFlow``: feature copying, zero flow and S = 1.

Every flow function maps ``(key, cur)`` frames at the flow network's input resolution to
``(flow, scale)``: flow ``(N, 2, h, w)`` in feature-map pixels pointing from the current frame
into the key frame, scale ``(N, C, h, w)`` or None. The plugins register these classes under
their names (mmseg ``MODELS``, detectron2 ``DFF_FLOW_FUNCTION_REGISTRY``) and build them with
:func:`accepted_arguments`: each class takes what it needs of what the model offers
(``feat_channels`` for the scale field, ``mean`` for DIS).
"""

import inspect
from collections.abc import Mapping

from dff_common.classical_flow import DISFlow, ZeroFlow
from dff_common.flow_nets import FLOW_NETS

__all__ = ["FLOW_FUNCTIONS", "accepted_arguments", "build_flow_function"]

FLOW_FUNCTIONS = {cls.__name__: cls for cls in (*FLOW_NETS.values(), DISFlow, ZeroFlow)}


def accepted_arguments(cls: type, offered: Mapping) -> dict:
    """The entries of ``offered`` that ``cls`` (an ``__init__`` of it or of a base) takes."""
    names = {
        name
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        for name in inspect.signature(klass.__init__).parameters
    }
    return {key: value for key, value in offered.items() if key in names}


def build_flow_function(name: str, offered: Mapping | None = None, **kwargs):
    """Build the flow function F of class ``name`` (one of ``FLOW_FUNCTIONS``).

    Args:
        name (str): class name, e.g. ``"FlowNetSimple"`` or ``"DISFlow"``.
        offered (Mapping, optional): arguments passed where the class takes them, e.g.
            ``feat_channels`` (scale-field channels) and ``mean`` (pixel mean for DIS).
        **kwargs: the class's own arguments (``norm``, ``flow_factor``, ``preset``, ...).

    Returns:
        nn.Module: ``flow, scale = F(key, cur)``.

    Raises:
        ValueError: for an unknown name, naming the valid ones.
    """
    if name not in FLOW_FUNCTIONS:
        raise ValueError(
            f"unknown flow function {name!r}; valid names: {', '.join(FLOW_FUNCTIONS)}"
        )
    cls = FLOW_FUNCTIONS[name]
    return cls(**accepted_arguments(cls, offered or {}), **kwargs)
