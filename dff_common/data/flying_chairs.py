"""Flying Chairs (Dosovitskiy et al., ICCV 2015): the flow networks' pre-training set (Sec. 4).

On-disk layout of the real release (``FlyingChairs_release``), read here and written by
:func:`dff_common.synthetic.chairs.make_synthetic_chairs`::

    <root>/data/00001_img1.ppm, 00001_img2.ppm, 00001_flow.flo, ...   (5 digits, 1-based)
    <root>/FlyingChairs_train_val.txt    line n: 1 = sample n is for training, 2 = validation

Flow convention: Flying Chairs stores the forward flow from img1 to img2,
``img1(p) = img2(p + flow(p))``. This is exactly the DFF flow ``M_{i->k}`` (ARCHITECTURE.md) with
the *current* frame ``i = img1`` and the *key* frame ``k = img2``: pixel ``p`` of the current
frame reads the key frame at ``p + M(p)``. Hence the flow network is called as
``net(key=img2, cur=img1)`` and trained against ``flow`` unchanged.
"""

import os
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from dff_common.flow_io import read_flo

__all__ = ["SPLIT_FILE", "FlyingChairs"]

SPLIT_FILE = "FlyingChairs_train_val.txt"
SPLITS = {"train": 1, "val": 2}


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
