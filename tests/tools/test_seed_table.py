"""tools/seed_table.py: the README's tables of per-seed Table 4 runs, from their results.json."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_seed_table", REPO / "tools" / "seed_table.py")
seed_table = sys.modules["dff_seed_table"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(seed_table)


def _run(frame, dff):
    return {
        "Frame": {"mAP": frame, "mAP_slow": frame + 1, "fps": 10.0, "mAP_d0": frame, "mAP_d1": 1.0},
        "DFF (l=10)": {"mAP": dff, "mAP_slow": dff, "fps": 30.0, "mAP_d0": 4.0, "mAP_d1": dff},
        "DFF N copy": {"mAP": 2.0, "mAP_slow": 2.0},  # not timed: blank fps
    }


def test_mean_spread_per_seed_and_key_distances(tmp_path):
    paths = []
    for seed, (frame, dff) in enumerate([(30.0, 20.0), (34.0, 26.0), (32.0, 23.0)]):
        paths.append(tmp_path / f"seed{seed}.json")
        paths[-1].write_text(json.dumps(_run(frame, dff)))
    text = seed_table.main([*map(str, paths), "--columns", "mAP", "mAP_slow"])
    lines = text.splitlines()
    assert lines[:2] == ["| method | mAP | slow | fps | per seed |", "|---|---|---|---:|---|"]
    # sample standard deviation: 30, 34, 32 -> 32 +- 2; 20, 26, 23 -> 23 +- 3
    assert lines[2] == "| Frame | 32.0 +- 2.0 | 33.0 +- 2.0 | 10.0 | 30.0 / 34.0 / 32.0 |"
    assert lines[3] == "| DFF (l=10) | 23.0 +- 3.0 | 23.0 +- 3.0 | 30.0 | 20.0 / 26.0 / 23.0 |"
    assert lines[4] == "| DFF N copy | 2.0 +- 0.0 | 2.0 +- 0.0 |  | 2.0 / 2.0 / 2.0 |"
    assert lines[6:] == [
        "| method | d0 | d1 |",
        "|---|---:|---:|",
        "| Frame | 32.0 | 1.0 |",
        "| DFF (l=10) | 4.0 | 23.0 |",
    ]


def test_runs_of_different_tables_or_a_missing_column_are_refused(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_run(30.0, 20.0)))
    b.write_text(json.dumps({"Frame": _run(1.0, 1.0)["Frame"]}))
    with pytest.raises(SystemExit):
        seed_table.main([str(a), str(b)])
    # a column a row has in no run is "-", one it has in some runs only is an error
    (*_, copy) = seed_table.seed_table([_run(30.0, 20.0)], ["mAP", "mAP_d1"]).splitlines()
    assert copy == "| DFF N copy | 2.0 | - |  | 2.0 |"
    partial = _run(30.0, 20.0)
    del partial["DFF (l=10)"]["mAP_d1"]
    with pytest.raises(KeyError, match="row 'DFF \\(l=10\\)': 'mAP_d1' in 1 of 2 runs"):
        seed_table.seed_table([_run(30.0, 20.0), partial], ["mAP", "mAP_d1"])
