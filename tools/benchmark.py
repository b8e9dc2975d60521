#!/usr/bin/env python
"""Complexity and speed of Deep Feature Flow on this machine (paper Sec. 3, Eq. 5-7, Table 2).

Four parts, each a function (no flag: all four):

- ``--table2``: Table 2 measured by FLOPs, 1/r of Eq. (6) at 600x1000 (half size for F),
  next to the paper's values.
- ``--warp``: forward + backward time of ``dff_common.warp.warp`` against one plain
  ``F.grid_sample`` call on the same tensors (1x1024x38x63 by default).
- ``--latency``: latency of each network part (N_feat, F + S with the resizing of both frames
  to its input, W, N_task) at ``--size`` (F at half of it), each timed alone
  (``dff_common.timing.time_parts``), and r of Eq. (5) from the times next to r from the
  multiply-adds (``dff_common.complexity``).
- ``--engine``: ``DFFInferenceEngine`` with ``FixedIntervalScheduler(l)`` over a synthetic clip
  (``dff_common.timing.time_algorithm_1``): measured speedup T(l=1) / T(l) next to Eq. (7) with
  r from the parts timed alone and with r from the parts timed inside Algorithm 1.

Every time is taken by ``dff_common.timing.Timer`` on ``--device`` (CUDA when present, else
the CPU with ``torch.set_num_threads(--threads)``): medians over ``--repeats`` runs after
``--warmup`` runs, in wall time (after ``torch.cuda.synchronize()`` on a GPU), or in the
process's CPU time with ``--cpu-time`` (CPU only; steadier when other jobs share the
machine). The engine part runs every l in ``--engine-rounds`` interleaved rounds and keeps the
median run; ``--frames`` must be a multiple of every l so that exactly one frame in l is a key
frame, as Eq. (7) assumes. Random weights: speed does not depend on them.

Examples::

    python tools/benchmark.py --quick            # small sizes, about a minute
    python tools/benchmark.py                    # 300x500 images, several minutes
    python tools/benchmark.py --table2           # Table 2 only (FLOPs, about a minute)
    python tools/benchmark.py --latency --paper-size --depths 101
    python tools/benchmark.py --latency --engine --size 1024 2048 --depths 101 \
        --flow-nets flownet --frames 20 --intervals 1 5 10 20   # Cityscapes (Sec. 5.1)
"""

import argparse
import functools
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dff_common.complexity import cost_ratio, measure_complexity, speedup, table2
from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.flow_nets import FLOW_NETS, build_flow_net
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.timing import Timer, time_algorithm_1, time_interleaved, time_parts

PARTS = ("table2", "warp", "latency", "engine")


class ConvTaskHead(nn.Conv2d):
    """N_task with one learnable layer, a 1x1 conv (Sec. 4); ignores the engine's images."""

    def forward(self, features: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(features)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--engine-rounds", type=int, help="runs of the clip per l (median)")
    parser.add_argument("--engine-depth", type=int, help="ResNet depth for the engine part")
    parser.add_argument("--engine-flow-net", choices=list(FLOW_NETS), help="engine's flow net")
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
    defaults = {
        "size": (600, 1000) if args.paper_size else (128, 224) if quick else (300, 500),
        "depths": (50,) if quick else (50, 101),
        "flow_nets": tuple(FLOW_NETS),
        "repeats": 3 if quick else 10,
        "frames": 20 if quick else 40,
        "intervals": (1, 2, 5, 10) if quick else (1, 2, 5, 10, 20),
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
    networks = (feature_net, task_net, propagation)
    runs = {
        interval: functools.partial(
            time_algorithm_1, *networks, FixedIntervalScheduler(interval), [clip], args.timer
        )
        for interval in args.intervals
    }

    def report(round_, interval, timing):
        progress(
            f"round {round_}: l = {interval}: {timing.seconds:.2f} s for {timing.frames} frames"
        )

    # rounds over all settings, so that a change of machine load hits all of them alike
    kept = time_interleaved(runs, args.engine_rounds, report)
    propagated = [timing for timing in kept.values() if timing.key_frames < timing.frames]
    r_inside = cost_ratio(sum(propagated[1:], propagated[0]).part_costs()) if propagated else None
    key_frame_seconds = (alone.feature_net + alone.task_net) / 1e3
    reference = kept[1].seconds if 1 in kept else key_frame_seconds * args.frames
    rows = []
    for interval, timing in kept.items():
        measured, predicted = reference / timing.seconds, speedup(r, interval)
        inside = speedup(r_inside, interval) if r_inside else "-"
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


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [p for p in PARTS if getattr(args, p)] or list(PARTS)
    print(
        f"torch {torch.__version__}, {args.timer.describe()}, parts: {', '.join(parts)}, "
        f"latency and engine at {args.size[0]}x{args.size[1]}",
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


if __name__ == "__main__":
    main()
