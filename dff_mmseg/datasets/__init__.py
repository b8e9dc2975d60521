"""Cityscapes video dataset and its transforms."""

from .cityscapes_video import CityscapesVideoDataset
from .transforms import LoadVideoFrames

__all__ = ["CityscapesVideoDataset", "LoadVideoFrames"]
