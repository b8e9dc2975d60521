"""Video segmentation datasets (any video folders; Cityscapes sequences) and their transforms."""

from .cityscapes_video import CityscapesVideoDataset
from .transforms import LoadVideoFrames
from .video_seg import VideoSegDataset

__all__ = ["CityscapesVideoDataset", "LoadVideoFrames", "VideoSegDataset"]
