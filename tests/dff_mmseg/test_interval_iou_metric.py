"""IntervalIoUMetric: the mIoU at key frame interval l from the pairs of each key distance
(Sec. 5.2), the accuracy axis of Figure 3."""

import numpy as np
import pytest
import torch

from dff_mmseg.evaluation import IntervalIoUMetric, interval_miou

# areas summed over the pairs of key distance d (rows) per class (columns); class 2 is absent
# from the pairs at d = 0 (empty union)
INTERSECT = np.array([[8.0, 2.0, 0.0], [4.0, 0.0, 1.0]])
UNION = np.array([[10.0, 4.0, 0.0], [10.0, 6.0, 2.0]])


def test_interval_miou_pools_the_pairs_of_the_first_l_distances():
    # l = 1: IoU (8/10, 2/4, -) -> 65; l = 2: (12/20, 2/10, 1/2) -> 43.33, which is not the
    # mean 47.5 of the per-distance mIoUs 65 and 30 (d = 1 alone: 4/10, 0/6, 1/2)
    np.testing.assert_allclose(interval_miou(INTERSECT, UNION), [65.0, 130 / 3])


def test_interval_metric_agrees_with_key_distance_iou_metric():
    metric = IntervalIoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": ("road", "car", "person")}
    pred = np.array([[9, 3, 0], [7, 3, 1]])  # union = pred + label - intersect
    label = UNION - pred + INTERSECT
    results = [
        tuple(torch.tensor(a[d]) for a in (INTERSECT, UNION, pred, label)) + (d,) for d in (1, 0)
    ]
    metrics = metric.compute_metrics(results)
    assert metrics["mIoU_l1"] == metrics["mIoU_d0"] == 65.0
    assert metrics["mIoU_l2"] == pytest.approx(metrics["mIoU"]) == 43.33


def test_interval_metric_needs_every_distance_below_the_largest():
    metric = IntervalIoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": ("road", "car", "person")}
    areas = tuple(torch.tensor(a[0]) for a in (INTERSECT, UNION, UNION, UNION))
    with pytest.raises(ValueError, match="not 0 .. L-1"):
        metric.compute_metrics([(*areas, 0), (*areas, 2)])
