#!/usr/bin/env python
"""Figure 3 of Zhu et al. (CVPR 2017) in miniature: accuracy versus speedup of DFF, swept over
the key frame duration l (Sec. 5.2, "Accuracy-Speedup Tradeoff") and the flow network F.

    python tools/figure3.py [--task seg] [--intervals 1 2 ... 10] [--retrain] [--overwrite]
    python tools/figure3.py --task det [--det-table4-dir work_dirs/dff_detectron2/table4]

Writes the figure (x: speedup over the per-frame network *Frame*, y: mIoU or mAP; one colour
per flow network; solid: measured speedup of timed Algorithm 1 runs; dashed: Eq. 7 with r of
Eq. 5 from measured part times; dotted: Eq. 7 with r of Eq. 5 from multiply-adds) to
``--output``, the numbers to ``.json`` and ``.csv`` next to it, and prints a table.

The sweeps are :func:`analysis_tools.segmentation_figure3.sweep` (segmentation, on the synthetic
Cityscapes-layout set of ``analysis_tools.segmentation_table4``: Sec. 5.2 mIoU at every l from one
evaluation,
Algorithm 1 timed per part in interleaved rounds) and :func:`analysis_tools.detection_figure3.sweep`
(detection, on the synthetic ImageNet-VID-layout set of ``analysis_tools.detection_table4``, run it
first: VID mAP and model fps from detectron2's evaluator at every l, r from the parts timed
alone). F other than the plugins' own is pre-trained on the synthetic Flying-Chairs-layout
set (:func:`analysis_tools.pretrain_step.pretrain_flow`) into ``--work-dir``.
"""

# ruff: noqa: E741 (l is the paper's key frame duration length)
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from analysis_tools.pretrain_step import pretrain_flow
from dff_common.complexity import speedup
from dff_common.flow_nets import FLOW_NETS

LOG = logging.getLogger("figure3")
# the speedups of a curve: row key -> (line style, legend)
SPEEDUPS = {
    "speedup": ("-", "measured (Algorithm 1 timed)"),
    "speedup_eq7_time": ("--", "Eq. 7, r from part times"),
    "speedup_eq7_macs": (":", "Eq. 7, r from MACs"),
}


def curve_rows(
    accuracy: dict[int, float],
    fps: dict[int, float],
    frame_fps: float,
    r_time: float,
    r_macs: float,
) -> list[dict]:
    """One row per interval l: accuracy, fps, measured speedup and the Eq. 7 speedups.

    Args:
        accuracy (dict[int, float]): l -> mIoU or mAP (%).
        fps (dict[int, float]): l -> frames per second of Algorithm 1 at l.
        frame_fps (float): frames per second of the per-frame network (Frame).
        r_time (float): r of Eq. 5 from measured component times.
        r_macs (float): r of Eq. 5 from multiply-adds.

    Returns:
        list[dict]: rows ``{"l", "accuracy", "fps", "speedup", "speedup_eq7_time",
        "speedup_eq7_macs"}``, l ascending.
    """
    return [
        {
            "l": l,
            "accuracy": accuracy[l],
            "fps": fps[l],
            "speedup": fps[l] / frame_fps,
            "speedup_eq7_time": speedup(r_time, l),
            "speedup_eq7_macs": speedup(r_macs, l),
        }
        for l in sorted(fps)
    ]


def plot_figure3(results: dict, path: Path) -> None:
    """Draw accuracy versus speedup, one colour per flow network (see the module docstring).

    Args:
        results (dict): ``{"task", "metric", "title", "frame": {"accuracy"}, "curves":
            {flow_net: {"rows": curve_rows(...)}}}``.
        path (Path): PNG to write.
    """
    fig = Figure(figsize=(7, 5), dpi=150)
    ax = fig.add_subplot()
    colors = dict(zip(FLOW_NETS, ("tab:blue", "tab:orange", "tab:green")))
    for name, curve in results["curves"].items():
        rows = curve["rows"]
        for key, (style, _) in SPEEDUPS.items():
            ax.plot(
                [row[key] for row in rows],
                [row["accuracy"] for row in rows],
                style,
                color=colors.get(name),
                marker="o" if key == "speedup" else None,
                markersize=3,
                label=name if key == "speedup" else None,
            )
        for row in rows:
            if row["l"] in (1, 5, 10, 20) or row is rows[-1]:
                ax.annotate(
                    f"l={row['l']}",
                    (row["speedup"], row["accuracy"]),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=6,
                    color=colors.get(name),
                )
    ax.plot([1], [results["frame"]["accuracy"]], "k*", markersize=10, label="Frame")
    for style, label in SPEEDUPS.values():
        ax.plot([], [], style, color="gray", label=label)
    ax.set_xlabel("speedup over Frame (per-frame network)")
    ax.set_ylabel(f"{results['metric']} (%)")
    ax.set_title(results["title"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def format_table(results: dict) -> str:
    """The numbers of ``results`` as a text table."""
    metric = results["metric"]
    lines = [results["title"], f"Frame: {metric} {results['frame']['accuracy']:.2f}"]
    header = f"{'flow net':<18} {'l':>3} {metric:>6} {'fps':>7} {'speedup':>8} {'Eq7 t':>6}"
    header += f" {'Eq7 MACs':>8}"
    for name, curve in results["curves"].items():
        lines += [
            f"{name}: r = {curve['r_time']:.3f} (time), {curve['r_macs']:.3f} (MACs); "
            f"Frame {curve['frame_fps']:.2f} fps",
            header,
        ]
        for row in curve["rows"]:
            lines.append(
                f"{name:<18} {row['l']:>3} {row['accuracy']:>6.2f} {row['fps']:>7.2f} "
                f"{row['speedup']:>8.2f} {row['speedup_eq7_time']:>6.2f} "
                f"{row['speedup_eq7_macs']:>8.2f}"
            )
    return "\n".join(lines)


def write_outputs(results: dict, png: Path) -> None:
    """JSON (everything), CSV (one row per flow network and l) and the PNG, side by side."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.with_suffix(".json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    rows = [
        {"flow_net": name, **row, "r_time": curve["r_time"], "r_macs": curve["r_macs"]}
        for name, curve in results["curves"].items()
        for row in curve["rows"]
    ]
    with png.with_suffix(".csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_figure3(results, png)


def flow_checkpoint(name: str, args: argparse.Namespace) -> str:
    """F = ``name`` pre-trained on the Flying Chairs layout (Sec. 4): FlowNet's is
    ``analysis_tools.segmentation_table4``'s ``--flow-checkpoint``, the others are trained into
    ``--work-dir``
    when missing."""
    if name == "flownet":
        return args.flow_checkpoint
    path = Path(args.work_dir) / f"{name}_synthchairs.pth"
    iters = args.pretrain_iters
    return str(
        pretrain_flow(path, args.chairs, name, iters, eval_every=iters, retrain=args.retrain)
    )


def with_rows(results: dict) -> dict:
    """``results`` of a sweep with each curve's ``accuracy`` / ``fps`` per l (and its
    ``row_extras``) turned into ``rows`` by :func:`curve_rows`."""
    curves = {}
    for name, curve in results["curves"].items():
        curve = dict(curve)
        extras = curve.pop("row_extras", {})
        accuracy, fps = curve.pop("accuracy"), curve.pop("fps")
        rows = curve_rows(accuracy, fps, curve["frame_fps"], curve["r_time"], curve["r_macs"])
        curves[name] = {**curve, "rows": [{**row, **extras.get(row["l"], {})} for row in rows]}
    return {**results, "curves": curves}


def run_sweep(args: argparse.Namespace) -> dict:
    """The sweep of ``--task`` (``analysis_tools.segmentation_figure3`` or
    ``analysis_tools.detection_figure3``), with rows.

    Raises:
        SystemExit: a detection model to sweep is missing (run ``analysis_tools.detection_table4``).
    """
    intervals = sorted(args.intervals)
    if args.task == "seg":
        from analysis_tools.segmentation_figure3 import sweep

        results = sweep(
            args.data, args.table4_dir, args.work_dir, args.flow_nets, intervals,
            lambda name: flow_checkpoint(name, args), args.time_snippets, args.time_repeats,
            args.retrain,
        )  # fmt: skip
    else:
        from analysis_tools.detection_figure3 import sweep

        try:
            results = sweep(
                args.det_data, args.det_table4_dir, args.work_dir, args.flow_nets, intervals,
                lambda name: flow_checkpoint(name, args), args.det_dff_iters,
                args.det_frame_weights, dict(item.split("=", 1) for item in args.det_dff_weights),
                args.retrain,
            )  # fmt: skip
        except FileNotFoundError as error:
            raise SystemExit(str(error)) from error
    return with_rows(results)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("seg", "det"), default="seg")
    parser.add_argument("--output", help="PNG (default docs/figure3_{segmentation,detection}.png)")
    parser.add_argument(
        "--intervals", type=int, nargs="+", help="key frame durations l (1..10 seg, 1..20 det)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train Frame, the DFF runs and the Half/Inception pre-training again",
    )
    parser.add_argument("--plot-only", action="store_true", help="redraw the PNG from its .json")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--work-dir", default="work_dirs/figure3")
    parser.add_argument("--flow-nets", nargs="+", choices=list(FLOW_NETS), default=list(FLOW_NETS))
    parser.add_argument(
        "--flow-checkpoint", default="work_dirs/flownet_synthchairs.pth", help="FlowNet's"
    )
    parser.add_argument("--chairs", default="datasets/synthetic_chairs", help="to pre-train F")
    parser.add_argument("--pretrain-iters", type=int, default=150)
    seg = parser.add_argument_group("segmentation")
    seg.add_argument("--data", default="datasets/synthetic_cityscapes")
    seg.add_argument(
        "--table4-dir", default="work_dirs/table4", help="analysis_tools.segmentation_table4's runs"
    )
    seg.add_argument("--time-snippets", type=int, default=6, help="val snippets timed per l")
    seg.add_argument(
        "--time-repeats",
        type=int,
        default=2,
        help="timings per l (the median kept; of 2, the faster)",
    )
    det = parser.add_argument_group("detection")
    det.add_argument("--det-data", default="datasets/synthetic_vid_64x20")
    det.add_argument(
        "--det-table4-dir", default="work_dirs/dff_detectron2/table4", help="its frame/, dff/"
    )
    det.add_argument("--det-frame-weights", help="default <det-table4-dir>/frame/model_final.pth")
    det.add_argument("--det-dff-weights", nargs="+", default=[], metavar="FLOW_NET=CHECKPOINT")
    det.add_argument(
        "--det-dff-iters", type=int, default=150, help="as analysis_tools.detection_table4"
    )
    args = parser.parse_args(argv)
    args.output = Path(
        args.output or f"docs/figure3_{dict(seg='segmentation', det='detection')[args.task]}.png"
    )
    args.intervals = args.intervals or list(range(1, 11 if args.task == "seg" else 21))
    return args


def main(argv=None) -> dict:
    """Run the sweep of ``--task``, write the outputs and print the table; the results dict."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s figure3: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    outputs = [args.output.with_suffix(s) for s in (".png", ".json", ".csv")]
    if args.plot_only:
        results = json.loads(outputs[1].read_text())
        outputs = outputs[:1]
    if any(p.exists() for p in outputs) and not args.overwrite:
        raise SystemExit(f"{[str(p) for p in outputs if p.exists()]} exist (pass --overwrite)")
    if args.plot_only:
        plot_figure3(results, args.output)
        return results
    start = time.perf_counter()
    results = run_sweep(args)
    metric = "mIoU" if args.task == "seg" else "mAP"
    results.update(
        task=args.task, metric=metric, command=" ".join(sys.argv), threads=torch.get_num_threads(),
        minutes=(time.perf_counter() - start) / 60,
        title=f"Figure 3 in miniature, CPU ({args.threads} thread)\n{results['setting']}",
    )  # fmt: skip
    write_outputs(results, args.output)
    print(format_table(results), flush=True)
    LOG.info("wrote %s (+ .json, .csv) in %.1f min", args.output, results["minutes"])
    return results


if __name__ == "__main__":
    main()
