"""Video and flow data in their real on-disk layouts, frame pairs, and synthetic generators.

Modules: ``pairs`` (training/evaluation pairs, Sec. 3 and 5.2), ``synthetic`` (moving scenes
with exact ground truth), ``flying_chairs`` (Flying Chairs layout), ``cityscapes``
(``leftImg8bit_sequence`` + ``gtFine``), ``imagenet_vid`` (ImageNet VID/DET).
"""

__all__ = ["cityscapes", "flying_chairs", "imagenet_vid", "pairs", "synthetic"]
