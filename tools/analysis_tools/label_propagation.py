"""What propagation can win on a synthetic segmentation set, measured on its labels (no model).

The ground-truth labels of the key frame k, as one-hot maps average-pooled to the feature
stride (the grid N_feat's maps live on), are carried to the current frame i = k + d by

- *copying* (zero flow: what feature copying does), and
- *the exact motion*: the DFF warp W (Eq. 1-2, bilinear, zeros outside the key frame) along the
  exact flow ``M_{i->k}`` resized to the grid (:func:`dff_common.propagation.resize_flow`),

then upsampled bilinearly and scored (mIoU, mmseg's ``IoUMetric.intersect_and_union``) against
frame i's labels, for d = 0 .. l - 1 (the Sec. 5.2 protocol). A perfect recognition network
scores these rows: copying's loss is the most that a flow could win back, the exact motion's
row is what the best F wins on that grid; d = 0 is what the grid alone costs.

Run by ``python tools/label_propagation.py`` (the snippets of ``make_synthetic_cityscapes``,
rendered anew with its motion arguments).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dff_common.data.cityscapes import ANNOTATED_INDEX
from dff_common.propagation import resize_flow
from dff_common.synthetic.cityscapes import render_cityscapes_snippet, train_id_lut
from dff_common.warp import warp

__all__ = ["label_propagation", "propagate_labels"]

NUM_CLASSES = 19
IGNORE_INDEX = 255


def propagate_labels(
    labels: np.ndarray, flow: np.ndarray | None, stride: int, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Carry a key frame's labels to the current frame on the grid of ``stride``.

    Args:
        labels (np.ndarray): (H, W) train ids of the key frame, ``IGNORE_INDEX`` ignored.
        flow (np.ndarray | None): (H, W, 2) exact flow ``M_{i->k}`` in pixels (channel 0 = x);
            None copies.
        stride (int): the feature stride (the grid is ``ceil(H / stride) x ceil(W / stride)``).
        num_classes (int): label classes. Defaults to 19.

    Returns:
        np.ndarray: (H, W) int64, the argmax of the propagated, upsampled class maps.
    """
    height, width = labels.shape
    one_hot = np.zeros((num_classes + 1, height, width), np.float32)
    np.put_along_axis(one_hot, np.minimum(labels, num_classes)[None].astype(np.int64), 1, 0)
    maps = F.adaptive_avg_pool2d(
        torch.from_numpy(one_hot[:num_classes])[None],
        (-(-height // stride), -(-width // stride)),
    )
    if flow is not None:
        full = torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)))[None]
        maps = warp(maps, resize_flow(full, maps.shape[2:]))
    scores = F.interpolate(maps, (height, width), mode="bilinear", align_corners=False)
    return scores[0].argmax(0).numpy()


def _miou(areas: list) -> float:
    """mIoU in percent as mmseg's ``IoUMetric`` computes it (the mean over the classes present
    in labels or predictions), from the ``intersect_and_union`` areas of several images."""
    from mmseg.evaluation.metrics import IoUMetric

    totals = [sum(a[j] for a in areas) for j in range(4)]
    return float(100 * np.nanmean(IoUMetric.total_area_to_metrics(*totals)["IoU"]))


def label_propagation(
    num_snippets: int = 16,
    interval: int = 5,
    stride: int = 16,
    height: int = 128,
    width: int = 256,
    seed: int = 0,
    distinct_colors: bool = False,
    **motion,
) -> dict[str, list[float]]:
    """mIoU of the key frame's labels propagated to the annotated frame (module docstring).

    Args:
        num_snippets (int): snippets rendered (:func:`render_cityscapes_snippet`). Defaults
            to 16.
        interval (int): l; key distances 0 .. l - 1. Defaults to 5.
        stride (int): the feature stride. Defaults to 16.
        height, width (int): frame size. Defaults to 128 x 256.
        seed (int): of the snippets. Defaults to 0.
        distinct_colors (bool): see :func:`render_cityscapes_snippet`. Defaults to False.
        **motion: the motion arguments of the set
            (:func:`~dff_common.synthetic.cityscapes.make_synthetic_cityscapes`'s).

    Returns:
        dict[str, list[float]]: ``{"copy": [mIoU at d = 0, ...], "exact motion": [...]}``.
    """
    from mmseg.evaluation.metrics import IoUMetric

    if interval < 1 or interval > ANNOTATED_INDEX + 1:
        raise ValueError(f"interval must be in [1, {ANNOTATED_INDEX + 1}], got {interval}")
    lut = train_id_lut()
    rng = np.random.default_rng(seed)
    areas = {"copy": [[] for _ in range(interval)], "exact motion": [[] for _ in range(interval)]}
    for _ in range(num_snippets):
        _, label_ids, video = render_cityscapes_snippet(
            rng, height, width, distinct_colors, **motion
        )
        target = torch.from_numpy(lut[label_ids[ANNOTATED_INDEX]].astype(np.int64))
        for d in range(interval):
            key = ANNOTATED_INDEX - d
            flows = {"copy": None, "exact motion": video.backward_flow(ANNOTATED_INDEX, key)}
            for row, flow in flows.items():
                pred = propagate_labels(lut[label_ids[key]], flow, stride)
                areas[row][d].append(
                    IoUMetric.intersect_and_union(
                        torch.from_numpy(pred), target, NUM_CLASSES, IGNORE_INDEX
                    )
                )
    return {row: [_miou(at_d) for at_d in per_d] for row, per_d in areas.items()}
