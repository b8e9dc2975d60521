"""Pipeline transforms for frame pairs and clips."""

from .load_video_frames import LoadVideoFrames

__all__ = ["LoadVideoFrames"]
