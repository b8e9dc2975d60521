"""Deep Feature Flow core (Zhu et al., CVPR 2017), framework-free: torch and torchvision only.

The public names below are the stable API (docs/ARCHITECTURE.md); the plugins
``dff_detectron2`` and ``dff_mmseg`` adapt them to their frameworks.
"""

from .complexity import PartCosts, cost_ratio, count_flops, speedup, table2
from .engine import DFFInferenceEngine, FrameOutput, StepOutput
from .feature_net import DilatedResNetFeatureNet
from .flow_nets import FLOW_NETS, FlowNetInception, FlowNetSimple, build_flow_net
from .propagation import FeaturePropagation, resize_flow
from .scheduler import (
    AdaptiveScheduler,
    FixedIntervalScheduler,
    KeyFrameScheduler,
    build_scheduler,
)
from .timing import Timer
from .warp import FeatureWarp, warp

__all__ = [
    "FLOW_NETS",
    "AdaptiveScheduler",
    "DFFInferenceEngine",
    "DilatedResNetFeatureNet",
    "FeaturePropagation",
    "FeatureWarp",
    "FixedIntervalScheduler",
    "FlowNetInception",
    "FlowNetSimple",
    "FrameOutput",
    "KeyFrameScheduler",
    "PartCosts",
    "StepOutput",
    "Timer",
    "build_flow_net",
    "build_scheduler",
    "cost_ratio",
    "count_flops",
    "resize_flow",
    "speedup",
    "table2",
    "warp",
]
