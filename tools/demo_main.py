#!/usr/bin/env python
"""The main job on the embedded synthetic default (README's first command).

1. Table 2: the complexity ratios of Eq. 6 measured from the code (FLOPs), next to the paper's.
2. Segmentation (MMSegmentation plugin): Table 4 in miniature on the synthetic Cityscapes-layout
   set, written first (``python -m dff_mmseg.table4``, which also pre-trains its flow network
   on the synthetic Flying-Chairs-layout set when its checkpoint is missing).
3. Detection (Detectron2 plugin): Table 4 in miniature on the synthetic ImageNet-VID-layout set
   (``python -m dff_detectron2.table4``), after pre-training FlowNet Half on the synthetic
   Flying-Chairs-layout set when its checkpoint is missing.

Everything is written under ``--work-dir`` (default ``work_dirs``) and ``datasets/``; existing
checkpoints are reused, never overwritten.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(step: str, command: list[str]) -> None:
    print(f"\n=== {step}\n$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"=== {step}: done in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="work_dirs")
    parser.add_argument("--skip", nargs="*", default=[], choices=["table2", "seg", "det"])
    args = parser.parse_args(argv)
    py, work = sys.executable, Path(args.work_dir)
    if "table2" not in args.skip:
        run("Table 2 (Eq. 6, FLOPs)", [py, "tools/benchmark.py", "--table2"])
    if "seg" not in args.skip:
        run(
            "Table 4, segmentation (synthetic Cityscapes layout, l = 5)",
            [py, "-m", "dff_mmseg.table4", "--work-dir", str(work / "dff_mmseg" / "table4"),
             "--flow-checkpoint", str(work / "flownet_synthchairs.pth")],
        )  # fmt: skip
    if "det" not in args.skip:
        flow = work / "dff_detectron2" / "flownet_half_synthchairs.pth"
        if not flow.is_file():
            chairs = ROOT / "datasets" / "synthetic_chairs_64x96"
            make = [] if chairs.exists() else ["--make-synthetic", "2000"]
            run(
                "Flow pre-training (FlowNet Half, synthetic Flying Chairs layout)",
                [py, "tools/pretrain_flow.py", "--data", str(chairs), *make,
                 "--synthetic-size", "64", "96", "--flow-net", "flownet_half",
                 "--iters", "200", "--output", str(flow)],
            )  # fmt: skip
        run(
            "Table 4, detection (synthetic ImageNet VID layout, l = 10)",
            [py, "-m", "dff_detectron2.table4", "--flow-weights", str(flow),
             "--output", str(work / "dff_detectron2" / "table4")],
        )  # fmt: skip
    print(f"\nOutputs: {work.resolve()} (models, logs, tables) and {ROOT / 'datasets'} (data).")


if __name__ == "__main__":
    main()
