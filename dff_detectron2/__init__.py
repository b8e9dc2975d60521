"""Deep Feature Flow plugin for Detectron2 (ImageNet VID detection with an R-FCN head)."""

from dff_common import compat

compat.apply()  # before the first detectron2 import: pure-Python detectron2 0.6 needs it
