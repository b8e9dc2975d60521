"""Videos as folders of frames, with label images on any subset of the frames.

Layout (mmseg's ``img_path`` / ``seg_map_path`` prefixes and suffixes)::

    <frames>/<video>/<name><img_suffix>          every frame, in natural name order
    <labels>/<video>/<name><seg_map_suffix>      the label of frame <name>, where there is one

:func:`list_labelled_frames` gives one :class:`VideoFrame` per labelled frame, with the
interface of :class:`dff_common.data.cityscapes.AnnotatedFrame` (``name``, ``frame``,
``snippet``, ``frame_path``, ``label_path``), so the same pairing code serves both layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from dff_common.video_io import natural_key

__all__ = ["VideoFrame", "list_labelled_frames"]


@dataclass(frozen=True)
class VideoFrame:
    """A labelled frame of a video folder.

    Attributes:
        video (str): the video's folder name.
        frames (tuple[Path, ...]): the video's frame files, in order.
        frame (int): the labelled frame's position in ``frames``.
        label_path (Path): its label image.
    """

    video: str
    frames: tuple
    frame: int
    label_path: Path

    @property
    def name(self) -> str:
        """``<video>/<frame file name>``."""
        return f"{self.video}/{self.frames[self.frame].name}"

    @property
    def snippet(self) -> range:
        """Positions of the video's frames, ``0 .. len(frames) - 1``."""
        return range(len(self.frames))

    def frame_path(self, frame: int) -> Path:
        """File of the frame at position ``frame``."""
        return self.frames[frame]


def _size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:  # the header only
            return image.size
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err


def list_labelled_frames(
    frames_root: str | Path,
    labels_root: str | Path,
    img_suffix: str = ".png",
    seg_map_suffix: str = ".png",
) -> list[VideoFrame]:
    """The labelled frames of every video folder under ``frames_root``, by video then frame.

    Raises:
        FileNotFoundError: a missing root, a video folder without frames, a label without its
            frame, or a set without any label.
        ValueError: a video of one frame, or a label whose size differs from its frame's
            (naming both files).
    """
    frames_root, labels_root = Path(frames_root), Path(labels_root)
    for what, root in (("frames", frames_root), ("labels", labels_root)):
        if not root.is_dir():
            raise FileNotFoundError(f"{what} folder {root} does not exist")
    videos = sorted(
        (p for p in frames_root.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)
    )
    if not videos:
        raise FileNotFoundError(
            f"{frames_root} holds no video folder (<frames>/<video>/*{img_suffix})"
        )
    labelled = []
    for folder in videos:
        frames = sorted(folder.glob(f"*{img_suffix}"), key=lambda p: natural_key(p.name))
        if not frames:
            raise FileNotFoundError(f"video folder {folder} holds no *{img_suffix} frame")
        if len(frames) < 2:
            raise ValueError(f"video {folder} has 1 frame ({frames[0].name}); DFF needs 2 or more")
        position = {p.name[: -len(img_suffix)]: i for i, p in enumerate(frames)}
        for label in sorted((labels_root / folder.name).glob(f"*{seg_map_suffix}")):
            stem = label.name[: -len(seg_map_suffix)]
            if stem not in position:
                raise FileNotFoundError(
                    f"{label}: label of no frame (no {folder / (stem + img_suffix)})"
                )
            frame = frames[position[stem]]
            if _size(label) != _size(frame):
                raise ValueError(
                    f"{label}: label is {'x'.join(map(str, _size(label)))} (width x height) but "
                    f"its frame {frame} is {'x'.join(map(str, _size(frame)))}"
                )
            labelled.append(VideoFrame(folder.name, tuple(frames), position[stem], label))
    if not labelled:
        raise FileNotFoundError(
            f"no label under {labels_root} (<labels>/<video>/<frame name>{seg_map_suffix})"
        )
    return sorted(labelled, key=lambda a: (natural_key(a.video), a.frame))
