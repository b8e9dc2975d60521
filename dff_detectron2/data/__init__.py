"""Frame-pair training data and video test data for detectron2: datasets, mapper, loaders."""

from .data_loader import build_dff_test_loader, build_dff_train_loader
from .dataset_mapper import DFFPairDatasetMapper
from .datasets import register_coco_video_instances, register_imagenet_vid

__all__ = [
    "DFFPairDatasetMapper",
    "build_dff_test_loader",
    "build_dff_train_loader",
    "register_coco_video_instances",
    "register_imagenet_vid",
]
