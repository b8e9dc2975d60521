"""Side by side, in one run: eager float32 Algorithm 1 against its fast paths.

The fast paths are the options of :mod:`dff_common.acceleration` (``torch.compile``,
channels_last, autocast) on :class:`~dff_common.engine.DFFInferenceEngine`, and the exported
graphs of :mod:`dff_common.export` on onnxruntime. Every variant runs Algorithm 1 over the same
clips with the same key-frame scheduler; times are per frame of the networks and the warp
only (frames decoded and normalised beforehand), and each variant gets the largest difference
of its outputs from eager float32 and, given a scoring function, its change of the task metric
(mIoU, mAP). Each variant runs over the first clip once before timing (``torch.compile``
compiles then).
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from dff_common.engine import DFFInferenceEngine, FrameOutput
from dff_common.export import (
    DeployParts,
    ExportedDFFRunner,
    export_onnx,
    export_paths,
    onnxruntime_path,
)
from dff_common.levels import map_levels
from dff_common.scheduler import KeyFrameScheduler

__all__ = [
    "EAGER",
    "ONNXRUNTIME",
    "OPTIONS",
    "DeployRow",
    "compare_deploy",
    "deploy_table",
    "max_abs_diff",
]

EAGER = "eager fp32"
ONNXRUNTIME = "onnxruntime"
OPTIONS = {
    "compile": dict(compile=True),
    "channels_last": dict(channels_last=True),
    "autocast": dict(autocast=True),
    "compile + channels_last + autocast": dict(compile=True, channels_last=True, autocast=True),
}


@dataclasses.dataclass
class DeployRow:
    """One variant of Algorithm 1, measured against eager float32.

    Attributes:
        name (str): the variant (:data:`EAGER`, a key of :data:`OPTIONS`, :data:`ONNXRUNTIME`).
        ms_per_frame (float): median over the rounds of the time per frame, in milliseconds.
        speedup (float): eager time / this time (> 1: faster than eager float32).
        max_abs_diff (float): largest absolute difference of an output from eager float32.
        relative_diff (float): ``max_abs_diff`` over the largest absolute eager output.
        score (float | None): the task metric of the outputs (None without a scoring function).
        score_delta (float | None): ``score`` minus eager float32's.
    """

    name: str
    ms_per_frame: float
    speedup: float
    max_abs_diff: float
    relative_diff: float
    score: float | None = None
    score_delta: float | None = None


class _EngineTaskNet(nn.Module):
    """N_task in the engine's form ``(features, images) -> y``; the features if None."""

    def __init__(self, task_net: nn.Module | None):
        super().__init__()
        self.task_net = task_net

    def forward(self, features: torch.Tensor, images: torch.Tensor):
        return features if self.task_net is None else self.task_net(features)


def max_abs_diff(a, b) -> float:
    """Largest absolute difference between two outputs (tensors, or tuples / lists of them)."""
    if isinstance(a, torch.Tensor):
        return (a.float() - b.float()).abs().max().item() if a.numel() else 0.0
    return max((max_abs_diff(x, y) for x, y in zip(a, b, strict=True)), default=0.0)


def _run(run_video: Callable[..., Iterator[FrameOutput]], clips, clock) -> tuple[list, float]:
    """Results ``[clip][frame]`` of Algorithm 1 over the clips and the seconds taken."""
    start = clock()
    results = [[out.result for out in run_video(clip)] for clip in clips]
    return results, clock() - start


def compare_deploy(
    parts: DeployParts,
    scheduler: KeyFrameScheduler,
    clips: Sequence[torch.Tensor],
    *,
    options: dict[str, dict] | None = None,
    onnx_dir: str | Path | None = None,
    rounds: int = 3,
    overwrite: bool = False,
    score: Callable[[list[list]], float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    log: Callable[[str], None] = lambda message: None,
) -> list[DeployRow]:
    """Time and compare eager float32 Algorithm 1, each option and onnxruntime.

    Each option runs on its own copy of the networks (channels_last converts weights in
    place). The rounds alternate the variants, so that a change of machine load hits all.

    Args:
        parts (DeployParts): the model's networks, in eval mode, on the clips' device.
        scheduler (KeyFrameScheduler): the key frames (the same for every variant; one that
            needs no flow field when ``onnx_dir`` is given).
        clips (Sequence[Tensor]): videos, ``(T, 3, H, W)`` normalised frames each.
        options (dict, optional): name -> keyword arguments of the engine. Defaults to
            :data:`OPTIONS`.
        onnx_dir (str | Path, optional): export the two paths there (``key.onnx``,
            ``propagation.onnx``) and time them on onnxruntime with
            ``torch.get_num_threads()`` threads. None: no onnxruntime row.
        rounds (int): timed passes over the clips per variant. Defaults to 3.
        overwrite (bool): replace ONNX files already in ``onnx_dir``. Defaults to False.
        score (Callable, optional): task metric of the results ``[clip][frame]`` (each as the
            engine's ``run_video`` yields it). Defaults to None.
        clock (Callable): time source, e.g. ``time.process_time`` for CPU time. Defaults to
            ``time.perf_counter`` (wall time).
        log (Callable): progress messages. Defaults to none.

    Returns:
        list[DeployRow]: eager float32 first, then the options, then onnxruntime.
    """
    if not clips or rounds < 1:
        raise ValueError(f"need at least one clip and one round, got {len(clips)} and {rounds}")
    task_net = _EngineTaskNet(parts.task_net)
    variants = {
        EAGER: DFFInferenceEngine(parts.feature_net, task_net, parts.propagation, scheduler)
    }
    for name, kwargs in (OPTIONS if options is None else options).items():
        copied = copy.deepcopy((parts.feature_net, task_net, parts.propagation))
        variants[name] = DFFInferenceEngine(*copied, scheduler, **kwargs)
    if onnx_dir is not None:
        log(f"exporting to {onnx_dir}")
        programs = export_paths(parts, clips[0][:1])
        paths = [
            export_onnx(p, Path(onnx_dir) / f"{n}.onnx", overwrite=overwrite)
            for p, n in zip(programs, ("key", "propagation"))
        ]
        threads = torch.get_num_threads()
        sessions = [onnxruntime_path(p, threads=threads) for p in paths]
        variants[ONNXRUNTIME] = ExportedDFFRunner(*sessions, scheduler)

    for name, variant in variants.items():
        log(f"warm-up: {name}")
        _run(variant.run_video, clips[:1], clock)
    results, seconds = {}, {name: [] for name in variants}
    for round_ in range(rounds):
        for name, variant in variants.items():
            out, elapsed = _run(variant.run_video, clips, clock)
            results.setdefault(name, out)
            seconds[name].append(elapsed)
            log(f"round {round_ + 1}/{rounds} {name}: {elapsed:.2f} s")

    num_frames = sum(len(clip) for clip in clips)
    eager_time = statistics.median(seconds[EAGER])
    scores = {name: None if score is None else score(results[name]) for name in variants}
    eager = [map_levels(torch.Tensor.cpu, y) for clip in results[EAGER] for y in clip]
    magnitude = max(max_abs_diff(y, map_levels(torch.zeros_like, y)) for y in eager)
    rows = []
    for name in variants:
        median = statistics.median(seconds[name])
        outputs = [map_levels(torch.Tensor.cpu, x) for clip in results[name] for x in clip]
        diff = max(max_abs_diff(x, y) for x, y in zip(outputs, eager, strict=True))
        relative = diff / magnitude if magnitude else 0.0
        value = scores[name]
        delta = None if value is None else value - scores[EAGER]
        ms = 1000 * median / num_frames
        rows.append(DeployRow(name, ms, eager_time / median, diff, relative, value, delta))
    return rows


def deploy_table(rows: Sequence[DeployRow], metric: str) -> str:
    """The rows as a plain-text table: time per frame, speedup, output difference, metric
    (named ``metric``) and its change."""
    lines = [
        f"{'variant':<36} {'ms/frame':>9} {'speedup':>8} {'max |diff|':>11} {'relative':>9} "
        f"{metric:>8} {'change':>7}"
    ]
    for row in rows:
        score = "-" if row.score is None else f"{row.score:.2f}"
        delta = "-" if row.score_delta is None else f"{row.score_delta:+.2f}"
        lines.append(
            f"{row.name:<36} {row.ms_per_frame:>9.1f} {row.speedup:>7.2f}x "
            f"{row.max_abs_diff:>11.2e} {row.relative_diff:>9.1e} {score:>8} {delta:>7}"
        )
    return "\n".join(lines)
