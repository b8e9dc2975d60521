#!/usr/bin/env python
"""Figure 3 of Zhu et al. (CVPR 2017) in miniature: accuracy versus speedup of DFF, swept over
the key frame duration l (Sec. 5.2, "Accuracy-Speedup Tradeoff") and the flow network F.

    python tools/figure3.py [--task seg] [--intervals 1 2 ... 10] [--retrain] [--overwrite]
    python tools/figure3.py --task det [--det-table4-dir work_dirs/dff_detectron2/table4]

Writes the figure (x: speedup over the per-frame network *Frame*, y: mIoU or mAP; one colour
per flow network; solid: measured speedup of timed Algorithm 1 runs; dashed: Eq. 7 with r of
Eq. 5 from measured component times; dotted: Eq. 7 with r of Eq. 5 from multiply-adds) to
``--output``, the numbers to ``.json`` and ``.csv`` next to it, and prints a table.

Segmentation, on the synthetic Cityscapes-layout set of ``dff_mmseg.table4``:

- models: Frame and DFF-from-Frame with FlowNet are that script's runs (reused; trained there
  when missing); for FlowNet Half and FlowNet Inception, F is pre-trained on the synthetic
  Flying-Chairs-layout set with ``tools/pretrain_flow.py`` and DFF is fine-tuned from the
  Frame checkpoint as the "dff-ft" run, F swapped. Existing checkpoints are reused unless
  ``--retrain``.
- accuracy: one Sec. 5.2 evaluation at ``L = max(--intervals)`` scores the L pairs
  ``(k, i)``, ``k = i-L+1 .. i``, of every annotated frame. With a key frame every l frames
  a frame is ``d = 0 .. l-1`` frames past its key frame, each equally often, so the mIoU at
  interval l is the mIoU over the pooled pairs of distances ``d < l`` (``IntervalIoUMetric``),
  exactly what an evaluation at l reports.
- speed: Algorithm 1 (``dff_common.engine`` with ``FixedIntervalScheduler``) timed by
  ``dff_mmseg.table4.time_algorithm_1`` on the first ``--time-snippets`` val snippets at
  every l and Frame as the reference, in ``--time-repeats`` interleaved rounds, the fastest
  kept; r (Eq. 5) from the same runs' part times (``time_ratio``) and from multiply-adds
  (``dff_common.complexity.measure_complexity``).

Detection (``--task det``), on the synthetic ImageNet-VID-layout set of
``dff_detectron2.table4`` (run it first): its Frame and FlowNet Half DFF models (or
``--det-frame-weights`` / ``--det-dff-weights``); DFF with FlowNet and FlowNet Inception
fine-tuned from that Frame model as its DFF run, F pre-trained as for segmentation. Each is
evaluated with detectron2's evaluator (``dff_detectron2.table4.evaluate``, VID mAP and model
fps) at every l (``MODEL.DFF.KEY_FRAME_INTERVAL``); r from ``component_costs``.
"""

# ruff: noqa: E741 (l is the paper's key frame duration length)
from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from matplotlib.figure import Figure
from mmseg.registry import METRICS

from dff_common.complexity import complexity_ratio, measure_complexity, speedup
from dff_mmseg import table4
from dff_mmseg.evaluation import KeyDistanceIoUMetric

LOG = logging.getLogger("figure3")
FLOW_NETS = ("flownet", "flownet_half", "flownet_inception")
TOOLS = Path(__file__).resolve().parent
# the speedups of a curve: row key -> (line style, legend)
SPEEDUPS = {
    "speedup": ("-", "measured (Algorithm 1 timed)"),
    "speedup_eq7_time": ("--", "Eq. 7, r from component times"),
    "speedup_eq7_macs": (":", "Eq. 7, r from MACs"),
}


def interval_miou(intersect: np.ndarray, union: np.ndarray) -> np.ndarray:
    """mIoU (%) at key frame interval l = 1 .. D from the areas of each key distance.

    Args:
        intersect (np.ndarray): ``(D, C)`` intersection areas per key distance d = 0 .. D-1
            and class (C classes), summed over the pairs of that distance.
        union (np.ndarray): ``(D, C)`` union areas.

    Returns:
        np.ndarray: ``(D,)``, entry ``l - 1`` is the mIoU over the pooled pairs of distances
        ``0 .. l-1``; classes with an empty union are left out, as in mmseg's ``IoUMetric``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.cumsum(intersect, axis=0) / np.cumsum(union, axis=0)  # [D, C]
    return 100 * np.nanmean(iou, axis=1)


@METRICS.register_module()
class IntervalIoUMetric(KeyDistanceIoUMetric):
    """``KeyDistanceIoUMetric`` plus ``mIoU_l{l}``, the mIoU at key frame interval l.

    ``mIoU_l{l}`` pools the pairs of key distances ``0 .. l-1`` (``interval_miou``): evaluated
    with interval L it gives the Sec. 5.2 mIoU of every interval l <= L (``mIoU_l1`` equals
    ``mIoU_d0`` and ``mIoU_l{L}`` the overall ``mIoU``).
    """

    def compute_metrics(self, results: list) -> dict[str, float]:
        """The parent's metrics and ``mIoU_l{l}`` for l = 1 .. L."""
        metrics = super().compute_metrics(results)
        distances = sorted({r[4] for r in results})
        if distances != list(range(len(distances))):
            raise ValueError(f"key distances {distances} are not 0 .. L-1")
        intersect, union = (
            np.stack(
                [torch.stack([r[j] for r in results if r[4] == d]).sum(0) for d in distances]
            ).astype(np.float64)
            for j in (0, 1)
        )
        for l, miou in enumerate(interval_miou(intersect, union), start=1):
            metrics[f"mIoU_l{l}"] = round(float(miou), 2)
        return metrics


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


# ---------------------------------------------------------------------------- segmentation
def _table4_args(args: argparse.Namespace) -> argparse.Namespace:
    argv = ["--data", args.data, "--work-dir", args.table4_dir]
    argv += ["--flow-checkpoint", args.flow_checkpoint] + ["--retrain"] * args.retrain
    return table4.parse_args(argv)


def pretrain_flow(name: str, args: argparse.Namespace) -> str:
    """Flying-Chairs pre-training of F (Sec. 4) with ``tools/pretrain_flow.py``; its file."""
    if name == "flownet":  # dff_mmseg.table4's
        return args.flow_checkpoint
    path = Path(args.work_dir) / f"{name}_synthchairs.pth"
    if args.retrain or not path.is_file():
        command = [
            sys.executable, str(TOOLS / "pretrain_flow.py"), f"--data={args.chairs}",
            f"--flow-net={name}", "--norm=BN", f"--iters={args.pretrain_iters}",
            "--batch-size=16", f"--eval-every={args.pretrain_iters}", f"--output={path}",
            "--overwrite",
        ]  # fmt: skip
        LOG.info("pre-training %s: %s", name, " ".join(command))
        subprocess.run(command, check=True)
    return str(path)


def finetune(name: str, flow_checkpoint: str, args: argparse.Namespace) -> str:
    """DFF with F = ``name``, fine-tuned from Frame as ``dff_mmseg.table4``'s "dff-ft" run."""
    from dff_mmseg.train import main as main_train

    t4 = _table4_args(args)
    if name == "flownet":
        return str(table4.train("dff-ft", t4))
    config, iters, init = table4.TRAININGS["dff-ft"]
    checkpoint = Path(args.work_dir) / f"dff-ft_{name}" / f"iter_{iters}.pth"
    if args.retrain or not checkpoint.is_file():
        LOG.info("fine-tuning DFF with %s (%d iterations) -> %s", name, iters, checkpoint)
        opts = table4.options(
            SimpleNamespace(data=args.data, flow_checkpoint=flow_checkpoint, flow_net=name), config
        )
        opts += [f"model.flow_net.name={name}", f"load_from={table4.checkpoint_of(init, t4)}"]
        main_train([str(table4.CONFIGS / config), "--work-dir", str(checkpoint.parent), *opts])
    return str(checkpoint)


def evaluate_pairs(
    config: str, checkpoint: str, flow: tuple[str, str] | None, interval: int, args
) -> dict:
    """Sec. 5.2 metrics at ``interval`` (``IntervalIoUMetric``) through the Runner's test loop.

    ``flow`` is ``(flow net name, its pre-training checkpoint)``, None for Frame.
    """
    from dff_mmseg.train import main as main_train

    name = flow[0] if flow else "frame"
    run = SimpleNamespace(data=args.data, flow_net=name, flow_checkpoint=flow and flow[1])
    opts = table4.options(run, config)
    opts += [
        f"model.interval={interval}",
        f"test_dataloader.dataset.interval={interval}",
        "test_evaluator.type=IntervalIoUMetric",
    ] + ([f"model.flow_net.name={name}"] if flow else [])
    work_dir = str(Path(args.work_dir) / f"eval_{name}")
    argv = [str(table4.CONFIGS / config), "--eval-only", "--checkpoint", checkpoint]
    return main_train([*argv, "--work-dir", work_dir, *opts])


def load_segmentor(config: str, checkpoint: str, flow_net: str | None):
    """The ``DFFSegmentor`` of ``config`` (F swapped to ``flow_net``) with trained weights."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    cfg = Config.fromfile(table4.CONFIGS / config)
    if flow_net:
        cfg.model.flow_net.update(name=flow_net, checkpoint=None)  # F's weights: checkpoint
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location="cpu", logger="silent")
    return model.eval()


def time_ratio(timings: dict[int, dict], lengths: list[int]) -> float:
    """r of Eq. 5 from ``time_algorithm_1``'s per-part times: F + S + W (and N_task) per
    non-key frame over N_feat (and N_task) per key frame, pooled over all intervals.

    Args:
        timings (dict[int, dict]): l -> ``time_algorithm_1`` output (ms per frame averaged
            over all frames of the snippets).
        lengths (list[int]): frames of each timed snippet (key frames at 0, l, 2l, ...).

    Returns:
        float: r.
    """
    frames = sum(lengths)
    keys = {l: sum(math.ceil(n / l) for n in lengths) for l in timings}
    feat = sum(t["N_feat ms"] * frames for t in timings.values()) / sum(keys.values())
    flow = sum(t["F + W ms"] * frames for t in timings.values())
    flow /= sum(frames - k for k in keys.values())
    task = np.mean([t["N_task ms"] for t in timings.values()])
    return (flow + task) / (feat + task)


def time_sweep(model, frame_model, snippets: list, intervals: list[int], repeats: int):
    """Best of ``repeats`` timings of Algorithm 1 at every l, and of Frame, interleaved so
    that a drifting load on the shared CPU hits all of them.

    Returns:
        tuple[dict[int, dict], float]: l -> ``time_algorithm_1`` output, and Frame's fps.
    """
    runs = []
    for repeat in range(repeats):
        frame_fps = table4.time_algorithm_1(frame_model, snippets)["fps"]
        runs.append({0: {"fps": frame_fps}})
        for l in intervals:
            model.interval = l
            runs[-1][l] = table4.time_algorithm_1(model, snippets)
            LOG.info(
                "round %d, l = %d: %.2f fps (Frame %.2f)",
                repeat + 1,
                l,
                runs[-1][l]["fps"],
                frame_fps,
            )
    best = {l: max((run[l] for run in runs), key=lambda t: t["fps"]) for l in runs[0]}
    return best, best.pop(0)["fps"]


def run_segmentation(args: argparse.Namespace, intervals: list[int]) -> dict:
    """Train what is missing, evaluate once at max(l), time every l; the results dict."""
    frame_config, _ = table4.METHODS["Frame"]
    dff_config, _ = table4.METHODS["DFF (N from Frame)"]
    t4 = _table4_args(args)
    table4.prepare(t4)
    frame_checkpoint = str(table4.train("frame", t4))
    snippets = table4.val_snippets(t4)[: args.time_snippets]
    lengths = [len(s) for s in snippets]
    frame_accuracy = float(evaluate_pairs(frame_config, frame_checkpoint, None, 1, args)["mIoU"])
    frame_model = load_segmentor(frame_config, frame_checkpoint, None)
    trained = {}
    for name in args.flow_nets:
        flow_checkpoint = pretrain_flow(name, args)
        trained[name] = flow_checkpoint, finetune(name, flow_checkpoint, args)
    curves = {}
    for name, (flow_checkpoint, checkpoint) in trained.items():
        LOG.info("%s: evaluating %s at l = %d", name, checkpoint, max(intervals))
        metrics = evaluate_pairs(
            dff_config, checkpoint, (name, flow_checkpoint), max(intervals), args
        )
        model = load_segmentor(dff_config, checkpoint, name)
        best, frame_fps = time_sweep(model, frame_model, snippets, intervals, args.time_repeats)
        report = measure_complexity(
            model.n_feat(), model.propagation.flow_net, model.n_task(),
            snippets[0].shape[-2:], model.propagation.flow_input_scale,
        )  # fmt: skip
        per_distance = [metrics[f"mIoU_d{d}"] for d in range(max(intervals))]
        r_time, r_macs = time_ratio(best, lengths), complexity_ratio(report)
        accuracy = {l: metrics[f"mIoU_l{l}"] for l in intervals}
        fps = {l: t["fps"] for l, t in best.items()}
        rows = curve_rows(accuracy, fps, frame_fps, r_time, r_macs)
        for row in rows:  # for comparison: the plain mean of the per-distance mIoUs
            row["accuracy_mean_of_distances"] = float(np.mean(per_distance[: row["l"]]))
            row.update({k: v for k, v in best[row["l"]].items() if k != "fps"})
        pretrain = torch.load(flow_checkpoint, map_location="cpu", weights_only=True)["meta"]
        curves[name] = {
            "checkpoint": checkpoint,
            "flow_pretrain": {k: pretrain[k] for k in ("iters", "epe", "zero_flow_epe")},
            "r_time": r_time,
            "r_macs": r_macs,
            "frame_fps": frame_fps,
            "mIoU_per_distance": per_distance,
            "rows": rows,
        }
    return {
        "frame": {"accuracy": frame_accuracy, "checkpoint": frame_checkpoint},
        "curves": curves,
        "setting": f"synthetic Cityscapes layout, mIoU of {max(intervals)} pairs per val snippet,"
        f" {sum(lengths)} frames timed",
    }


# ------------------------------------------------------------------------------- detection
def finetune_detection(name: str, frame_weights: str, args: argparse.Namespace) -> str:
    """DFF with F = ``name`` fine-tuned from the Frame detector as ``dff_detectron2.table4``'s
    DFF run (same iterations and lr); F pre-trained by ``pretrain_flow``. Its checkpoint."""
    from dff_detectron2 import table4 as det

    output = Path(args.work_dir) / f"det_dff_{name}"
    checkpoint = output / "model_final.pth"
    if args.retrain or not checkpoint.is_file():
        flow = pretrain_flow(name, args)
        run = SimpleNamespace(flow_weights=flow, interval=10, seed=0)
        base = det._cfg(run, str(output))
        cfg = det._cfg(
            run, str(output), "SOLVER.MAX_ITER", args.det_dff_iters,
            "SOLVER.BASE_LR", base.SOLVER.BASE_LR / 10,
            "SOLVER.STEPS", (int(0.75 * args.det_dff_iters),), "SOLVER.WARMUP_ITERS", 0,
            "MODEL.WEIGHTS", frame_weights,
        )  # fmt: skip
        LOG.info("fine-tuning DFF detection with %s from %s -> %s", name, frame_weights, output)
        det._train(cfg, retrain=True)
    return str(checkpoint)


def run_detection(args: argparse.Namespace, intervals: list[int]) -> dict:
    """Frame once, DFF with each flow network at every l, through detectron2's evaluator.

    Frame and the FlowNet Half DFF are ``dff_detectron2.table4``'s runs in ``--det-table4-dir``
    unless given; DFF with another F is fine-tuned from that Frame model when missing.
    """
    from detectron2.utils.logger import setup_logger

    from dff_detectron2 import table4 as det
    from dff_detectron2.datasets import register_imagenet_vid
    from dff_detectron2.train_net import Trainer

    table4_dir = Path(args.det_table4_dir)
    frame_weights = args.det_frame_weights or str(table4_dir / "frame" / "model_final.pth")
    given = dict(item.split("=", 1) for item in args.det_dff_weights)
    if "flownet_half" not in given and (table4_dir / "dff" / "model_final.pth").is_file():
        given["flownet_half"] = str(table4_dir / "dff" / "model_final.pth")
    for path in (frame_weights, *given.values()):
        if not Path(path).is_file():
            raise SystemExit(f"{path} not found: run python -m dff_detectron2.table4 first")
    setup_logger(name="dff_detectron2")
    register_imagenet_vid(args.det_data, det.PREFIX)
    output = str(Path(args.work_dir) / "det")

    def build(weights: str, interval: int, *opts):
        cfg = det._cfg(SimpleNamespace(flow_weights="", interval=interval, seed=0), output, *opts)
        return cfg, det.load_model(cfg, weights)

    frame_opts = ("MODEL.DFF.MODE", "frame", "MODEL.DFF.TEST.MODE", "frame")
    frame = det.evaluate(*build(frame_weights, 1, *frame_opts))
    LOG.info("Frame: mAP %.2f, %.2f fps", frame["mAP"], frame["fps"])
    curves = {}
    for name in args.flow_nets:
        weights = given.get(name) or finetune_detection(name, frame_weights, args)
        metrics = {}
        for l in intervals:
            cfg, model = build(weights, l, "MODEL.DFF.FLOW.NAME", name)
            metrics[l] = det.evaluate(cfg, model)
            LOG.info(
                "%s: l = %d, mAP %.2f, %.2f fps", name, l, metrics[l]["mAP"], metrics[l]["fps"]
            )
        image = next(iter(Trainer.build_test_loader(cfg, cfg.DATASETS.TEST[0])))[0]["image"]
        r_time, r_macs = det.cost_ratios(det.component_costs(model, image))
        rows = curve_rows(
            {l: m["mAP"] for l, m in metrics.items()},
            {l: m["fps"] for l, m in metrics.items()},
            frame["fps"],
            r_time,
            r_macs,
        )
        curves[name] = {"checkpoint": weights, "r_time": r_time, "r_macs": r_macs}
        curves[name].update(frame_fps=frame["fps"], rows=rows)
    return {
        "frame": {"accuracy": frame["mAP"], "checkpoint": frame_weights},
        "curves": curves,
        "setting": "synthetic ImageNet VID layout, VID mAP of the val videos",
    }


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
    seg = parser.add_argument_group("segmentation")
    seg.add_argument("--flow-nets", nargs="+", choices=FLOW_NETS, default=list(FLOW_NETS))
    seg.add_argument("--data", default="datasets/synthetic_cityscapes")
    seg.add_argument("--table4-dir", default="work_dirs/table4", help="dff_mmseg.table4's runs")
    seg.add_argument("--flow-checkpoint", default="work_dirs/flownet_synthchairs.pth")
    seg.add_argument("--chairs", default="datasets/synthetic_chairs")
    seg.add_argument("--pretrain-iters", type=int, default=150)
    seg.add_argument("--time-snippets", type=int, default=6, help="val snippets timed per l")
    seg.add_argument("--time-repeats", type=int, default=2, help="timings per l (the best kept)")
    det = parser.add_argument_group("detection")
    det.add_argument("--det-data", default="datasets/synthetic_vid_64x20")
    det.add_argument(
        "--det-table4-dir", default="work_dirs/dff_detectron2/table4", help="its frame/, dff/"
    )
    det.add_argument("--det-frame-weights", help="default <det-table4-dir>/frame/model_final.pth")
    det.add_argument("--det-dff-weights", nargs="+", default=[], metavar="FLOW_NET=CHECKPOINT")
    det.add_argument("--det-dff-iters", type=int, default=150, help="as dff_detectron2.table4")
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
    run = run_segmentation if args.task == "seg" else run_detection
    results = run(args, sorted(args.intervals))
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
