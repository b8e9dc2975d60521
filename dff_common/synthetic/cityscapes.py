"""A synthetic Cityscapes video set written in exactly the real layout.

The layout is the one read by :mod:`dff_common.data.cityscapes` (real label ids and train ids);
the snippets are :func:`dff_common.synthetic.scenes.render_video` scenes (camera and object
motion over textured stuff bands) with exact labels.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from dff_common.data.cityscapes import (
    ANNOTATED_INDEX,
    SNIPPET_LENGTH,
    AnnotatedFrame,
    frame_path,
    list_annotated_frames,
)
from dff_common.synthetic.scenes import SHAPES, class_color, make_texture, render_video

__all__ = ["make_synthetic_cityscapes", "render_cityscapes_snippet", "train_id_lut"]

_MARKER = "SYNTHETIC_CITYSCAPES.txt"  # written last; only a set with it may be overwritten
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


def train_id_lut() -> np.ndarray:
    """uint8 (256,) lookup table label id -> train id (255 for ignored ids)."""
    from cityscapesscripts.helpers.labels import labels  # optional: only the generator needs it

    lut = np.full(256, 255, np.uint8)
    for label in labels:
        if label.id >= 0 and 0 <= label.trainId < 255:
            lut[label.id] = label.trainId
    return lut


def render_cityscapes_snippet(
    rng: np.random.Generator,
    height: int = 128,
    width: int = 256,
    distinct_colors: bool = False,
    **motion,
):
    """One snippet of :func:`make_synthetic_cityscapes`: 30 frames of stuff bands and 3 to 5
    things, with the static ego-vehicle hood.

    Args:
        rng (np.random.Generator): source of randomness.
        height, width (int): frame size. Defaults to 128 x 256.
        distinct_colors (bool): render the nine classes with the well-separated hues of
            ``class_color(0..8)`` instead of those of their label ids (``class_color(26)``, car,
            is within 0.03 in hue of vegetation's and person's of building's); labels and
            shapes are the same either way. Defaults to False.
        **motion: passed to :func:`~dff_common.synthetic.scenes.render_video`.

    Returns:
        tuple: frames uint8 (30, H, W, 3) RGB, Cityscapes label ids uint8 (30, H, W), and the
        :class:`~dff_common.synthetic.scenes.SyntheticVideo` (its exact ``backward_flow``).
    """
    num_objects = int(rng.integers(3, 6))
    objects = rng.choice(THING_LABEL_IDS, num_objects, p=(0.45, 0.3, 0.15, 0.1))
    label_ids = np.asarray(STUFF_LABEL_IDS + THING_LABEL_IDS, np.uint8)
    render_ids = np.arange(len(label_ids)) if distinct_colors else label_ids
    to_render = dict(zip(label_ids.tolist(), render_ids.tolist()))
    video = render_video(
        SNIPPET_LENGTH,
        height,
        width,
        rng,
        object_classes=[to_render[int(c)] for c in objects],
        object_shapes=[SHAPES[int(c) % len(SHAPES)] for c in objects],  # by label id
        background_classes=render_ids[: len(STUFF_LABEL_IDS)].tolist(),
        background_layout="bands",
        **motion,
    )
    to_label = np.zeros(int(render_ids.max()) + 1, np.uint8)
    to_label[render_ids] = label_ids
    frames, label_ids = video.frames.copy(), to_label[video.semantic_maps]
    hood = max(1, round(0.08 * height))  # the static ego-vehicle hood, as in Cityscapes
    frames[:, -hood:] = make_texture(hood, width, rng, class_color(EGO_VEHICLE_ID) * 0.3)
    label_ids[:, -hood:] = EGO_VEHICLE_ID
    return frames, label_ids, video


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
    distinct_colors: bool = False,
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
        distinct_colors (bool): see :func:`render_cityscapes_snippet`. Defaults to False.
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
    lut = train_id_lut()
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, count in num_snippets.items():
        cities = _CITIES[split]
        for j in range(count):
            city, index = cities[j % len(cities)], j // len(cities)
            sequence, annotated = index // 2, ANNOTATED_INDEX + 40 * (index % 2)
            frames, label_ids, _ = render_cityscapes_snippet(
                rng, height, width, distinct_colors, **motion
            )
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
        f"dff_common.synthetic.cityscapes.make_synthetic_cityscapes(seed={seed}).\n"
    )
    return written
