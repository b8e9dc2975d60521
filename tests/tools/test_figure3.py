"""tools/figure3.py: the Eq. 7 curve, the rows of a sweep, the flow pre-training policy, the
dispatch to the plugins' sweeps and the written outputs."""

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dff_common.complexity import speedup

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_figure3", REPO / "tools" / "figure3.py")
figure3 = sys.modules["dff_figure3"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(figure3)


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
        figure3.run_sweep(args)


def test_a_sweep_becomes_rows_with_its_extras():
    curve = {
        "checkpoint": "dff.pth",
        "accuracy": {2: 69.0, 1: 70.0},
        "fps": {1: 2.0, 2: 3.0},
        "row_extras": {2: {"W ms": 1.5}},
        "frame_fps": 2.0,
        "r_time": 0.25,
        "r_macs": 0.1,
    }
    results = figure3.with_rows({"frame": {"accuracy": 71.0}, "curves": {"flownet": curve}})
    (done,) = results["curves"].values()
    assert set(done) == {"checkpoint", "frame_fps", "r_time", "r_macs", "rows"}
    assert done["rows"] == [
        {**row, **extra}
        for row, extra in zip(
            figure3.curve_rows(curve["accuracy"], curve["fps"], 2.0, 0.25, 0.1), ({}, {"W ms": 1.5})
        )
    ]
    assert results["frame"] == {"accuracy": 71.0} and "row_extras" in curve  # not modified


def test_flownet_is_table4s_and_the_others_are_pretrained_once(tmp_path, monkeypatch):
    args = figure3.parse_args(
        ["--work-dir", str(tmp_path), "--flow-checkpoint", "t4.pth", "--pretrain-iters", "7"]
    )
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))
    assert figure3.flow_checkpoint("flownet", args) == "t4.pth"
    assert figure3.flow_checkpoint("flownet_half", args) == str(
        tmp_path / "flownet_half_synthchairs.pth"
    )
    (command,) = commands
    assert command[1].endswith("tools/pretrain_flow.py")
    assert command[2:] == [
        "--data=datasets/synthetic_chairs", "--flow-net=flownet_half", "--iters=7",
        "--batch-size=16", f"--output={tmp_path / 'flownet_half_synthchairs.pth'}",
        "--seed=0", "--eval-every=7",
    ]  # fmt: skip
    (tmp_path / "flownet_half_synthchairs.pth").write_bytes(b"")
    figure3.flow_checkpoint("flownet_half", args)
    assert len(commands) == 1  # reused


def test_each_task_dispatches_to_its_plugins_sweep(monkeypatch):
    import analysis_tools.detection_figure3
    import analysis_tools.segmentation_figure3

    calls = {}

    def fake(task):
        def sweep(*args):
            calls[task] = args
            return {"frame": {}, "curves": {}}

        return sweep

    monkeypatch.setattr(analysis_tools.segmentation_figure3, "sweep", fake("seg"))
    monkeypatch.setattr(analysis_tools.detection_figure3, "sweep", fake("det"))
    seg = figure3.parse_args(["--intervals", "5", "1", "--flow-nets", "flownet_half"])
    figure3.run_sweep(seg)
    assert calls["seg"][:5] == (
        "datasets/synthetic_cityscapes", "work_dirs/table4", "work_dirs/figure3",
        ["flownet_half"], [1, 5],
    )  # fmt: skip
    assert calls["seg"][6:] == (6, 2, False)  # --time-snippets, --time-repeats, --retrain
    det = figure3.parse_args(
        ["--task", "det", "--det-dff-weights", "flownet=a.pth", "--det-frame-weights", "f.pth"]
    )
    figure3.run_sweep(det)
    assert calls["det"][0] == "datasets/synthetic_vid_64x20" and calls["det"][4] == list(
        range(1, 21)
    )
    assert calls["det"][6:] == (150, "f.pth", {"flownet": "a.pth"}, False)
