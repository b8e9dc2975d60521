"""Deep Feature Flow plugin for Detectron2 (ImageNet VID detection with an R-FCN head)."""

from dff_common import compat

compat.apply()  # before the first detectron2 import: pure-Python detectron2 0.6 needs it

from dff_detectron2 import backbone, meta_arch, rfcn_head  # noqa: E402, F401  (registration)
from dff_detectron2.config import add_dff_config  # noqa: E402

__all__ = ["add_dff_config"]
