"""ImageNet VID evaluation: mAP overall, by motion speed and by distance to the key frame."""

from .evaluator import VIDEvaluator

__all__ = ["VIDEvaluator"]
