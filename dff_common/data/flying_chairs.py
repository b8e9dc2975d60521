"""Flying Chairs (Dosovitskiy et al., ICCV 2015): the flow networks' pre-training set (Sec. 4).

On-disk layout of the real release (``FlyingChairs_release``), which both the reader and the
synthetic generator use::

    <root>/data/00001_img1.ppm, 00001_img2.ppm, 00001_flow.flo, ...   (5 digits, 1-based)
    <root>/FlyingChairs_train_val.txt    line n: 1 = sample n is for training, 2 = validation

Flow convention: Flying Chairs stores the forward flow from img1 to img2,
``img1(p) = img2(p + flow(p))``. This is exactly the DFF flow ``M_{i->k}`` (ARCHITECTURE.md) with
the *current* frame ``i = img1`` and the *key* frame ``k = img2``: pixel ``p`` of the current
frame reads the key frame at ``p + M(p)``. Hence the flow network is called as
``net(key=img2, cur=img1)`` and trained against ``flow`` unchanged.
"""

import os
import re
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from dff_common.data.synthetic import render_video
from dff_common.flow_io import read_flo, write_flo

__all__ = ["SPLIT_FILE", "FlyingChairs", "make_synthetic_chairs"]

SPLIT_FILE = "FlyingChairs_train_val.txt"
SPLITS = {"train": 1, "val": 2}
_SAMPLE_FILE = re.compile(r"^\d{5}_(img1\.ppm|img2\.ppm|flow\.flo)$")


def _read_rgb(path: str) -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB, with a clear error when missing or corrupt."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such Flying Chairs image")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot decode image (corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FlyingChairs(Dataset):
    """Flying Chairs pairs of one split, in the real release's layout (module docstring).

    Args:
        root (str | os.PathLike): the folder holding ``data/`` and ``FlyingChairs_train_val.txt``.
        split (str): "train" (split label 1) or "val" (split label 2). Defaults to "train".
        transform (callable, optional): applied to each sample dict before it is returned.

    A sample is ``dict(img1=uint8 (H, W, 3) RGB current frame, img2=uint8 (H, W, 3) RGB key
    frame, flow=float32 (H, W, 2) flow from img1 into img2 (channel 0 = x), index=int)``.
    """

    def __init__(self, root, split: str = "train", transform=None):
        if split not in SPLITS:
            raise ValueError(f"FlyingChairs: split must be one of {sorted(SPLITS)}, got {split!r}")
        self.root = Path(root)
        self.split = split
        self.transform = transform
        split_path = self.root / SPLIT_FILE
        if not split_path.is_file():
            raise FileNotFoundError(f"{split_path}: Flying Chairs split file not found")
        if not (self.root / "data").is_dir():
            raise FileNotFoundError(f"{self.root / 'data'}: Flying Chairs data folder not found")
        labels = split_path.read_text().split()
        bad = sorted(set(labels) - {"1", "2"})
        if bad:
            raise ValueError(f"{split_path}: split labels must be 1 or 2, found {bad[:3]}")
        wanted = str(SPLITS[split])
        self.indices = [n for n, label in enumerate(labels, start=1) if label == wanted]

    def __len__(self) -> int:
        return len(self.indices)

    def paths(self, i: int) -> tuple[str, str, str]:
        """Paths ``(img1, img2, flow)`` of the i-th sample of this split."""
        stem = os.path.join(self.root, "data", f"{self.indices[i]:05d}")
        return f"{stem}_img1.ppm", f"{stem}_img2.ppm", f"{stem}_flow.flo"

    def __getitem__(self, i: int) -> dict:
        img1_path, img2_path, flow_path = self.paths(i)
        img1, img2, flow = _read_rgb(img1_path), _read_rgb(img2_path), read_flo(flow_path)
        if img1.shape != img2.shape or flow.shape[:2] != img1.shape[:2]:
            raise ValueError(
                f"{flow_path}: size mismatch: img1 {img1.shape[:2]}, img2 {img2.shape[:2]},"
                f" flow {flow.shape[:2]}"
            )
        sample = dict(img1=img1, img2=img2, flow=flow, index=self.indices[i])
        return self.transform(sample) if self.transform is not None else sample


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
    max_motion: float = 0.06,
    overwrite: bool = False,
) -> Path:
    """Write a Flying-Chairs-like set with exact flow, in exactly the real layout.

    Each pair is two frames of :func:`dff_common.data.synthetic.render_video`: 1 to 4 textured
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
            it, as a fraction of ``width`` per pair. Defaults to 0.06.
        overwrite (bool): replace the samples of an existing non-empty root. Defaults to False.

    Returns:
        Path: ``root``.
    """
    if num_samples < 1:
        raise ValueError(f"make_synthetic_chairs: num_samples must be >= 1, got {num_samples}")
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
