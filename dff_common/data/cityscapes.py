"""The Cityscapes video layout (Cordts et al., CVPR 2016), as used in DFF Sec. 5.1.

Each of the 2975 train / 500 val / 1525 test *snippets* has 30 frames at 17 fps, and its 20th
frame (index 19 within the snippet) is annotated. On disk (the official zip files)::

    {root}/leftImg8bit_sequence/{split}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png
    {root}/leftImg8bit/{split}/{city}/{city}_{seq:06d}_{frame:06d}_leftImg8bit.png  (annotated)
    {root}/gtFine/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelIds.png
    {root}/gtFine/{split}/{city}/{city}_{seq:06d}_{frame:06d}_gtFine_labelTrainIds.png

``*_labelTrainIds.png`` (19 train ids, 255 ignored) are what mmseg's ``CityscapesDataset``
reads; cityscapesscripts' ``createTrainIdLabelImgs`` makes them from ``*_labelIds.png``. The
snippet of the annotated frame ``f`` of sequence ``seq`` is frames ``f - 19 .. f + 10`` of that
sequence (a val sequence holds several snippets, e.g. frankfurt_000000_000294 and _000576).

:func:`dff_common.data.synthetic_cityscapes.make_synthetic_cityscapes` writes a small synthetic
set in exactly this layout, for tests and demos.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dff_common.data.frame_size import check_image_file

__all__ = [
    "ANNOTATED_INDEX",
    "SNIPPET_LENGTH",
    "AnnotatedFrame",
    "check_frames_exist",
    "frame_path",
    "list_annotated_frames",
    "read_image",
    "read_label",
]

SNIPPET_LENGTH = 30
ANNOTATED_INDEX = 19  # the 20th frame of a snippet is annotated

_NAME = re.compile(r"^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})_(?P<kind>.+)\.png$")


def frame_path(root: str | Path, split: str, city: str, sequence: int, frame: int) -> Path:
    """Path of frame ``frame`` of sequence ``sequence`` in ``leftImg8bit_sequence``."""
    name = f"{city}_{sequence:06d}_{frame:06d}_leftImg8bit.png"
    return Path(root) / "leftImg8bit_sequence" / split / city / name


@dataclass(frozen=True)
class AnnotatedFrame:
    """One annotated frame and its 30-frame snippet.

    Attributes:
        root (Path): dataset root.
        split (str): "train", "val" or "test".
        city (str): city name, e.g. "frankfurt".
        sequence (int): sequence number within the city.
        frame (int): frame number of the annotated frame within the sequence.
        label_path (Path | None): ``*_gtFine_labelTrainIds.png``, None without labels.
    """

    root: Path
    split: str
    city: str
    sequence: int
    frame: int
    label_path: Path | None

    @property
    def name(self) -> str:
        """``{city}_{seq:06d}_{frame:06d}``, the Cityscapes image id."""
        return f"{self.city}_{self.sequence:06d}_{self.frame:06d}"

    @property
    def snippet(self) -> range:
        """Frame numbers of the snippet, ``frame - 19 .. frame + 10`` (30 frames, in order)."""
        first = self.frame - ANNOTATED_INDEX
        return range(first, first + SNIPPET_LENGTH)

    def frame_path(self, frame: int) -> Path:
        """Path of frame number ``frame`` of this snippet's sequence."""
        return frame_path(self.root, self.split, self.city, self.sequence, frame)


def _parse(path: Path, kind: str) -> tuple[str, int, int]:
    match = _NAME.match(path.name)
    if match is None or match["kind"] != kind:
        raise ValueError(
            f"unexpected file name {path} (expected {{city}}_{{seq:06d}}_{{frame:06d}}_{kind}.png)"
        )
    return match["city"], int(match["seq"]), int(match["frame"])


def list_annotated_frames(
    root: str | Path, split: str, with_labels: bool = True
) -> list[AnnotatedFrame]:
    """The annotated frames of ``split``, sorted by (city, sequence, frame number).

    Args:
        root (str | Path): dataset root (holding ``leftImg8bit_sequence/``, ``gtFine/``).
        split (str): "train", "val" or "test".
        with_labels (bool): list ``gtFine/{split}/*/*_gtFine_labelTrainIds.png``; if False
            (test split, no labels) list ``leftImg8bit/{split}/*/*_leftImg8bit.png`` instead.
            Defaults to True.

    Returns:
        list[AnnotatedFrame]: one entry per annotated frame (i.e. per snippet).
    """
    root = Path(root)
    if with_labels:
        folder, kind = root / "gtFine" / split, "gtFine_labelTrainIds"
        hint = "; make them with cityscapesscripts' createTrainIdLabelImgs"
    else:
        folder, kind, hint = root / "leftImg8bit" / split, "leftImg8bit", ""
    if not folder.is_dir():
        raise FileNotFoundError(f"Cityscapes folder {folder} does not exist (root={root})")
    paths = sorted(folder.glob(f"*/*_{kind}.png"))
    if not paths:
        raise FileNotFoundError(f"no *_{kind}.png files under {folder}{hint}")
    frames = []
    for path in paths:
        city, sequence, frame = _parse(path, kind)
        if path.parent.name != city:
            raise ValueError(f"{path} lies in the folder of city {path.parent.name!r}")
        label = path if with_labels else None
        frames.append(AnnotatedFrame(root, split, city, sequence, frame, label))
    return sorted(frames, key=lambda a: (a.city, a.sequence, a.frame))


def check_frames_exist(annotated: AnnotatedFrame, frames: Sequence[int]) -> None:
    """Raise ``FileNotFoundError`` naming the first of ``frames`` missing on disk.

    Args:
        annotated (AnnotatedFrame): the snippet.
        frames (Sequence[int]): frame numbers of its sequence that will be read.
    """
    for frame in frames:
        path = annotated.frame_path(frame)
        if not path.is_file():
            raise FileNotFoundError(
                f"missing sequence frame {path} (frame {frame} of the snippet of "
                f"{annotated.name}, frames {annotated.snippet.start}..{annotated.snippet.stop - 1})"
            )


def read_image(path: str | Path, channel_order: str = "rgb") -> np.ndarray:
    """Read a colour frame.

    Args:
        path (str | Path): PNG/JPEG file.
        channel_order (str): "rgb" or "bgr". Defaults to "rgb".

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    check_image_file(_existing(path))
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image {path} (corrupt or not an image file)")
    return image[..., ::-1].copy() if channel_order == "rgb" else image


def read_label(path: str | Path) -> np.ndarray:
    """Read a single-channel label map (``*_labelTrainIds.png`` or ``*_labelIds.png``).

    Returns:
        np.ndarray: uint8 ``(H, W)``.
    """
    check_image_file(_existing(path))
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise ValueError(f"cannot decode label map {path} (corrupt or not an image file)")
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(
            f"label map {path} must be a single-channel 8-bit PNG, got shape {label.shape} "
            f"dtype {label.dtype}"
        )
    return label


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return path
