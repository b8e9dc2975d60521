#!/usr/bin/env python
"""Complexity and speed of Deep Feature Flow on this machine (paper Sec. 3, Eq. 5-7, Table 2).

Six parts, each a function (no flag, no ``--config`` and no ``--deploy``: the first four):

- ``--table2``: Table 2 measured by FLOPs, 1/r of Eq. (6) at 600x1000 (half size for F),
  next to the paper's values.
- ``--warp``: forward + backward time of ``dff_common.warp.warp`` against one plain
  ``F.grid_sample`` call on the same tensors (1x1024x38x63 by default).
- ``--latency``: latency of each network part (N_feat, F + S with the resizing of both frames
  to its input, W, N_task) at ``--size`` (F at half of it), each timed alone
  (``dff_common.timing.time_parts``), and r of Eq. (5) from the times next to r from the
  multiply-adds (``dff_common.complexity``).
- ``--engine``: ``DFFInferenceEngine`` with ``FixedIntervalScheduler(l)`` over a synthetic clip
  (``dff_common.timing.time_speedup``): measured speedup T(l=1) / T(l) next to Eq. (7) with
  r from the parts timed alone and with r from the parts timed inside Algorithm 1; then the
  throughput (frames/s) of N concurrent videos stepped as one batch, N in ``--streams``
  (default 1, 4, 8; one video always, the reference), at the largest l.
- ``--config CONFIG ...``: the same for any wrapped model (mmseg ``.py``, detectron2 ``.yaml``),
  random weights (:func:`load_wrapped`): one row per model, the parts timed inside Algorithm 1
  and their multiply-adds, r of Eq. (5) from both, the limit 1/r of Eq. (7), and the measured
  speedup at each l > 1 next to Eq. (7) with the r of the same runs.
- ``--deploy CONFIG --data ROOT [--checkpoint CKPT]``: eager float32 Algorithm 1 against each
  engine option and onnxruntime on the val clips of ROOT
  (``analysis_tools.deploy_benchmark.compare_deploy``): time ratios, output differences, change of
  the mIoU / VID mAP; ONNX files and ``results.json`` in ``--work-dir``.

Every time is taken by ``dff_common.timing.Timer`` on ``--device`` (CUDA when present, else
the CPU with ``torch.set_num_threads(--threads)``): medians over ``--repeats`` runs after
``--warmup`` runs, in wall time (after ``torch.cuda.synchronize()`` on a GPU), or in the
process's CPU time with ``--cpu-time`` (CPU only; steadier when other jobs share the
machine). The Algorithm 1 parts run every setting in ``--engine-rounds`` interleaved rounds and
keep the median run; ``--frames`` must be a multiple of every l so that exactly one frame in l
is a key frame, as Eq. (7) assumes. Random weights: speed does not depend on them, but for
the proposals a detector keeps (:func:`load_wrapped`).

Examples::

    python tools/benchmark.py --quick            # small sizes, about a minute
    python tools/benchmark.py                    # 300x500 images, several minutes
    python tools/benchmark.py --table2           # Table 2 only (FLOPs, about a minute)
    python tools/benchmark.py --latency --paper-size --depths 101
    python tools/benchmark.py --latency --engine --size 1024 2048 --depths 101 \
        --flow-nets flownet --frames 20 --intervals 1 5 10 20   # Cityscapes (Sec. 5.1)
    python tools/benchmark.py --size 256 512 --config \
        configs/dff_mmseg/dff_fcn-r50-d8-flownet_8xb1-20k_cityscapes-video-512x1024.py \
        configs/dff_detectron2/model_zoo/DFF_FasterRCNN_R50_FPN_FlowNet.yaml  # l = 1, 5, 10
    python tools/benchmark.py --deploy configs/dff_mmseg/<config>.py --checkpoint CKPT \
        --data datasets/synthetic_cityscapes --threads 1 --cpu-time
"""

import argparse
import functools
import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from analysis_tools.deploy_benchmark import OPTIONS, DeployRow, compare_deploy, deploy_table
from dff_common.complexity import (
    cost_ratio,
    feature_maps,
    measure_complexity,
    speedup,
    speedup_advice,
    table2,
)
from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.flow_nets import FLOW_NETS, build_flow_net
from dff_common.plugins import plugin_of
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.timing import (
    Timer,
    time_algorithm_1,
    time_interleaved,
    time_parts,
    time_speedup,
)

PARTS = ("table2", "warp", "latency", "engine")


class ConvTaskHead(nn.Conv2d):
    """N_task with one learnable layer, a 1x1 conv (Sec. 4); ignores the engine's images."""

    def forward(self, features: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(features)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    for part in PARTS:
        parser.add_argument(f"--{part}", action="store_true", help=f"run the {part} part")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few repeats, Table 2 at --size"
    )
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="image size")
    parser.add_argument(
        "--paper-size", action="store_true", help="600x1000 images (ImageNet VID, Sec. 5.1)"
    )
    parser.add_argument("--depths", type=int, nargs="+", help="ResNet depths of N_feat")
    parser.add_argument("--flow-nets", nargs="+", choices=list(FLOW_NETS), help="flow networks")
    parser.add_argument("--classes", type=int, default=31, help="outputs C of the 1x1 task head")
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument(
        "--warp-shape", type=int, nargs=4, default=(1, 1024, 38, 63), metavar=("N", "C", "H", "W")
    )
    parser.add_argument("--frames", type=int, help="frames of the synthetic clip (engine part)")
    parser.add_argument("--intervals", type=int, nargs="+", help="key frame intervals l")
    parser.add_argument(
        "--engine-rounds", type=int, help="runs of each Algorithm 1 setting (median kept)"
    )
    parser.add_argument(
        "--streams", type=int, nargs="+", default=(1, 4, 8),
        help="engine part: concurrent videos stepped as one batch (throughput table)",
    )  # fmt: skip
    parser.add_argument("--engine-depth", type=int, help="ResNet depth for the engine part")
    parser.add_argument("--engine-flow-net", choices=list(FLOW_NETS), help="engine's flow net")
    parser.add_argument(
        "--config", nargs="+", default=[], metavar="CONFIG",
        help="wrapped models: DFF configs, mmseg .py or detectron2 .yaml (random weights)",
    )  # fmt: skip
    deploy = parser.add_argument_group("deploy part")
    deploy.add_argument("--deploy", metavar="CONFIG", help="DFF config (.py or .yaml) to deploy")
    deploy.add_argument("--checkpoint", help="its trained weights (default: random weights)")
    deploy.add_argument("--data", help="dataset root in the real layout (val split)")
    deploy.add_argument("--deploy-interval", type=int, help="l (default: the config's)")
    deploy.add_argument(
        "--deploy-options", nargs="+", choices=sorted(OPTIONS), default=list(OPTIONS),
        metavar="NAME", help=f"engine options to compare with eager fp32, of: {', '.join(OPTIONS)}",
    )  # fmt: skip
    deploy.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime row")
    deploy.add_argument(
        "--max-clips", type=int, help="segmentation: the first N clips only (detection: all)"
    )
    deploy.add_argument("--work-dir", default="work_dirs/benchmark_deploy")
    deploy.add_argument("--overwrite", action="store_true", help="replace an earlier run's files")
    deploy.add_argument(
        "--opts", nargs="+", default=[],
        help="config overrides of --deploy: KEY VALUE (.yaml), KEY=VALUE (.py)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument(
        "--device", help="torch device of the timed parts (default: cuda if available, else cpu)"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU time instead of wall time (steadier on a shared "
        "machine; use with --threads 1)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    wrapped_only = args.config and not args.engine  # the l = 5 and 10
    defaults = {
        "size": (600, 1000) if args.paper_size else (128, 224) if quick else (300, 500),
        "depths": (50,) if quick else (50, 101),
        "flow_nets": tuple(FLOW_NETS),
        "repeats": 3 if quick else 10,
        "frames": 10 if wrapped_only else 20 if quick else 40,
        "intervals": (1, 5, 10) if wrapped_only else (1, 2, 5, 10) if quick else (1, 2, 5, 10, 20),
        "engine_rounds": 2 if quick else 3,
        "engine_depth": 50 if quick else 101,
        "engine_flow_net": "flownet",
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available on this machine")
    try:
        args.timer = Timer(args.device, args.cpu_time)
    except ValueError as error:
        parser.error(f"--cpu-time: {error}")
    if any(args.frames % interval for interval in args.intervals):
        parser.error(f"--frames {args.frames} must be a multiple of every interval (Eq. 7)")
    if args.engine_rounds < 1 or (args.max_clips is not None and args.max_clips < 1):
        parser.error("--engine-rounds and --max-clips must be >= 1")
    if min(args.streams) < 1:
        parser.error(f"--streams {args.streams}: each must be >= 1")
    for option, path in [("--config", c) for c in args.config] + [("--deploy", args.deploy)]:
        if path is not None:
            try:
                plugin_of(path)
            except ValueError as err:
                parser.error(f"{option}: {err}")
        if path is not None and not Path(path).is_file():
            parser.error(f"{option} {path}: no such file")
    if args.config and max(args.intervals) == 1:
        parser.error("--config: r (Eq. 5) needs an l > 1 in --intervals")
    if args.deploy:
        if not args.data:
            parser.error("--deploy needs --data, the dataset root of the val clips")
        if args.max_clips and plugin_of(args.deploy) != "dff_mmseg":
            parser.error("--max-clips is for segmentation only: the VID mAP needs the whole split")
        results = Path(args.work_dir) / "results.json"
        if results.exists() and not args.overwrite:
            parser.error(f"{results} exists (an earlier run); pass --overwrite to replace it")
    return args


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain-text table, floats with 4 significant digits."""
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))


def progress(message: str) -> None:
    print(f"  ... {message}", flush=True)


def run_table2(image_size: Sequence[int], depths: Sequence[int], flow_nets: Sequence[str]):
    """(a) Table 2: 1/r of Eq. (6) by FLOPs, measured vs the paper."""
    progress(f"counting FLOPs at {image_size[0]}x{image_size[1]} (flow nets at half size)")
    rows = table2(depths, flow_nets, image_size)
    print_table(
        f"Table 2: 1/r = O(N_feat) / O(F) (Eq. 6), images {image_size[0]}x{image_size[1]}, GMACs",
        ["N_feat", "F", "O(N_feat)", "O(F)", "O(S)", "1/r", "paper", "diff", "1/r with S", "diff"],
        [
            (
                f"ResNet-{r.depth}",
                r.flow_net,
                r.feature_net_macs / 1e9,
                r.flow_macs / 1e9,
                r.scale_macs / 1e9,
                r.inverse_ratio,
                r.paper,
                f"{r.relative_difference():+.1%}",
                r.inverse_ratio_with_scale,
                f"{r.relative_difference(with_scale=True):+.1%}",
            )
            for r in rows
        ],
    )


def run_warp(args: argparse.Namespace):
    """(b) Forward + backward time of the warp vs one plain ``F.grid_sample`` call."""
    from dff_common.warp import warp

    n, c, h, w = args.warp_shape
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(n, c, h, w, generator=generator).to(args.device).requires_grad_()
    flow = (torch.rand(n, 2, h, w, generator=generator) * 8 - 4).to(args.device).requires_grad_()
    scale = torch.rand(n, c, h, w, generator=generator).to(args.device).requires_grad_()
    # the same sampling positions as the flow, normalised for align_corners=True
    xs = torch.arange(w, device=args.device).view(1, 1, w) + flow[:, 0].detach()
    ys = torch.arange(h, device=args.device).view(1, h, 1) + flow[:, 1].detach()
    grid = torch.stack([xs / ((w - 1) / 2) - 1, ys / ((h - 1) / 2) - 1], dim=-1).requires_grad_()
    grad = torch.randn(n, c, h, w, generator=generator).to(args.device)

    def grid_sample_step():
        out = F.grid_sample(features, grid, padding_mode="zeros", align_corners=True)
        out.backward(grad)

    def warp_step(with_scale):
        warp(features, flow, scale if with_scale else None).backward(grad)

    progress(f"timing on {n}x{c}x{h}x{w}, {args.repeats} repeats")
    reference = args.timer.median(grid_sample_step, args.repeats, args.warmup)
    rows = [("F.grid_sample", reference * 1e3, 1.0)]
    for label, with_scale in (("warp", False), ("warp + scale (Eq. 3)", True)):
        step = functools.partial(warp_step, with_scale)
        elapsed = args.timer.median(step, args.repeats, args.warmup)
        rows.append((label, elapsed * 1e3, elapsed / reference))
    print_table(
        f"Warp forward + backward, {n}x{c}x{h}x{w}, {args.timer.describe()} "
        "(target: <= 1.5x grid_sample)",
        ["operation", "ms", "x grid_sample"],
        rows,
    )


def panning_frames(size: Sequence[int], count: int, device: torch.device) -> torch.Tensor:
    """``(count, 3, H, W)`` frames of a random texture panning 2 pixels per frame, in [0, 255]."""
    base = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) * 255
    return torch.cat([base.roll(2 * i, dims=-1) for i in range(count)]).to(device)


def run_latency(args: argparse.Namespace):
    """(c) Latency of each part, and r of Eq. (5) from the times next to r from the MACs."""
    height, width = args.size
    key, cur = panning_frames(args.size, 2, args.device).split(1)
    task_net = ConvTaskHead(1024, args.classes, 1).eval().to(args.device)
    rows = []
    for depth in args.depths:
        feature_net = DilatedResNetFeatureNet(depth).eval().to(args.device)
        for name in args.flow_nets:
            propagation = FeaturePropagation(build_flow_net(name)).eval().to(args.device)
            progress(f"timing ResNet-{depth} and {name} at {height}x{width} (F at half size)")
            ms = time_parts(
                feature_net, propagation, task_net, key, cur, args.timer, args.repeats, args.warmup
            )
            macs = measure_complexity(
                feature_net, propagation.flow_net, task_net, args.size, device=args.device
            )
            rows.append(
                (
                    f"ResNet-{depth}", name, ms.feature_net, ms.flow, ms.warp, ms.task_net,
                    macs.feature_net / 1e9, (macs.flow + macs.scale) / 1e9, macs.warp / 1e9,
                    macs.task_net / 1e9, cost_ratio(ms), cost_ratio(macs),
                    cost_ratio(macs, approximate=True),
                )
            )  # fmt: skip
    print_table(
        f"Latency per part (ms, median of {args.repeats}) and multiply-adds (GMACs), images "
        f"{height}x{width} (F at half size, with the resizing), {args.timer.describe()}\n"
        "r = (F + S + W + N_task) / (N_feat + N_task): Eq. (5) from times and from MACs, "
        "Eq. (6) from MACs",
        ["N_feat", "F", "N_feat ms", "F+S ms", "W ms", "N_task ms", "N_feat G", "F+S G", "W G",
         "N_task G", "r time (5)", "r MACs (5)", "r MACs (6)"],
        rows,
    )  # fmt: skip


def _report_round(round_: int, interval: int, timing, prefix: str = "") -> None:
    progress(
        f"{prefix}round {round_}: l = {interval}: {timing.seconds:.2f} s for {timing.frames} frames"
    )


def run_engine(args: argparse.Namespace):
    """(d) Measured speedup of Algorithm 1 over per-frame inference vs Eq. (7)."""
    height, width = args.size
    depth, name = args.engine_depth, args.engine_flow_net
    feature_net = DilatedResNetFeatureNet(depth).eval().to(args.device)
    propagation = FeaturePropagation(build_flow_net(name)).eval().to(args.device)
    task_net = ConvTaskHead(feature_net.out_channels, args.classes, 1).eval().to(args.device)
    clip = panning_frames(args.size, args.frames, args.device)
    progress("timing the parts alone")
    key, cur = clip[:2].split(1)
    alone = time_parts(
        feature_net, propagation, task_net, key, cur, args.timer, args.repeats, args.warmup
    )
    r = cost_ratio(alone)
    # rounds over all settings, so that a change of machine load hits all of them alike
    kept = time_speedup(
        feature_net, task_net, propagation, [clip], args.timer, args.intervals,
        args.engine_rounds, _report_round,
    )  # fmt: skip
    r_inside = kept.r if len(kept.timings) > 1 else None
    key_frame_seconds = (alone.feature_net + alone.task_net) / 1e3
    rows = []
    for interval, timing in kept.timings.items():
        measured, predicted = kept.measured(interval), speedup(r, interval)
        inside = kept.predicted(interval) if r_inside else "-"
        diff = f"{measured / predicted - 1:+.1%}"
        rows.append((interval, timing.seconds, timing.fps, measured, predicted, diff, inside))
    print_table(
        f"Engine (Algorithm 1), ResNet-{depth} + {name}, {args.frames} frames {height}x{width}, "
        f"{args.timer.describe()}, median runs of {args.engine_rounds} rounds\n"
        f"r = {r:.4f} from the parts timed alone (key frame {key_frame_seconds * 1e3:.1f} ms); "
        + (f"r = {r_inside:.4f} from the parts timed inside Algorithm 1" if r_inside else ""),
        ["l", "total s", "fps", "speedup", "Eq. (7)", "diff", "Eq. (7), r inside"],
        rows,
    )
    run_streams(args, feature_net, task_net, propagation, clip)


def run_streams(args: argparse.Namespace, feature_net, task_net, propagation, clip) -> None:
    """Throughput of Algorithm 1 with N concurrent videos stepped as one batch (the engine
    keeps a key frame cache per video), at the largest l of ``--intervals``. The N videos are
    the clip panned by different offsets and start together, so their key frames coincide."""
    interval = max(args.intervals)
    scheduler = FixedIntervalScheduler(interval)
    runs = {
        n: functools.partial(
            time_algorithm_1, feature_net, task_net, propagation, scheduler,
            [clip.roll(8 * video, dims=-1) for video in range(n)], args.timer, streams=n,
        )
        for n in sorted({1, *args.streams})  # one video always, the reference
    }  # fmt: skip

    def report(round_: int, n: int, timing) -> None:
        progress(f"streams: round {round_}: {n} videos: {timing.seconds:.2f} s")

    kept = time_interleaved(runs, args.engine_rounds, report)
    single = kept[1].fps
    print_table(
        f"Throughput: N concurrent videos of {args.frames} frames stepped together, l = "
        f"{interval}, {args.timer.describe()}, median runs of {args.engine_rounds} rounds",
        ["videos", "frames", "total s", "fps", "fps per video", "x one video"],
        [(n, t.frames, t.seconds, t.fps, t.fps / n, t.fps / single) for n, t in kept.items()],
    )


@torch.no_grad()
def load_wrapped(config: str, args: argparse.Namespace):
    """The engine's networks of the DFF model of ``config`` (its plugin's ``load_model``,
    random weights; ``inference.engine_networks``), the panning clip as its input, the list
    the proposals per frame go to (None for a segmentor) and the model's key frame duration l.

    A detector's N_task costs in proportion to the proposals its RPN keeps. At full contrast a
    random ResNet's maps reach 1e3 to 1e5, the RPN's box deltas push nearly every proposal off
    the frame, and N_task would run on 1 RoI instead of the 1000 of a trained zoo detector. The
    clip is therefore the texture around the mean pixel (``normalize(frames) -
    normalize(grey)``) at the contrast that gives N_feat's maps a mean magnitude of 1 on the
    first frame, as a trained network's. The weights are drawn after ``torch.manual_seed(0)``,
    the same in every run.
    """
    torch.manual_seed(0)
    if plugin_of(config) == "dff_mmseg":
        import dff_mmseg
        from dff_mmseg import inference

        model = dff_mmseg.load_model(config, device=str(args.device))
        networks, proposals = inference.engine_networks(model), None
        interval = model.interval
    else:
        import dff_detectron2
        from dff_detectron2 import inference

        opts = ["MODEL.DEVICE", str(args.device), "MODEL.WEIGHTS", ""]
        model = dff_detectron2.load_model(config, opts=opts)
        networks = inference.engine_networks(model, args.size)
        proposals = inference.record_proposals(model)
        interval = getattr(model.scheduler, "interval", None)
    texture = panning_frames(args.size, args.frames, args.device)
    grey = torch.full_like(texture[:1], 127.5)
    clip = inference.normalize_clip(model, texture) - inference.normalize_clip(model, grey)
    magnitude = torch.stack([m.abs().mean() for m in feature_maps(networks[0](clip[:1]))]).mean()
    return networks, clip / magnitude, proposals, interval


def wrapped_row(config: str, args: argparse.Namespace) -> list:
    """The row of the model of ``config``: RoIs, ms and GMACs of the parts, r, 1/r, and the
    measured speedup next to Eq. (7) at each l > 1."""
    name = Path(config).stem
    progress(f"{name}: building with random weights")
    (feature_net, task_net, propagation), clip, proposals, interval = load_wrapped(config, args)
    macs = measure_complexity(
        feature_net, propagation.flow_net, lambda features: task_net(features, clip[:1]),
        clip.shape[-2:], propagation.flow_input_scale, device=args.device,
    )  # fmt: skip
    advice = interval and speedup_advice(macs, interval)  # by multiply-adds, Eq. 5 and 7
    if advice:
        progress(f"{name}: warning: {advice}")
    if proposals is not None:
        proposals.clear()  # only the timed runs' (measure_complexity runs on zeros)
    kept = time_speedup(
        feature_net, task_net, propagation, [clip], args.timer, args.intervals,
        args.engine_rounds, functools.partial(_report_round, prefix=f"{name}: "),
    )  # fmt: skip
    ms = kept.part_costs()
    row = [
        name, f"{sum(proposals) / len(proposals):.0f}" if proposals else "-", ms.feature_net,
        ms.flow, ms.warp, ms.task_net, macs.feature_net / 1e9, (macs.flow + macs.scale) / 1e9,
        macs.warp / 1e9, macs.task_net / 1e9, kept.r, cost_ratio(macs), 1 / kept.r,
    ]  # fmt: skip
    for interval in kept.timings:
        if interval > 1:
            measured, predicted = kept.measured(interval), kept.predicted(interval)
            row += [measured, predicted, f"{measured / predicted - 1:+.1%}"]
    return row


def run_wrapped(args: argparse.Namespace):
    """(e) Eq. 5-7 and the measured speedup of Algorithm 1 for each model of ``--config``."""
    rows = [wrapped_row(config, args) for config in args.config]
    longer = sorted({l for l in args.intervals if l > 1})  # noqa: E741
    height, width = args.size
    print_table(
        f"Wrapped models (random weights), Algorithm 1 over {args.frames} frames {height}x{width}"
        f" (F at the model's flow input scale), {args.timer.describe()}, median runs of "
        f"{args.engine_rounds} rounds\n"
        "ms: each part inside Algorithm 1 (N_feat per key frame, F+S and W per other frame, "
        "N_task per frame); G: GMACs; r (Eq. 5) from the ms and from the MACs; 1/r: the limit "
        "of Eq. (7); speedup T(l=1) / T(l) next to Eq. (7) with r from the ms of the same runs",
        ["model", "RoIs", "N_feat ms", "F+S ms", "W ms", "N_task ms", "N_feat G", "F+S G", "W G",
         "N_task G", "r time", "r MACs", "1/r",
         *[h for l in longer for h in (f"l={l}", "Eq. 7", "diff")]],  # noqa: E741
        rows,
    )  # fmt: skip


def run_deploy(args: argparse.Namespace) -> list[DeployRow]:
    """(f) Eager fp32 Algorithm 1 against each engine option and onnxruntime, in one run."""
    plugin = plugin_of(args.deploy)
    with torch.no_grad():
        inputs = importlib.import_module(f"{plugin}.deploy").benchmark_inputs(
            args.deploy, args.data, args.checkpoint, args.opts, str(args.device), args.max_clips
        )
    interval = args.deploy_interval or inputs.interval
    clips = inputs.clips
    print(
        f"{len(clips)} clips, {sum(len(c) for c in clips)} frames of {tuple(clips[0].shape[2:])}"
        f", l = {interval}, {torch.get_num_threads()} threads, "
        f"{'CPU' if args.cpu_time else 'wall'} time, weights: {args.checkpoint or 'random'}",
        flush=True,
    )
    rows = compare_deploy(
        inputs.parts,
        FixedIntervalScheduler(interval),
        clips,
        options={name: OPTIONS[name] for name in args.deploy_options},
        onnx_dir=None if args.no_onnx else args.work_dir,
        overwrite=args.overwrite,
        rounds=args.engine_rounds,
        score=inputs.score,
        clock=args.timer.now,
        log=progress,
    )
    print(
        f"\n{args.timer.describe()}, torch {torch.__version__}\n{deploy_table(rows, inputs.metric)}"
    )
    os.makedirs(args.work_dir, exist_ok=True)
    results = Path(args.work_dir) / "results.json"
    results.write_text(json.dumps([vars(r) for r in rows], indent=1))
    print(f"results: {results}", flush=True)
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [p for p in PARTS if getattr(args, p)]
    if not (parts or args.config or args.deploy):
        parts = list(PARTS)
    print(
        f"torch {torch.__version__}, {args.timer.describe()}, parts: "
        f"{', '.join(parts + ['wrapped'] * bool(args.config) + ['deploy'] * bool(args.deploy))}"
        f"; latency, engine and wrapped models at {args.size[0]}x{args.size[1]}",
        flush=True,
    )
    if "table2" in parts:
        run_table2(args.size if args.quick else (600, 1000), args.depths, args.flow_nets)
    if "warp" in parts:
        run_warp(args)
    if "latency" in parts:
        run_latency(args)
    if "engine" in parts:
        run_engine(args)
    if args.config:
        run_wrapped(args)
    if args.deploy:
        run_deploy(args)


if __name__ == "__main__":
    main()
