"""Deep Feature Flow plugin for Detectron2 (ImageNet VID detection with an R-FCN head)."""

from dff_detectron2 import compat

compat.apply()  # before the first detectron2 import: pure-Python detectron2 0.6 needs it

# importing the modules registers the backbone, the R-FCN head, the meta-architecture and the
# ImageNet VID / DET / synthetic datasets
from dff_detectron2.config import add_dff_config  # noqa: E402
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper  # noqa: E402
from dff_detectron2.data.datasets import (  # noqa: E402
    register_coco_video_instances,
    register_imagenet_vid,
)
from dff_detectron2.evaluation.evaluator import VIDEvaluator  # noqa: E402
from dff_detectron2.load import get_dff_cfg, load_model  # noqa: E402
from dff_detectron2.modeling.backbone import DFFResNetBackbone, build_dff_resnet_backbone  # noqa: E402
from dff_detectron2.modeling.meta_arch import DFFRCNN, DFFRetinaNet  # noqa: E402
from dff_detectron2.modeling.rfcn_head import RFCNROIHeads  # noqa: E402

__all__ = [
    "DFFPairDatasetMapper",
    "DFFRCNN",
    "DFFRetinaNet",
    "DFFResNetBackbone",
    "RFCNROIHeads",
    "VIDEvaluator",
    "add_dff_config",
    "build_dff_resnet_backbone",
    "get_dff_cfg",
    "load_model",
    "register_coco_video_instances",
    "register_imagenet_vid",
]
