#!/usr/bin/env python
"""The main job on the embedded synthetic default (the README's first command).

1. Table 2: the complexity ratios of Eq. 6 measured from the code (FLOPs), next to the paper's.
2. Flow pre-training: FlowNet Half on a synthetic set in the Flying Chairs layout (Sec. 4),
   shared by both plugins (their scale fields start anew, Sec. 3).
3. Table 4 in miniature for both tasks, the two plugins side by side (one CPU thread each):
   segmentation with the MMSegmentation plugin on the synthetic Cityscapes-layout set
   (``python tools/table4.py seg --quick``, l = 5) and detection with the Detectron2 plugin on
   the synthetic ImageNet-VID-layout set at 192x256 (``python tools/table4.py det`` with
   the ``_192`` config, l = 10; on the 6x8 feature maps of 96x128 frames not even the exact
   motion beats copying the key frame's features, so there is nothing for a flow to show).
   Each writes its set, trains Frame and DFF with its framework's runner, evaluates them with
   its framework's evaluator; the two logs stream here prefixed ``[seg]`` / ``[det]``.
4. One table: accuracy and frames per second of Frame, DFF, feature copying and SFF, both tasks;
   with ``--seeds 0 1 2``, everything (data, flow pre-training, training) once per seed and the
   accuracy as mean +- standard deviation. A seed gives the same numbers on the same machine
   (one thread per task, deterministic algorithms; ``dff_common.reproducibility``).

Everything is written under ``--work-dir`` (default ``work_dirs/demo``) and ``datasets/``;
existing checkpoints are reused, never overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from analysis_tools.pretrain_step import pretrain_flow
from dff_common.reproducibility import over_seeds

ROOT = Path(__file__).resolve().parents[1]
DETECTION_CONFIG = "configs/dff_detectron2/Synthetic_DFF_RFCN_R50_FlowNetHalf_192.yaml"
DETECTION_SIZE = (192, 256)


def run(step: str, command: list[str]) -> None:
    """Run one step in the foreground."""
    print(f"\n=== {step}\n$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"=== {step}: done in {time.perf_counter() - start:.0f} s", flush=True)


def run_side_by_side(jobs: dict[str, list[str]], log_dir: Path) -> None:
    """Run ``{name: command}`` concurrently on one thread each, streaming prefixed output.

    Raises:
        RuntimeError: naming the jobs that failed and their logs.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    lock, procs, threads = threading.Lock(), {}, []

    def pump(name, proc, log):
        for line in proc.stdout:
            log.write(line)
            with lock:
                print(f"[{name}] {line}", end="", flush=True)

    logs = {}
    for name, command in jobs.items():
        print(f"$ {' '.join(command)}  (log: {log_dir / (name + '.log')})", flush=True)
        logs[name] = open(log_dir / f"{name}.log", "w")
        procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, bufsize=1,
        )  # fmt: skip
        threads.append(threading.Thread(target=pump, args=(name, procs[name], logs[name])))
        threads[-1].start()
    for thread in threads:
        thread.join()
    failed = [name for name, proc in procs.items() if proc.wait() != 0]
    for log in logs.values():
        log.close()
    if failed:
        raise RuntimeError(f"failed: {', '.join(failed)}; see {log_dir}/<name>.log")


ROWS = (  # (label, segmentation row (or (row, metric)), detection row); None: not run there
    ("Frame (per-frame N)", "Frame", "Frame"),
    # the same N trained on single frames as long as DFF's: the row DFF is measured against
    ("Frame, trained as DFF", "Frame (+100 it)", "Frame (+150 it)"),
    ("DFF", "DFF (N from Frame)", "DFF (l=10)"),
    # segmentation: DFF's N on every frame is DFF at key distance 0
    ("DFF's N, every frame", ("DFF (N from Frame)", "mIoU_d0"), "DFF N (l=1)"),
    ("Feature copying", "Copy (zero flow)", "Copy (l=10)"),
    ("SFF (DIS flow)", "SFF (DIS flow)", "SFF-DIS (l=10)"),
    ("Exact motion (oracle F)", None, "Exact flow (l=10)"),
)


def _numbers(seg: dict, det: dict) -> dict[str, tuple]:
    """``{label: (mIoU or None, seg fps or None, mAP, det fps)}`` of one run of both tasks."""
    numbers = {}
    for label, s, d in ROWS:
        if s is None:
            miou = seg_fps = None
        elif isinstance(s, tuple):
            miou, seg_fps = seg[s[0]][s[1]], None
        else:
            miou, seg_fps = seg[s]["mIoU"], seg[s]["fps"]
        numbers[label] = (miou, seg_fps, det[d]["mAP"], det[d]["fps"])
    return numbers


def headline(per_run: list[dict[str, tuple]]) -> str:
    """What a user came for, per task: DFF's speedup over the per-frame model trained as long
    ("Frame, trained as DFF") and its accuracy cost, from the means over the runs' numbers
    (:func:`_numbers`)."""

    def mean(label: str, column: int) -> float:
        return statistics.fmean(numbers[label][column] for numbers in per_run)

    lines = ["DFF against the per-frame model trained as long (model time, batch 1, one thread):"]
    for task, (accuracy, fps), metric, interval in (
        ("segmentation", (0, 1), "mIoU", 5), ("detection", (2, 3), "VID mAP", 10),
    ):  # fmt: skip
        dff, frame = mean("DFF", accuracy), mean("Frame, trained as DFF", accuracy)
        dff_fps, frame_fps = mean("DFF", fps), mean("Frame, trained as DFF", fps)
        lines.append(
            f"  {task + f' (l = {interval})':<20} {dff_fps / frame_fps:4.1f}x faster "
            f"({dff_fps:.1f} vs {frame_fps:.1f} fps), {metric} {dff:.1f} vs {frame:.1f} "
            f"({dff - frame:+.1f})"
        )
    return "\n".join(lines)


def table(runs: list[tuple[dict, dict]]) -> str:
    """:func:`headline`, then the combined Table 4 over runs (one per seed): accuracy as
    mean +- standard deviation over the runs (the mean alone for one run), fps as the mean."""
    per_run = [_numbers(seg, det) for seg, det in runs]

    def cell(values, accuracy: bool) -> str:
        if any(v is None for v in values):
            return "-"
        return over_seeds(values) if accuracy else f"{statistics.fmean(values):.1f}"

    spread = len(runs) > 1
    width = 12 if spread else 6
    lines = [
        headline(per_run),
        "",
        f"{'':<24} {'segmentation (l = 5)':>{width + 10}}   {'detection (l = 10)':>{width + 10}}",
        f"{'method':<24} {'mIoU':>{width}} {'fps':>9}   {'VID mAP':>{width}} {'fps':>9}",
    ]
    for label, *_ in ROWS:
        columns = list(zip(*(numbers[label] for numbers in per_run)))
        miou, seg_fps, map_, det_fps = (
            cell(columns[0], True), cell(columns[1], False),
            cell(columns[2], True), cell(columns[3], False),
        )  # fmt: skip
        lines.append(f"{label:<24} {miou:>{width}} {seg_fps:>9}   {map_:>{width}} {det_fps:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="work_dirs/demo")
    parser.add_argument("--skip-table2", action="store_true")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0],
        help="one run per seed (data, flow pre-training, training); several: mean +- std",
    )  # fmt: skip
    args = parser.parse_args(argv)
    start = time.perf_counter()
    py, work = sys.executable, Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if not args.skip_table2:
        run("Table 2 (Eq. 6, FLOPs)", [py, "tools/benchmark.py", "--table2"])
    runs = []
    for seed in args.seeds:
        seed_dir = work / f"seed{seed}"
        seed_dir.mkdir(parents=True, exist_ok=True)
        flow = seed_dir / "flownet_half_synthchairs.pth"
        if not flow.is_file():
            chairs = ROOT / "datasets" / f"synthetic_chairs_64x128_seed{seed}"
            print(
                "\n=== Flow pre-training (FlowNet Half, synthetic Flying Chairs layout), "
                f"seed {seed}"
            )
            pretrain_flow(
                flow, chairs, "flownet_half", 200, make_synthetic=0 if chairs.exists() else 1000,
                synthetic_size=(64, 128), seed=seed,
            )  # fmt: skip
        seg_dir = seed_dir / "segmentation"
        det_dir = seed_dir / "detection_{}x{}".format(*DETECTION_SIZE)
        print(
            f"\n=== Table 4, segmentation (mmseg) and detection (detectron2), side by side, "
            f"seed {seed}",
            flush=True,
        )
        common = ["--seed", str(seed), "--threads", "1"]
        run_side_by_side(
            {
                "seg": [py, "tools/table4.py", "seg", "--quick", "--work-dir", str(seg_dir),
                        "--flow-checkpoint", str(flow), "--flow-net", "flownet_half", *common],
                "det": [py, "tools/table4.py", "det", "--output", str(det_dir),
                        "--config", DETECTION_CONFIG, "--size", *map(str, DETECTION_SIZE),
                        "--flow-weights", str(flow), *common],
            },
            seed_dir,
        )  # fmt: skip
        seg = json.loads((seg_dir / "results.json").read_text())
        det = json.loads((det_dir / "results.json").read_text())
        runs.append((seg, det))
        print(f"\nSeed {seed}:\n" + table([(seg, det)]), flush=True)
    seeds = ", ".join(map(str, args.seeds))
    summary = "mean +- standard deviation over seeds " if len(runs) > 1 else "seed "
    print(
        "\nTable 4 in miniature (synthetic data, segmentation frames 128x256, detection frames "
        "{}x{}; CPU, one thread per task; fps = model time per frame, batch 1; ".format(
            *DETECTION_SIZE
        )
        + f"{summary}{seeds})\n"
        + table(runs),
        flush=True,
    )
    print(
        f"\nDone in {(time.perf_counter() - start) / 60:.1f} min. Outputs: {work.resolve()} "
        f"(per seed: models, logs seg.log and det.log, results.json per task) and "
        f"{ROOT / 'datasets'} (data).",
        flush=True,
    )


if __name__ == "__main__":
    main()
