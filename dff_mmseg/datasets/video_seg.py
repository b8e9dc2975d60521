"""Videos with labels on some frames as frame pairs (DFF Sec. 3 training, Sec. 5.2 evaluation)."""

from __future__ import annotations

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from dff_common.data.cityscapes import check_frames_exist
from dff_common.data.pairs import evaluation_pairs, sample_key_index
from dff_common.data.video_folders import list_labelled_frames
from dff_common.scheduler import check_interval

__all__ = ["MODES", "VideoSegDataset"]

MODES = ("pairs", "stream")


@DATASETS.register_module()
class VideoSegDataset(BaseSegDataset):
    """Labelled video frames with their key frames: one folder of frames per video under
    ``data_prefix["img_path"]``, labels for any subset of them under
    ``data_prefix["seg_map_path"]`` (``<video>/<frame name><seg_map_suffix>``;
    ``dff_common.data.video_folders``), with mmseg's ``img_suffix``, ``seg_map_suffix``,
    ``reduce_zero_label`` and ``metainfo`` (classes, palette).

    Each item names its frames in ``frame_paths`` (time order, the labelled current frame
    ``i`` last), which :class:`~dff_mmseg.datasets.transforms.LoadVideoFrames` reads:

    - ``mode="pairs"``, training (``test_mode=False``): one item per labelled frame; the key
      frame ``k = i + offset``, ``offset ~ U{-(l-1), ..., 0}``, is drawn anew each time the item
      is read (Sec. 3), ``frame_paths = [I_k, I_i]``.
    - ``mode="pairs"``, evaluation: the ``l`` pairs ``(k, i)``, ``k = i-l+1 .. i``, of every
      labelled frame (Sec. 5.2), or those at ``key_distances`` only (e.g. ``(19 % l,)``, the
      distance Algorithm 1 gives the frame when key frames start at frame 0).
    - ``mode="stream"`` (evaluation): one item per labelled frame holding its video's frames
      from the first up to ``i``, for running Algorithm 1 through them.

    Every item carries ``key_distance = i - k`` (-1 in stream mode: the model decides),
    ``video_id`` and ``frame_indices`` (positions of ``frame_paths`` in the video). Frames that
    will be read are checked on loading; a missing one is an error naming it.

    Args:
        interval (int): key frame duration length ``l``. Defaults to 5.
        mode (str): "pairs" or "stream". Defaults to "pairs".
        key_distances (Sequence[int], optional): evaluation pairs to keep, as ``i - k`` values
            in ``[0, l)``. Defaults to None (all ``l``).
        **kwargs: ``data_root``, ``data_prefix``, ``img_suffix``, ``seg_map_suffix``,
            ``metainfo``, ``reduce_zero_label``, ``pipeline``, ``test_mode``, ... of
            ``BaseSegDataset``.
    """

    def __init__(self, interval: int = 5, mode: str = "pairs", key_distances=None, **kwargs):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "stream" and not kwargs.get("test_mode", False):
            raise ValueError("mode='stream' is for evaluation: set test_mode=True")
        self.interval = check_interval(interval, "interval")
        self.mode = mode
        if key_distances is not None:
            key_distances = tuple(int(d) for d in key_distances)
            bad = [d for d in key_distances if not 0 <= d < self.interval]
            if bad:
                raise ValueError(f"key_distances {bad} outside [0, l={self.interval})")
        self.key_distances = key_distances
        super().__init__(**kwargs)

    def annotated_frames(self) -> list:
        """The labelled frames (``dff_common.data.video_folders.list_labelled_frames``)."""
        return list_labelled_frames(
            self.data_prefix["img_path"], self.data_prefix["seg_map_path"], self.img_suffix,
            self.seg_map_suffix,
        )  # fmt: skip

    def load_data_list(self) -> list[dict]:
        """One dict per item (see the class docstring), in the order of :meth:`annotated_frames`."""
        data_list = []
        for annotated in self.annotated_frames():
            i, first = annotated.frame, annotated.snippet.start
            base = dict(
                video_id=annotated.name,
                img_path=str(annotated.frame_path(i)),
                seg_map_path=str(annotated.label_path) if annotated.label_path else None,
                label_map=self.label_map,
                num_classes=len(self.metainfo["classes"]),
                ignore_index=self.ignore_index,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[],
                frame=i,
                snippet_start=first,
            )
            if self.mode == "stream":
                frames = list(range(first, i + 1))
                check_frames_exist(annotated, frames)
                data_list.append(self._item(base, annotated, frames, key_distance=-1))
            elif not self.test_mode:
                candidates = list(range(max(first, i - self.interval + 1), i + 1))
                check_frames_exist(annotated, candidates)
                paths = {k: str(annotated.frame_path(k)) for k in candidates}
                data_list.append(dict(base, key_candidates=paths))
            else:
                for k, _ in evaluation_pairs(i, self.interval, first_index=first):
                    if self.key_distances is None or i - k in self.key_distances:
                        check_frames_exist(annotated, (k, i))
                        data_list.append(self._item(base, annotated, [k, i], key_distance=i - k))
        return data_list

    @staticmethod
    def _item(base: dict, annotated, frames: list[int], key_distance: int) -> dict:
        return dict(
            base,
            frame_paths=[str(annotated.frame_path(f)) for f in frames],
            frame_indices=[f - annotated.snippet.start for f in frames],
            key_distance=key_distance,
        )

    def get_data_info(self, idx: int) -> dict:
        """The item ``idx``; in training its key frame is drawn here (Sec. 3)."""
        info = super().get_data_info(idx)
        candidates = info.pop("key_candidates", None)
        if candidates is not None:
            i = info["frame"]
            k = sample_key_index(i, self.interval, available=list(candidates))
            info.update(
                frame_paths=[candidates[k], candidates[i]],
                frame_indices=[k - info["snippet_start"], i - info["snippet_start"]],
                key_distance=i - k,
            )
        return info
