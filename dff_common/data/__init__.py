"""Video and flow data in their real on-disk layouts, and frame pairs.

Readers: ``frame_size`` (the largest frame they decode), ``flying_chairs`` (Flying Chairs
layout), ``cityscapes`` (``leftImg8bit_sequence`` + ``gtFine``), ``imagenet_vid`` (ImageNet
VID/DET); ``pairs`` (training/evaluation pairs, Sec. 3 and 5.2). Synthetic sets in these
layouts are written by :mod:`dff_common.synthetic`.
"""

__all__ = ["cityscapes", "flying_chairs", "frame_size", "imagenet_vid", "pairs"]
