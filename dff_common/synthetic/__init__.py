"""Writers of synthetic sets in the real on-disk layouts, with exact ground truth.

``scenes`` renders moving textured scenes; ``chairs`` writes the Flying Chairs layout,
``cityscapes`` the Cityscapes ``leftImg8bit_sequence`` + ``gtFine`` layout and ``vid`` the
ImageNet VID layout from them.
"""

__all__ = ["chairs", "cityscapes", "scenes", "vid"]
