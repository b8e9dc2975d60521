"""tools/figure3.py: the accuracy at key frame interval l from the pairs of each key distance
(Sec. 5.2), the Eq. 7 curve, r from Algorithm 1's part times, and the written outputs."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dff_common.complexity import speedup

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_figure3", REPO / "tools" / "figure3.py")
figure3 = sys.modules["dff_figure3"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(figure3)

# areas summed over the pairs of key distance d (rows) per class (columns); class 2 is absent
# from the pairs at d = 0 (empty union)
INTERSECT = np.array([[8.0, 2.0, 0.0], [4.0, 0.0, 1.0]])
UNION = np.array([[10.0, 4.0, 0.0], [10.0, 6.0, 2.0]])


def test_interval_miou_pools_the_pairs_of_the_first_l_distances():
    # l = 1: IoU (8/10, 2/4, -) -> 65; l = 2: (12/20, 2/10, 1/2) -> 43.33, which is not the
    # mean 47.5 of the per-distance mIoUs 65 and 30 (d = 1 alone: 4/10, 0/6, 1/2)
    np.testing.assert_allclose(figure3.interval_miou(INTERSECT, UNION), [65.0, 130 / 3])


def test_interval_metric_agrees_with_key_distance_iou_metric():
    metric = figure3.IntervalIoUMetric(iou_metrics=["mIoU"])
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
    metric = figure3.IntervalIoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": ("road", "car", "person")}
    areas = tuple(torch.tensor(a[0]) for a in (INTERSECT, UNION, UNION, UNION))
    with pytest.raises(ValueError, match="not 0 .. L-1"):
        metric.compute_metrics([(*areas, 0), (*areas, 2)])


def test_curve_rows_speedups_follow_eq7():
    rows = figure3.curve_rows(
        accuracy={1: 70.0, 2: 69.0, 5: 66.0},
        fps={1: 2.0, 2: 3.0, 5: 4.5},
        frame_fps=2.0,
        r_time=0.25,
        r_macs=0.1,
    )
    assert [row["l"] for row in rows] == [1, 2, 5]
    # s = l / (1 + (l - 1) r): r = 0.25 -> 1, 2 / 1.25, 5 / 2; r = 0.1 -> 1, 2 / 1.1, 5 / 1.4
    np.testing.assert_allclose([row["speedup_eq7_time"] for row in rows], [1.0, 1.6, 2.5])
    np.testing.assert_allclose([row["speedup_eq7_macs"] for row in rows], [1.0, 2 / 1.1, 5 / 1.4])
    np.testing.assert_allclose([row["speedup"] for row in rows], [1.0, 1.5, 2.25])
    assert [row["accuracy"] for row in rows] == [70.0, 69.0, 66.0]


def test_time_ratio_from_part_times_per_frame():
    # 4-frame snippet; N_feat 100 ms per key frame, F + W 30 ms per non-key frame, N_task 1 ms
    timings = {
        1: {"N_feat ms": 100.0, "F + W ms": 0.0, "N_task ms": 1.0},  # 4 key frames
        2: {"N_feat ms": 50.0, "F + W ms": 15.0, "N_task ms": 1.0},  # keys 0, 2
        3: {"N_feat ms": 50.0, "F + W ms": 15.0, "N_task ms": 1.0},  # keys 0, 3
    }
    assert figure3.time_ratio(timings, [4]) == pytest.approx(31 / 101)


def test_write_outputs_from_fake_numbers(tmp_path):
    curves = {
        name: {
            "r_time": r,
            "r_macs": r / 2,
            "frame_fps": 2.0,
            "rows": figure3.curve_rows(
                {1: 70.0, 2: 69.0 - r}, {1: 2.0, 2: 2 * speedup(r, 2)}, 2.0, r, r / 2
            ),
        }
        for name, r in (("flownet", 0.3), ("flownet_inception", 0.05))
    }
    results = {"metric": "mIoU", "title": "fake", "frame": {"accuracy": 70.5}, "curves": curves}
    png = tmp_path / "figure3.png"
    figure3.write_outputs(results, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert json.loads(png.with_suffix(".json").read_text()) == results
    with png.with_suffix(".csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [(r["flow_net"], r["l"]) for r in rows] == [
        ("flownet", "1"),
        ("flownet", "2"),
        ("flownet_inception", "1"),
        ("flownet_inception", "2"),
    ]
    assert float(rows[1]["speedup"]) == pytest.approx(speedup(0.3, 2))


def test_detection_sweep_names_the_missing_table4_run(tmp_path):
    args = figure3.parse_args(["--task", "det", "--det-table4-dir", str(tmp_path / "t4")])
    assert args.intervals == list(range(1, 21))  # Fig. 3 (top): l = 1 .. 20
    with pytest.raises(SystemExit, match=r"t4/frame/model_final.pth not found.*table4"):
        figure3.run_detection(args, args.intervals)
