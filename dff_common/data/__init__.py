"""Video and flow data in their real on-disk layouts, frame pairs, and synthetic sets.

Readers: ``frame_size`` (the largest frame they decode), ``flying_chairs`` (Flying Chairs
layout), ``cityscapes`` (``leftImg8bit_sequence`` + ``gtFine``), ``imagenet_vid`` (ImageNet
VID/DET); ``pairs`` (training/evaluation pairs, Sec. 3 and 5.2). Writers of synthetic sets in
those layouts: ``synthetic_chairs``, ``synthetic_cityscapes``, ``synthetic_vid``, over
``synthetic`` (moving scenes with exact ground truth).
"""

__all__ = [
    "cityscapes",
    "flying_chairs",
    "frame_size",
    "imagenet_vid",
    "pairs",
    "synthetic",
    "synthetic_chairs",
    "synthetic_cityscapes",
    "synthetic_vid",
]
