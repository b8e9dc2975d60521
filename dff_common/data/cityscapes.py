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

:func:`make_synthetic_cityscapes` writes a small synthetic set in exactly this layout (real
label ids and train ids), with camera and object motion from
:mod:`dff_common.data.synthetic`, for tests and demos.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .synthetic import class_color, make_texture, render_video

__all__ = [
    "ANNOTATED_INDEX",
    "SNIPPET_LENGTH",
    "AnnotatedFrame",
    "check_frames_exist",
    "frame_path",
    "list_annotated_frames",
    "make_synthetic_cityscapes",
    "read_image",
    "read_label",
]

SNIPPET_LENGTH = 30
ANNOTATED_INDEX = 19  # the 20th frame of a snippet is annotated

_NAME = re.compile(r"^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})_(?P<kind>.+)\.png$")
_MARKER = "SYNTHETIC_CITYSCAPES.txt"


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
    image = cv2.imread(str(_existing(path)), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image {path} (corrupt or not an image file)")
    return image[..., ::-1].copy() if channel_order == "rgb" else image


def read_label(path: str | Path) -> np.ndarray:
    """Read a single-channel label map (``*_labelTrainIds.png`` or ``*_labelIds.png``).

    Returns:
        np.ndarray: uint8 ``(H, W)``.
    """
    label = cv2.imread(str(_existing(path)), cv2.IMREAD_UNCHANGED)
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


# ----------------------------------------------------------------------------- synthetic set

_CITIES = {
    "train": ("aachen", "bochum", "zurich"),
    "val": ("frankfurt", "lindau", "munster"),
    "test": ("berlin", "bielefeld", "mainz"),
}
# Cityscapes label ids (cityscapesscripts.helpers.labels): stuff bands from top to bottom
# (sky, building, vegetation, sidewalk, road) and things (car, person, traffic sign, bicycle).
STUFF_LABEL_IDS = (23, 11, 21, 8, 7)
THING_LABEL_IDS = (26, 24, 20, 33)
EGO_VEHICLE_ID = 1  # static, ignored in evaluation (trainId 255)


def _train_id_lut() -> np.ndarray:
    """uint8 (256,) lookup table label id -> train id (255 for ignored ids)."""
    from cityscapesscripts.helpers.labels import labels  # optional: only the generator needs it

    lut = np.full(256, 255, np.uint8)
    for label in labels:
        if label.id >= 0 and 0 <= label.trainId < 255:
            lut[label.id] = label.trainId
    return lut


def _render_snippet(rng: np.random.Generator, height: int, width: int, motion: Mapping):
    """Frames (30, H, W, 3) RGB and label ids (30, H, W) of one snippet."""
    num_objects = int(rng.integers(3, 6))
    objects = rng.choice(THING_LABEL_IDS, num_objects, p=(0.45, 0.3, 0.15, 0.1))
    video = render_video(
        SNIPPET_LENGTH,
        height,
        width,
        rng,
        object_classes=[int(c) for c in objects],
        background_classes=STUFF_LABEL_IDS,
        background_layout="bands",
        **motion,
    )
    frames, label_ids = video.frames.copy(), video.semantic_maps.astype(np.uint8)
    hood = max(1, round(0.08 * height))  # the static ego-vehicle hood, as in Cityscapes
    frames[:, -hood:] = make_texture(hood, width, rng, class_color(EGO_VEHICLE_ID) * 0.3)
    label_ids[:, -hood:] = EGO_VEHICLE_ID
    return frames, label_ids


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = array[..., ::-1] if array.ndim == 3 else array  # cv2 writes BGR
    if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
        raise OSError(f"could not write {path}")


def make_synthetic_cityscapes(
    root: str | Path,
    num_snippets: Mapping[str, int] | None = None,
    height: int = 128,
    width: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    **motion,
) -> dict[str, list[AnnotatedFrame]]:
    """Write a small synthetic Cityscapes video set in the real layout (module docstring).

    Snippet ``j`` of a city lies in sequence ``j // 2`` with its annotated frame at number
    ``19 + 40 * (j % 2)``, so sequences hold one or two snippets, as in the real val set.
    Every split gets ``leftImg8bit_sequence`` (30 frames per snippet) and ``leftImg8bit``
    (the annotated frames); train and val also get ``gtFine`` ``*_labelIds.png`` (real
    Cityscapes label ids: sky, building, vegetation, sidewalk, road, car, person, traffic sign,
    bicycle, and the static ego-vehicle hood, id 1) and ``*_labelTrainIds.png`` (their train
    ids, 255 for the hood). The test split has no labels, like the real one.

    Args:
        root (str | Path): output folder; must be empty or absent unless ``overwrite``.
        num_snippets (Mapping[str, int], optional): snippets per split. Defaults to
            ``{"train": 8, "val": 4, "test": 2}``.
        height (int): frame height H. Defaults to 128.
        width (int): frame width W. Defaults to 256.
        seed (int): random seed (same seed, same files). Defaults to 0.
        overwrite (bool): replace a set previously written by this function at ``root``.
            Defaults to False.
        **motion: passed to :func:`render_video`; defaults ``camera_speed=5.0``,
            ``camera_zoom=0.01``, ``object_speed=3.0``, ``object_size=(0.15, 0.35)``.

    Returns:
        dict[str, list[AnnotatedFrame]]: the annotated frames written, per split.
    """
    root = Path(root)
    num_snippets = dict(num_snippets or {"train": 8, "val": 4, "test": 2})
    unknown = set(num_snippets) - set(_CITIES)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)} (use {sorted(_CITIES)})")
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{root} is not empty; pass overwrite=True to replace it")
        if not (root / _MARKER).is_file():
            raise FileExistsError(
                f"{root} is not empty and was not written by make_synthetic_cityscapes "
                f"(no {_MARKER}); refusing to delete it"
            )
        for name in ("leftImg8bit_sequence", "leftImg8bit", "gtFine"):
            shutil.rmtree(root / name, ignore_errors=True)
    motion = {
        "camera_speed": 5.0,
        "camera_zoom": 0.01,
        "object_speed": 3.0,
        "object_size": (0.15, 0.35),
        **motion,
    }
    lut = _train_id_lut()
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, count in num_snippets.items():
        cities = _CITIES[split]
        for j in range(count):
            city, index = cities[j % len(cities)], j // len(cities)
            sequence, annotated = index // 2, ANNOTATED_INDEX + 40 * (index % 2)
            frames, label_ids = _render_snippet(rng, height, width, motion)
            for t in range(SNIPPET_LENGTH):
                frame = annotated - ANNOTATED_INDEX + t
                _write_png(frame_path(root, split, city, sequence, frame), frames[t])
            name = f"{city}_{sequence:06d}_{annotated:06d}"
            _write_png(
                root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png",
                frames[ANNOTATED_INDEX],
            )
            if split != "test":
                gt = root / "gtFine" / split / city
                _write_png(gt / f"{name}_gtFine_labelIds.png", label_ids[ANNOTATED_INDEX])
                _write_png(gt / f"{name}_gtFine_labelTrainIds.png", lut[label_ids[ANNOTATED_INDEX]])
        written[split] = list_annotated_frames(root, split, with_labels=split != "test")
    (root / _MARKER).write_text(
        f"Synthetic Cityscapes-layout video set written by "
        f"dff_common.data.cityscapes.make_synthetic_cityscapes(seed={seed}).\n"
    )
    return written
