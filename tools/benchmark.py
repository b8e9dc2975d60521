#!/usr/bin/env python
"""Complexity and speed of Deep Feature Flow on this machine (paper Sec. 3, Eq. 5-7, Table 2).

Four parts, each a function (no flag: all four):

- ``--table2``: Table 2 measured by FLOPs, 1/r of Eq. (6) at 600x1000 (half size for F),
  next to the paper's values.
- ``--warp``: forward + backward time of ``dff_common.warp.warp`` against one plain
  ``F.grid_sample`` call on the same tensors (1x1024x38x63 by default).
- ``--latency``: latency of each network part (N_feat, F + S, W, propagation, N_task) at
  ``--size`` (F at half of it), timed separately (PEERS.md pitfall 8) and r of Eq. (5) from
  the times next to r from the FLOPs.
- ``--engine``: ``DFFInferenceEngine`` with ``FixedIntervalScheduler(l)`` over a synthetic clip:
  measured speedup T(l=1) / T(l) next to Eq. (7) with the measured r.

Times are medians over ``--repeats`` runs after ``--warmup`` runs, on ``--device`` (CUDA when
present, else the CPU with ``torch.set_num_threads(--threads)``), in wall time (after
``torch.cuda.synchronize()`` on a GPU), or in the process's CPU time with ``--cpu-time`` (CPU
only; steadier when other jobs share the machine). The engine part runs every l in
``--engine-rounds`` interleaved rounds and keeps the medians; ``--frames`` must be a multiple
of every l so that exactly one frame in l is a key frame, as Eq. (7) assumes. Random
weights: speed does not depend on them.

Examples::

    python tools/benchmark.py --quick            # small sizes, about a minute
    python tools/benchmark.py                    # 300x500 images, several minutes
    python tools/benchmark.py --table2           # Table 2 only (FLOPs, about a minute)
    python tools/benchmark.py --latency --paper-size --depths 101
    python tools/benchmark.py --latency --engine --size 1024 2048 --depths 101 \
        --flow-nets flownet --frames 20 --intervals 1 5 10 20   # Cityscapes (Sec. 5.1)
"""

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dff_common.complexity import complexity_ratio, measure_complexity, speedup, table2
from dff_common.feature_net import DilatedResNetFeatureNet

FLOW_NET_NAMES = ("flownet", "flownet_half", "flownet_inception")


class ConvTaskHead(nn.Conv2d):
    """N_task with one learnable layer, a 1x1 conv (Sec. 4); ignores the engine's images."""

    def forward(self, features: torch.Tensor, images: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(features)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for part in ("table2", "warp", "latency", "engine"):
        parser.add_argument(f"--{part}", action="store_true", help=f"run the {part} part")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few repeats, Table 2 at --size"
    )
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="image size")
    parser.add_argument(
        "--paper-size", action="store_true", help="600x1000 images (ImageNet VID, Sec. 5.1)"
    )
    parser.add_argument("--depths", type=int, nargs="+", help="ResNet depths of N_feat")
    parser.add_argument("--flow-nets", nargs="+", choices=FLOW_NET_NAMES, help="flow networks")
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
    parser.add_argument("--engine-flow-net", choices=FLOW_NET_NAMES, help="engine's flow net")
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
        "flow_nets": FLOW_NET_NAMES,
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
    if args.cpu_time and args.device.type != "cpu":
        parser.error("--cpu-time times the CPU; it cannot time --device " + str(args.device))
    args.clock = time.process_time if args.cpu_time else time.perf_counter
    if args.device.type == "cuda":  # wait for the queued kernels before reading the clock

        def synchronized_clock():
            torch.cuda.synchronize(args.device)
            return time.perf_counter()

        args.clock = synchronized_clock
    if any(args.frames % interval for interval in args.intervals):
        parser.error(f"--frames {args.frames} must be a multiple of every interval (Eq. 7)")
    return args


def median_time(fn: Callable[[], object], args: argparse.Namespace) -> float:
    """Median time in seconds of ``fn()`` over ``args.repeats`` runs by ``args.clock``, after
    ``args.warmup`` untimed runs."""
    for _ in range(args.warmup):
        fn()
    times = []
    for _ in range(args.repeats):
        start = args.clock()
        fn()
        times.append(args.clock() - start)
    return statistics.median(times)


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
    reference = median_time(grid_sample_step, args)
    rows = [("F.grid_sample", reference * 1e3, 1.0)]
    for label, with_scale in (("warp", False), ("warp + scale (Eq. 3)", True)):
        elapsed = median_time(lambda s=with_scale: warp_step(s), args)
        rows.append((label, elapsed * 1e3, elapsed / reference))
    print_table(
        f"Warp forward + backward, {n}x{c}x{h}x{w}, {describe(args)} (target: <= 1.5x grid_sample)",
        ["operation", "ms", "x grid_sample"],
        rows,
    )


def run_latency(args: argparse.Namespace):
    """(c) Latency of each part, and r of Eq. (5) from the times next to r from the FLOPs."""
    from dff_common.flow_nets import build_flow_net
    from dff_common.propagation import FeaturePropagation
    from dff_common.warp import warp

    height, width = args.size
    device = args.device
    key = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)) * 255
    key = key.to(device)
    cur = key.roll(3, dims=-1)
    # F's input: half size
    frames = torch.zeros(1, 3, (height + 1) // 2, (width + 1) // 2, device=device)
    feature_nets = {d: DilatedResNetFeatureNet(d).eval().to(device) for d in args.depths}
    flow_nets = {name: build_flow_net(name).eval().to(device) for name in args.flow_nets}
    task_net = ConvTaskHead(1024, args.classes, 1).eval().to(device)

    times = {}  # seconds, keyed by (part, network)
    with torch.inference_mode():
        for depth, net in feature_nets.items():
            progress(f"timing ResNet-{depth} at {height}x{width}")
            times["N_feat", depth] = median_time(lambda n=net: n(key), args)
        features = net(key)
        for name, net in flow_nets.items():
            progress(f"timing {name} at {frames.shape[2]}x{frames.shape[3]} and its propagation")
            times["F+S", name] = median_time(lambda n=net: n(frames, frames), args)
            propagation = FeaturePropagation(net).eval().to(device)
            times["F+S+W", name] = median_time(lambda p=propagation: p(features, key, cur), args)
        flow = torch.zeros(1, 2, *features.shape[-2:], device=device)
        scale = torch.ones_like(features)
        times["W"] = median_time(lambda: warp(features, flow, scale), args)
        times["N_task"] = median_time(lambda: task_net(features), args)

    progress("counting FLOPs")
    feature_nets = {depth: net.cpu() for depth, net in feature_nets.items()}
    flow_nets = {name: net.cpu() for name, net in flow_nets.items()}
    task_net = task_net.cpu()
    reports = {
        (depth, name): measure_complexity(feature_nets[depth], flow_nets[name], task_net, args.size)
        for depth in args.depths
        for name in args.flow_nets
    }
    any_report = next(iter(reports.values()))
    rows = [
        ("N_feat", f"ResNet-{d}", times["N_feat", d], reports[d, args.flow_nets[0]].feature_net)
        for d in args.depths
    ]
    for name in args.flow_nets:
        report = reports[args.depths[0], name]
        rows.append(("F + S", name, times["F+S", name], report.flow + report.scale))
        macs = report.flow + report.scale + report.warp
        rows.append(("F + S + W", f"{name} propagation", times["F+S+W", name], macs))
    rows.append(("W", "warp + scale", times["W"], any_report.warp))
    rows.append(("N_task", f"1x1 conv to {args.classes}", times["N_task"], any_report.task_net))
    print_table(
        f"Latency per part, images {height}x{width} (F at half size), "
        f"{describe(args)}, median of {args.repeats}",
        ["part", "network", "ms", "GMACs"],
        [(part, net, t * 1e3, macs / 1e9) for part, net, t, macs in rows],
    )
    ratios = []
    for (depth, name), report in reports.items():
        non_key = times["F+S+W", name] + times["N_task"]
        r_time = non_key / (times["N_feat", depth] + times["N_task"])
        r_flops, r_approx = complexity_ratio(report), complexity_ratio(report, approximate=True)
        ratios.append((f"ResNet-{depth}", name, r_time, r_flops, r_approx))
    print_table(
        "r = (F + S + W + N_task) / (N_feat + N_task): Eq. (5) from times and from FLOPs, "
        "Eq. (6) from FLOPs",
        ["N_feat", "F", "r time (5)", "r FLOPs (5)", "r FLOPs (6)"],
        ratios,
    )


def run_engine(args: argparse.Namespace):
    """(d) Measured speedup of Algorithm 1 over per-frame inference vs Eq. (7)."""
    from dff_common.engine import DFFInferenceEngine
    from dff_common.flow_nets import build_flow_net
    from dff_common.propagation import FeaturePropagation
    from dff_common.scheduler import FixedIntervalScheduler

    height, width = args.size
    depth, name = args.engine_depth, args.engine_flow_net
    feature_net = DilatedResNetFeatureNet(depth).eval().to(args.device)
    propagation = FeaturePropagation(build_flow_net(name)).eval().to(args.device)
    task_net = ConvTaskHead(feature_net.out_channels, args.classes, 1).eval().to(args.device)
    # a textured frame panning 2 pixels per frame
    base = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)) * 255
    base = base.to(args.device)
    clip = [base.roll(2 * i, dims=-1) for i in range(args.frames)]

    steps = {True: [], False: []}  # engine step times of key / non-key frames

    def run_clip(interval: int) -> float:
        engine = DFFInferenceEngine(
            feature_net, task_net, propagation, FixedIntervalScheduler(interval)
        )
        start = args.clock()
        for index, frame in enumerate(clip):
            step_start = args.clock()
            is_key = engine.step(frame, [0], [index]).is_key[0]
            steps[is_key].append(args.clock() - step_start)
        return args.clock() - start

    # rounds over all settings, so that a change of machine load hits all of them alike
    times = {"key": [], "non-key": [], **{interval: [] for interval in args.intervals}}
    with torch.inference_mode():
        features = feature_net(clip[0])
        for round_ in range(args.engine_rounds):
            progress(f"round {round_ + 1}/{args.engine_rounds}: per-frame times")
            times["key"].append(median_time(lambda: task_net(feature_net(clip[1])), args))
            times["non-key"].append(
                median_time(lambda: task_net(propagation(features, clip[0], clip[1])), args)
            )
            for interval in args.intervals:
                times[interval].append(run_clip(interval))
                progress(f"l = {interval}: {times[interval][-1]:.2f} s for {len(clip)} frames")
    median = {setting: statistics.median(values) for setting, values in times.items()}
    t_key, t_non_key = median["key"], median["non-key"]
    r = t_non_key / t_key  # Eq. (5) from the parts timed on their own
    # r from the engine's own key / non-key steps (none without an l > 1)
    step_key = statistics.median(steps[True])
    step_non_key = statistics.median(steps[False]) if steps[False] else math.nan
    r_steps = step_non_key / step_key
    reference = median[1] if 1 in median else t_key * len(clip)
    rows = []
    for interval in args.intervals:
        total = median[interval]
        measured, predicted = reference / total, speedup(r, interval)
        diff = f"{measured / predicted - 1:+.1%}"
        from_steps = speedup(r_steps, interval) if steps[False] else "-"
        rows.append((interval, total, len(clip) / total, measured, predicted, diff, from_steps))
    print_table(
        f"Engine (Algorithm 1), ResNet-{depth} + {name}, {len(clip)} frames {height}x{width}, "
        f"{describe(args)}, medians of {args.engine_rounds} rounds\n"
        f"r = {r:.4f} from the parts timed alone (key {t_key * 1e3:.1f} ms, non-key "
        f"{t_non_key * 1e3:.1f} ms); r = {r_steps:.4f} from the engine's steps (key "
        f"{step_key * 1e3:.1f} ms, non-key {step_non_key * 1e3:.1f} ms)",
        ["l", "total s", "fps", "speedup", "Eq. (7)", "diff", "Eq. (7), steps' r"],
        rows,
    )


def describe(args: argparse.Namespace) -> str:
    """The timed device in words: GPU name, or CPU model and torch threads."""
    if args.device.type == "cuda":
        return torch.cuda.get_device_name(args.device)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        model = names[0] if names else model
    except OSError:
        pass
    return f"CPU {model}, {torch.get_num_threads()} threads"


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    parts = [p for p in ("table2", "warp", "latency", "engine") if getattr(args, p)]
    parts = parts or ["table2", "warp", "latency", "engine"]
    print(
        f"torch {torch.__version__}, {describe(args)}, "
        f"{'CPU' if args.cpu_time else 'wall'} time, parts: "
        f"{', '.join(parts)}, latency and engine at {args.size[0]}x{args.size[1]}",
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
