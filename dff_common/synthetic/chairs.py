"""A Flying-Chairs-like set with exact flow, written in exactly the real release's layout.

The layout and the flow convention are those read by :mod:`dff_common.data.flying_chairs`;
the pairs are two frames of :func:`dff_common.synthetic.scenes.render_video` scenes.
"""

import re
from pathlib import Path

import cv2
import numpy as np

from dff_common.data.flying_chairs import SPLIT_FILE
from dff_common.flow_io import write_flo
from dff_common.synthetic.scenes import render_video

__all__ = ["MAX_MOTION", "make_synthetic_chairs"]

MAX_MOTION = 0.06  # default max translation per pair, fraction of the width

_SAMPLE_FILE = re.compile(r"^\d{5}_(img1\.ppm|img2\.ppm|flow\.flo)$")


def _clear_existing(root: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``root`` unless ``overwrite``; then remove old samples and split."""
    if not root.exists() or not any(root.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{root}: exists and is not empty (pass overwrite=True to replace)")
    (root / SPLIT_FILE).unlink(missing_ok=True)
    if (root / "data").is_dir():
        for entry in (root / "data").iterdir():
            if _SAMPLE_FILE.match(entry.name):
                entry.unlink()


def make_synthetic_chairs(
    root,
    num_samples: int,
    height: int = 96,
    width: int = 128,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_motion: float = MAX_MOTION,
    overwrite: bool = False,
) -> Path:
    """Write a Flying-Chairs-like set with exact flow, in exactly the real layout.

    Each pair is two frames of :func:`dff_common.synthetic.scenes.render_video`: 1 to 4 textured
    shapes (random classes, so random shapes and colours) under random similarity motion
    (translation, rotation, scale) over a textured background under its own random similarity
    motion. ``flow`` is the exact forward flow img1 -> img2; occluded pixels keep the motion of
    the surface seen in img1.

    Args:
        root (str | os.PathLike): output folder (``data/`` and the split file go inside).
        num_samples (int): number of pairs (>= 1).
        height (int): image height. Defaults to 96.
        width (int): image width. Defaults to 128.
        val_fraction (float): fraction of pairs labelled 2 (validation). Defaults to 0.1.
        seed (int): random seed (same seed, same files). Defaults to 0.
        max_motion (float): max translation of the background and of each shape relative to
            it, as a fraction of ``width`` per pair. Defaults to ``MAX_MOTION`` (0.06).
        overwrite (bool): replace the samples of an existing non-empty root. Defaults to False.

    Returns:
        Path: ``root``.
    """
    if num_samples < 1:
        raise ValueError(f"make_synthetic_chairs: num_samples must be >= 1, got {num_samples}")
    if not max_motion > 0:
        raise ValueError(f"make_synthetic_chairs: max_motion must be > 0, got {max_motion}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"make_synthetic_chairs: val_fraction must be in [0, 1), got {val_fraction}"
        )
    root = Path(root)
    _clear_existing(root, overwrite)
    (root / "data").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    num_val = round(val_fraction * num_samples)
    num_val = min(max(num_val, int(val_fraction > 0 and num_samples > 1)), num_samples - 1)
    labels = np.ones(num_samples, np.int64)
    labels[rng.permutation(num_samples)[:num_val]] = 2
    speed = max_motion * width
    for n in range(1, num_samples + 1):
        video = render_video(
            2,
            height,
            width,
            rng,
            object_classes=rng.integers(0, 20, int(rng.integers(1, 5))),
            camera_speed=speed,
            camera_rotation=3.0,
            camera_zoom=0.05,
            object_speed=speed,
            object_rotation=10.0,
            object_scale=0.08,
            object_size=(0.2, 0.5),
            background_classes=rng.integers(20, 40, int(rng.integers(1, 4))),
            background_layout="voronoi",
        )
        stem = str(root / "data" / f"{n:05d}")
        for k, frame in enumerate(video.frames, start=1):
            if not cv2.imwrite(f"{stem}_img{k}.ppm", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
                raise OSError(f"{stem}_img{k}.ppm: could not write image")
        write_flo(f"{stem}_flow.flo", video.backward_flow(0, 1))
    (root / SPLIT_FILE).write_text("".join(f"{label}\n" for label in labels))
    return root
