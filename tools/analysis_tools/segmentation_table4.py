"""Table 4 of the paper on the synthetic Cityscapes-layout set, on a CPU in minutes.

    python tools/table4.py seg [--work-dir work_dirs/table4] [--retrain] [--quick] [--zoo]

1. writes the synthetic set (``make_synthetic_cityscapes``: 40 train / 30 val snippets of
   30 frames, 128x256) unless present, and pre-trains the flow network on the synthetic
   Flying-Chairs-layout set with ``tools/pretrain_flow.py`` unless its checkpoint exists;
2. trains with mmengine's Runner (the configs ``configs/dff_mmseg/*synthcity*``) *Frame*
   (N on single annotated frames, 400 iterations), *DFF* from scratch (N and F end to end
   on pairs, l = 5, 400 iterations) and *DFF* with N initialised from Frame (the stand-in
   for the paper's ImageNet initialisation; +200 iterations, and Frame +200 iterations on
   single frames as its control), and from Frame, as that run, *DFF fix N* (only F trained)
   and *DFF fix F* (only N trained);
3. evaluates with the Sec. 5.2 protocol (the l pairs (k, i), k = i-l+1 .. i, of every
   annotated val frame; Frame on (i, i)) those, and with the N of Frame +200 iterations, as
   much trained as DFF's (Table 3): DFF separate (F from the flow pre-training only), feature
   copying (zero flow) and SFF (OpenCV DIS);
4. times Algorithm 1 over every frame of the val snippets (batch 1, frames already decoded
   and normalised, so only the networks are timed) and prints mIoU, mIoU per key distance
   and frames per second, with the time per frame of N_feat, F + S, W and N_task; the
   numbers also go to ``<work-dir>/results.json``.

``--quick`` (the README's demo) trains Frame 200 iterations and DFF from Frame 100 (and Frame
+100 iterations on single frames as its control, whose N copying and SFF use), on a smaller
set (20 train / 10 val snippets), and reports Frame, its control, DFF, copying and SFF only.
``--zoo`` reports the same comparison (Frame, DFF from Frame, copying) for a wrapped mmseg zoo
model instead, SegFormer MiT-B0 from its unchanged zoo config (Frame 200 iterations, DFF
100).

The runs, the steps and the timing are those of :mod:`analysis_tools.segmentation`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis_tools.segmentation import (
    DATA,
    METHODS,
    QUICK_METHODS,
    ZOO_METHODS,
    evaluate,
    load_segmentor,
    method_checkpoint,
    prepare,
    run_options,
    time_segmentor,
    train_run,
    val_snippets,
)
from dff_common.flow_nets import FLOW_NETS
from dff_common.reproducibility import seed_everything
from dff_common.timing import Timer

__all__ = ["main", "parse_args"]

RUNS = ("frame", "dff", "dff-ft", "frame-ft", "dff-fixn", "dff-fixf")
QUICK_RUNS = ("frame-quick", "dff-ft-quick", "frame-ft-quick")
ZOO_RUNS = ("frame-segformer", "dff-segformer")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Table 4 on the synthetic Cityscapes set")
    parser.add_argument("--data", help=f"default {DATA}[_quick]_seed<seed>, written if missing")
    parser.add_argument("--work-dir", help="default work_dirs/table4[_quick]_seed<seed>")
    parser.add_argument("--flow-checkpoint", default="work_dirs/flownet_synthchairs.pth")
    parser.add_argument("--flow-net", default="flownet", choices=list(FLOW_NETS))
    parser.add_argument("--retrain", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("--quick", action="store_true", help="the demo's short schedule")
    parser.add_argument("--zoo", action="store_true", help="a wrapped zoo model (SegFormer)")
    parser.add_argument("--seed", type=int, default=0, help="of the data, F and every run")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (fixed: the numbers depend on it)"
    )
    args = parser.parse_args(argv)
    suffix = ("_quick" if args.quick else "") + f"_seed{args.seed}"
    args.data = args.data or DATA + suffix
    args.work_dir = args.work_dir or "work_dirs/table4" + suffix
    return args


def main(argv=None) -> dict:
    """Run the whole comparison and print the table; returns ``{method: numbers}``."""
    args = parse_args(argv)
    settings = seed_everything(args.seed, deterministic=True, threads=args.threads)
    print(f"run: {settings}", flush=True)
    prepare(args.data, args.flow_checkpoint, args.flow_net, args.quick, args.seed)
    flow = (args.flow_net, args.flow_checkpoint)
    runs, methods = (QUICK_RUNS, QUICK_METHODS) if args.quick else (RUNS, METHODS)
    if args.zoo:
        runs, methods = ZOO_RUNS, ZOO_METHODS
    for run in runs:
        train_run(run, args.work_dir, args.data, *flow, retrain=args.retrain, seed=args.seed)
    snippets = val_snippets(args.data)
    timer = Timer()
    rows = {}
    for name, (config, run) in methods.items():
        checkpoint = method_checkpoint(config, run, args.work_dir, *flow)
        eval_dir = Path(args.work_dir) / ("eval_" + "".join(c for c in name.lower() if c.isalnum()))
        options = run_options(config, args.data, *flow, seed=args.seed)
        metrics = evaluate(config, checkpoint, eval_dir, options)
        timing = time_segmentor(load_segmentor(config, checkpoint, args.flow_net), snippets, timer)
        ms = {f"{part} ms": value for part, value in timing.ms_per_frame().items()}
        rows[name] = {**metrics, "fps": timing.fps, **ms}
    distances = sorted({k for row in rows.values() for k in row if k.startswith("mIoU_d")})
    header = f"{'method':<20s} {'mIoU':>6s} " + " ".join(f"{d[5:]:>6s}" for d in distances)
    header += f" {'fps':>7s} {'N_feat':>7s} {'F+S':>7s} {'W':>7s} {'N_task':>7s}  (ms/frame)"
    lines = [header]
    for name, row in rows.items():
        cells = " ".join(f"{row[d]:>6.2f}" if d in row else f"{'-':>6s}" for d in distances)
        lines.append(
            f"{name:<20s} {row['mIoU']:>6.2f} {cells} {row['fps']:>7.2f} {row['N_feat ms']:>7.1f} "
            f"{row['F+S ms']:>7.1f} {row['W ms']:>7.1f} {row['N_task ms']:>7.1f}"
        )
    print(
        f"\nTable 4 (synthetic Cityscapes layout, l = 5, CPU; {settings})\n" + "\n".join(lines),
        flush=True,
    )
    results = Path(args.work_dir) / "results.json"
    results.write_text(json.dumps(rows, indent=1, default=float))  # numpy floats
    print(f"results: {results}", flush=True)
    return rows


if __name__ == "__main__":
    main()
