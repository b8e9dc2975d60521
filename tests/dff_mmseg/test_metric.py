"""KeyDistanceIoUMetric: IoUMetric over all pairs plus mIoU per key-frame distance."""

import numpy as np
import pytest
import torch

from dff_mmseg.evaluation import KeyDistanceIoUMetric


def output(pred, label, distance):
    return dict(
        pred_sem_seg=dict(data=torch.tensor(pred)[None]),
        gt_sem_seg=dict(data=torch.tensor(label)[None]),
        key_distance=distance,
        img_path="x.png",
    )


def miou(preds, labels, num_classes=3):
    ious = []
    for c in range(num_classes):
        p = np.concatenate([x.ravel() for x in preds]) == c
        g = np.concatenate([x.ravel() for x in labels])
        valid = g != 255
        inter, union = (p & (g == c) & valid).sum(), ((p | (g == c)) & valid).sum()
        if (g[valid] == c).sum() or (p & valid).sum():
            ious.append(inter / union)
    return 100 * np.mean(ious)


def test_overall_and_per_distance_miou():
    metric = KeyDistanceIoUMetric()
    metric.dataset_meta = dict(classes=("a", "b", "c"))
    label = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred_d0 = label.copy()
    pred_d0[1, 2:] = 0  # ignored pixels: no effect
    pred_d2 = np.array([[0, 1, 1, 1], [2, 0, 0, 0]])
    samples = [output(pred_d0, label, 0), output(pred_d2, label, 2)]
    metric.process({}, samples)
    metrics = metric.compute_metrics(metric.results)
    assert metrics["mIoU_d0"] == 100.0
    assert metrics["mIoU_d2"] == pytest.approx(miou([pred_d2], [label]), abs=0.01)
    assert metrics["mIoU"] == pytest.approx(miou([pred_d0, pred_d2], [label, label]), abs=0.01)
    assert set(metrics) == {"aAcc", "mIoU", "mAcc", "mIoU_d0", "mIoU_d2"}


def test_missing_key_distance_is_an_error():
    metric = KeyDistanceIoUMetric()
    metric.dataset_meta = dict(classes=("a", "b"))
    sample = output(np.zeros((2, 2), int), np.zeros((2, 2), int), 0)
    del sample["key_distance"]
    with pytest.raises(KeyError, match="key_distance"):
        metric.process({}, [sample])
