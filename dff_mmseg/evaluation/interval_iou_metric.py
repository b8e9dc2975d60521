"""mIoU at every key frame interval l from one Sec. 5.2 evaluation (Figure 3's accuracy axis)."""

from __future__ import annotations

import numpy as np
import torch
from mmseg.registry import METRICS

from .key_distance_iou_metric import KeyDistanceIoUMetric


def interval_miou(intersect: np.ndarray, union: np.ndarray) -> np.ndarray:
    """mIoU (%) at key frame interval l = 1 .. D from the areas of each key distance.

    With a key frame every l frames a frame is ``d = 0 .. l-1`` frames past its key frame, each
    equally often, so the mIoU at interval l is the mIoU over the pooled pairs of distances
    ``d < l``, exactly what an evaluation at l reports.

    Args:
        intersect (np.ndarray): ``(D, C)`` intersection areas per key distance d = 0 .. D-1
            and class (C classes), summed over the pairs of that distance.
        union (np.ndarray): ``(D, C)`` union areas.

    Returns:
        np.ndarray: ``(D,)``, entry ``l - 1`` is the mIoU over the pooled pairs of distances
        ``0 .. l-1``; classes with an empty union are left out, as in mmseg's ``IoUMetric``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.cumsum(intersect, axis=0) / np.cumsum(union, axis=0)  # [D, C]
    return 100 * np.nanmean(iou, axis=1)


@METRICS.register_module()
class IntervalIoUMetric(KeyDistanceIoUMetric):
    """``KeyDistanceIoUMetric`` plus ``mIoU_l{l}``, the mIoU at key frame interval l.

    ``mIoU_l{l}`` pools the pairs of key distances ``0 .. l-1`` (:func:`interval_miou`):
    evaluated with interval L it gives the Sec. 5.2 mIoU of every interval l <= L (``mIoU_l1``
    equals ``mIoU_d0`` and ``mIoU_l{L}`` the overall ``mIoU``).
    """

    def compute_metrics(self, results: list) -> dict[str, float]:
        """The parent's metrics and ``mIoU_l{l}`` for l = 1 .. L."""
        metrics = super().compute_metrics(results)
        distances = sorted({r[4] for r in results})
        if distances != list(range(len(distances))):
            raise ValueError(f"key distances {distances} are not 0 .. L-1")
        intersect, union = (
            np.stack(
                [torch.stack([r[j] for r in results if r[4] == d]).sum(0) for d in distances]
            ).astype(np.float64)
            for j in (0, 1)
        )
        for interval, miou in enumerate(interval_miou(intersect, union), start=1):
            metrics[f"mIoU_l{interval}"] = round(float(miou), 2)
        return metrics
