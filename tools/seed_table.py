#!/usr/bin/env python
"""Markdown tables of one Table 4 run per seed: mean +- standard deviation over the seeds.

Reads the ``results.json`` that ``python tools/table4.py det`` (or
``analysis_tools.segmentation_table4``)
writes, one per seed, and prints the tables of the READMEs: per row, the mean +- sample
standard deviation of each column over the runs, the mean fps and each seed's value of the
first column; then the mean of each key distance's accuracy (``mAP_d0``, ``mAP_d1``, ...) of
the rows that have them.

    python tools/seed_table.py work_dirs/demo/seed{0,1,2}/detection_192x256/results.json \\
        [--columns mAP mAP_slow mAP_medium mAP_fast] [--distances mAP_d]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from dff_common.reproducibility import over_seeds


def seed_table(runs: list[dict], columns: list[str]) -> str:
    """Rows of the first run, in its order: each column as mean +- std over ``runs`` ("-"
    where the row has none), the mean fps (blank where it has none) and the per-seed values of
    ``columns[0]``.

    Raises:
        KeyError: naming the row and the column that some runs have and others not.
    """
    header = [
        "method",
        *(c.removeprefix("mAP_").removeprefix("mIoU_") for c in columns),
        "fps",
        "per seed",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---|" * len(columns) + "---:|---|"]
    for row in runs[0]:
        cells, per_column = [row], []
        for column in columns:
            values = [run[row][column] for run in runs if column in run[row]]
            if values and len(values) < len(runs):
                raise KeyError(f"row {row!r}: {column!r} in {len(values)} of {len(runs)} runs")
            cells.append(over_seeds(values) if values else "-")
            per_column.append(values)
        fps = [run[row]["fps"] for run in runs if "fps" in run[row]]
        cells.append(f"{statistics.fmean(fps):.1f}" if len(fps) == len(runs) else "")
        cells.append(" / ".join(f"{v:.1f}" for v in per_column[0]) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def distance_table(runs: list[dict], prefix: str = "mAP_d") -> str:
    """The mean over ``runs`` of each key distance's accuracy (``prefix`` + d), for the rows
    that have one in every run; "" when none has."""
    rows = [row for row in runs[0] if all(f"{prefix}0" in run.get(row, {}) for run in runs)]
    if not rows:
        return ""
    keys = [k for k in runs[0][rows[0]] if k.startswith(prefix) and k[len(prefix) :].isdigit()]
    keys.sort(key=lambda k: int(k[len(prefix) :]))
    lines = [
        "| method | " + " | ".join(f"d{k[len(prefix) :]}" for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for row in rows:
        means = (statistics.fmean(run[row][k] for run in runs) for k in keys)
        lines.append(f"| {row} | " + " | ".join(f"{m:.1f}" for m in means) + " |")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", help="results.json of each seed's run")
    parser.add_argument(
        "--columns", nargs="+", default=["mAP", "mAP_slow", "mAP_medium", "mAP_fast"]
    )
    parser.add_argument("--distances", default="mAP_d", help="prefix of the per-d accuracies")
    args = parser.parse_args(argv)
    runs = []
    for path in args.results:
        run = json.loads(Path(path).read_text())
        if runs and list(run) != list(runs[0]):
            parser.error(
                f"{path}: rows {list(run)} differ from {args.results[0]}'s {list(runs[0])}"
            )
        runs.append(run)
    text = seed_table(runs, args.columns)
    distances = distance_table(runs, args.distances)
    text += f"\n\n{distances}" if distances else ""
    print(text)
    return text


if __name__ == "__main__":
    main()
