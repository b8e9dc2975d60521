"""Deep Feature Flow plugin for MMSegmentation (Cityscapes semantic segmentation)."""

from dff_common import compat

compat.apply()  # before the first mmseg import: mmcv-lite has no compiled `mmcv._ext`
