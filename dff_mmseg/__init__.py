"""Deep Feature Flow plugin for MMSegmentation (Cityscapes semantic segmentation).

Importing it registers its parts in mmseg's registries, so configs load it with
``custom_imports = dict(imports=["dff_mmseg"], allow_failed_imports=False)``.
"""

from dff_common import compat

compat.apply()  # before the first mmseg import: mmcv-lite has no compiled `mmcv._ext`

from .apis import load_model  # noqa: E402
from .checkpoint import AtomicCheckpointHook, DFFRunner  # noqa: E402
from .datasets import CityscapesVideoDataset, LoadVideoFrames  # noqa: E402
from .evaluation import KeyDistanceIoUMetric  # noqa: E402
from .models import DFFSegmentor, DISFlow, VideoSegDataPreProcessor, ZeroFlow  # noqa: E402

__all__ = [
    "AtomicCheckpointHook",
    "CityscapesVideoDataset",
    "DFFRunner",
    "DFFSegmentor",
    "DISFlow",
    "KeyDistanceIoUMetric",
    "LoadVideoFrames",
    "VideoSegDataPreProcessor",
    "ZeroFlow",
    "load_model",
]
