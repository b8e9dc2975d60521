"""Deep Feature Flow plugin for MMSegmentation (Cityscapes semantic segmentation).

Importing it registers its parts in mmseg's registries, so configs load it with
``custom_imports = dict(imports=["dff_mmseg"], allow_failed_imports=False)``.
"""

from dff_mmseg import compat

compat.apply()  # before the first mmseg import: mmcv-lite has no compiled `mmcv._ext`

from .apis import load_model  # noqa: E402
from .checkpoint import AtomicCheckpointHook, DFFRunner  # noqa: E402
from .datasets import CityscapesVideoDataset, LoadVideoFrames, VideoSegDataset  # noqa: E402
from .evaluation import IntervalIoUMetric, KeyDistanceIoUMetric  # noqa: E402
from .models import (  # noqa: E402
    DFFSegmentor,
    DilatedResNet,
    DISFlow,
    FlowNetHalf,
    FlowNetInception,
    FlowNetSimple,
    VideoSegDataPreProcessor,
    ZeroFlow,
)

__all__ = [
    "AtomicCheckpointHook",
    "CityscapesVideoDataset",
    "DFFRunner",
    "DFFSegmentor",
    "DISFlow",
    "DilatedResNet",
    "FlowNetHalf",
    "FlowNetInception",
    "FlowNetSimple",
    "IntervalIoUMetric",
    "KeyDistanceIoUMetric",
    "LoadVideoFrames",
    "VideoSegDataPreProcessor",
    "VideoSegDataset",
    "ZeroFlow",
    "load_model",
]
