"""The flow functions F of Table 3 registered in mmseg's ``MODELS``.

``FlowNetSimple`` (Table 6), ``FlowNetHalf`` (Table 7), ``FlowNetInception`` (Table 8) with the
scale field, and the untrained ``DISFlow`` (SFF) and ``ZeroFlow`` (feature copying) of
``dff_common``. The flow networks take ``init_cfg=dict(type='Pretrained', checkpoint=FILE,
layout='auto', bgr_to_rgb=False, input_short_side=None)``: a flow network pre-trained on Flying
Chairs (Sec. 4), in a layout of ``dff_common.checkpoint.load_flownets``; the scale field is never
loaded, it starts at weights 0, bias 1 (Sec. 3). ``DFFSegmentor`` fills ``input_short_side`` (the
shorter side of the frames F gets) from its data preprocessor's ``size``, and passes
``feat_channels`` (the scale field's channels) to the networks and ``mean`` to ``DISFlow``.
"""

from __future__ import annotations

from mmengine.logging import print_log
from mmseg.registry import MODELS

from dff_common import flow_nets
from dff_common.checkpoint import load_flownets
from dff_common.classical_flow import DISFlow, ZeroFlow

from .pretrained import PretrainedInitMixin

__all__ = ["DISFlow", "FlowNetHalf", "FlowNetInception", "FlowNetSimple", "ZeroFlow"]


class _PretrainedFlowNet(PretrainedInitMixin):
    def load_pretrained(
        self,
        checkpoint: str,
        layout: str = "auto",
        bgr_to_rgb: bool = False,
        input_short_side: int | None = None,
    ):
        """A pre-trained flow network (Sec. 4), scale field excluded (Sec. 3); a warning when
        ``input_short_side`` is much larger than its pre-training pairs (``load_flownets``)."""
        result = load_flownets(
            self,
            checkpoint,
            layout=layout,
            bgr_to_rgb=bgr_to_rgb,
            keep_scale_field=False,
            input_short_side=input_short_side,
        )
        print_log(f"{type(self).__name__}: weights from {checkpoint} ({result})", "current")


@MODELS.register_module()
class FlowNetSimple(_PretrainedFlowNet, flow_nets.FlowNetSimple):
    """FlowNet "Simple" (Table 6), the paper's default flow network."""


@MODELS.register_module()
class FlowNetHalf(_PretrainedFlowNet, flow_nets.FlowNetHalf):
    """FlowNet Half (Table 7)."""


@MODELS.register_module()
class FlowNetInception(_PretrainedFlowNet, flow_nets.FlowNetInception):
    """FlowNet Inception (Table 8)."""


MODELS.register_module(module=DISFlow)
MODELS.register_module(module=ZeroFlow)
