"""Evaluation of video segmentation: mIoU per key-frame distance."""

from .key_distance_iou_metric import KeyDistanceIoUMetric

__all__ = ["KeyDistanceIoUMetric"]
