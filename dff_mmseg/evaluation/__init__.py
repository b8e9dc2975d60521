"""Evaluation of video segmentation: mIoU per key-frame distance and per key frame interval."""

from .interval_iou_metric import IntervalIoUMetric, interval_miou
from .key_distance_iou_metric import KeyDistanceIoUMetric

__all__ = ["IntervalIoUMetric", "KeyDistanceIoUMetric", "interval_miou"]
