"""Cityscapes video snippets as frame pairs: :class:`VideoSegDataset` on the Cityscapes layout."""

from __future__ import annotations

from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from dff_common.data.cityscapes import list_annotated_frames

from .video_seg import VideoSegDataset

__all__ = ["CityscapesVideoDataset"]


@DATASETS.register_module()
class CityscapesVideoDataset(VideoSegDataset):
    """:class:`VideoSegDataset` over the Cityscapes layout: the annotated frames of
    ``gtFine/{split}`` with their 30-frame snippets of ``leftImg8bit_sequence/{split}``
    (``dff_common.data.cityscapes``); ``video_id`` is the Cityscapes image id of the snippet.
    Classes, palette and the ignore index 255 are mmseg's ``CityscapesDataset``'s (19 train
    ids, labels ``*_gtFine_labelTrainIds.png``).

    Args:
        split (str): "train", "val" or "test".
        with_labels (bool): read ``gtFine`` labels; False for the test split (annotated frames
            are then listed from ``leftImg8bit/{split}``). Defaults to True.
        **kwargs: ``interval`` (default 5, Cityscapes, Sec. 5.2), ``mode``, ``key_distances``
            of :class:`VideoSegDataset`; ``data_root``, ``pipeline``, ``test_mode``, ... of
            ``BaseSegDataset``.
    """

    METAINFO = CityscapesDataset.METAINFO

    def __init__(self, split: str, with_labels: bool = True, **kwargs) -> None:
        if kwargs.get("reduce_zero_label", False):
            raise ValueError("Cityscapes train ids use 255 as ignore: reduce_zero_label must be False")
        self.split = split
        self.with_labels = with_labels
        super().__init__(
            img_suffix="_leftImg8bit.png", seg_map_suffix="_gtFine_labelTrainIds.png", **kwargs
        )

    def annotated_frames(self) -> list:
        """The annotated frames of ``split``, by city, sequence, frame."""
        return list_annotated_frames(self.data_root, self.split, self.with_labels)
