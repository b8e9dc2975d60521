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

:func:`dff_common.synthetic.cityscapes.make_synthetic_cityscapes` writes a small synthetic
set in exactly this layout, for tests and demos.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dff_common.data.frame_size import FrameTooLargeError, check_frame_size

__all__ = [
    "ANNOTATED_INDEX",
    "SNIPPET_LENGTH",
    "AnnotatedFrame",
    "check_frames_exist",
    "check_label_ids",
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
    if with_labels:
        _check_every_annotated_image_has_a_label(root, split, {a.name for a in frames})
    return sorted(frames, key=lambda a: (a.city, a.sequence, a.frame))


def _check_every_annotated_image_has_a_label(root: Path, split: str, labelled: set) -> None:
    """Raise ``FileNotFoundError`` naming the label of an annotated image of
    ``leftImg8bit/{split}`` (when that folder exists) that has none: its snippet would
    otherwise drop out of training or evaluation unnoticed."""
    images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
    unlabelled = [p for p in images if p.name.removesuffix("_leftImg8bit.png") not in labelled]
    if unlabelled:
        name = unlabelled[0].name.removesuffix("_leftImg8bit.png")
        city = unlabelled[0].parent.name
        expected = root / "gtFine" / split / city / f"{name}_gtFine_labelTrainIds.png"
        raise FileNotFoundError(
            f"{len(unlabelled)} annotated images of {root / 'leftImg8bit' / split} have no "
            f"label, e.g. {unlabelled[0]}: {expected} is missing (make *_labelTrainIds.png "
            "with cityscapesscripts' createTrainIdLabelImgs)"
        )


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
    image = np.asarray(_decode(_existing(path)).convert("RGB"))
    return image[..., ::-1].copy() if channel_order == "bgr" else image


def read_label(path: str | Path) -> np.ndarray:
    """Read a single-channel label map (``*_labelTrainIds.png`` or ``*_labelIds.png``).

    Returns:
        np.ndarray: uint8 ``(H, W)``.
    """
    label = np.asarray(_decode(_existing(path)))
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(
            f"label map {path} must be a single-channel 8-bit PNG, got shape {label.shape} "
            f"dtype {label.dtype}"
        )
    return label


def check_label_ids(label: np.ndarray, num_classes: int, ignore_index: int, path) -> None:
    """Raise ``ValueError`` naming ``path`` if ``label`` holds ids that are neither a class
    (``0 .. num_classes - 1``) nor ``ignore_index`` (e.g. ``*_labelIds.png``, Cityscapes ids
    0-33, in place of ``*_labelTrainIds.png``)."""
    ids = np.unique(label)
    bad = ids[(ids >= num_classes) & (ids != ignore_index)]
    if bad.size:
        raise ValueError(
            f"label map {path} holds ids {bad[:8].tolist()} outside the {num_classes} classes "
            f"(0-{num_classes - 1}) and the ignore index {ignore_index}: is it a *_labelIds.png "
            "(Cityscapes ids 0-33) in place of *_labelTrainIds.png? Make those with "
            "cityscapesscripts' createTrainIdLabelImgs"
        )


def _decode(path: Path):
    """The decoded image of ``path`` (PIL, which, unlike ``cv2.imread``, raises on a
    truncated file instead of padding it), its size checked from the header first."""
    try:
        with Image.open(path) as image:
            check_frame_size(*image.size, str(path))
            image.load()
            return image
    except FrameTooLargeError:
        raise
    except (OSError, SyntaxError, ValueError) as error:  # UnidentifiedImageError too
        raise ValueError(f"cannot decode image {path}: {error} (corrupt or truncated)") from error


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return path
