"""Timing the parts of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 3, Eq. 5 and 7, Algorithm 1).

One clock, :class:`Timer`, for every measurement of the project: wall time read after
``torch.cuda.synchronize`` on a CUDA device (its kernels run asynchronously), or the process's
CPU time (CPU only; steadier when other jobs share the machine). On it:

- :func:`time_parts`: the parts of Eq. 5 on one frame, each timed alone, medians of repeats;
- :func:`time_algorithm_1`: Algorithm 1 over whole videos, the time of each part summed where
  it runs; :class:`Algorithm1Timing` gives the frames per second and, from the same run, the
  part costs per key and per non-key frame;
- :func:`time_interleaved`: several runs in interleaved rounds, so that a change of the
  machine's load hits all of them alike;
- :func:`time_speedup`: Algorithm 1 at several l in interleaved rounds, l = 1 the reference:
  :class:`SpeedupTiming` gives the measured speedup next to Eq. 7 with r from the same runs.

Only the networks are timed, on decoded and normalised frames: data loading and
pre-processing can dominate and would hide the speedup of propagation.
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import statistics
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import torch

from dff_common.complexity import PartCosts, cost_ratio, speedup
from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import FixedIntervalScheduler, KeyFrameScheduler

__all__ = [
    "PARTS",
    "Algorithm1Timing",
    "SpeedupTiming",
    "Timer",
    "time_algorithm_1",
    "time_interleaved",
    "time_parts",
    "time_speedup",
]

# the parts timed in Algorithm 1: N_feat, F + S (one forward of the flow network, with the
# resizing of both frames to its input), W (Eq. 3) and N_task
PARTS = ("N_feat", "F+S", "W", "N_task")


class Timer:
    """The clock of every measurement: wall time, CUDA-synchronised, or the process's CPU time.

    Args:
        device (str | torch.device): where the timed work runs. On a CUDA device every reading
            waits for its queued kernels (``torch.cuda.synchronize``). Defaults to "cpu".
        cpu_time (bool): read the process's CPU time (all its threads) instead of wall time;
            CPU only. Defaults to False.
    """

    def __init__(self, device: str | torch.device = "cpu", cpu_time: bool = False):
        self.device = torch.device(device)
        if cpu_time and self.device.type != "cpu":
            raise ValueError(f"CPU time cannot time work on {self.device}; use wall time")
        self.cpu_time = cpu_time

    def now(self) -> float:
        """Seconds on this timer's clock, read once the device's queued work is done."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.process_time() if self.cpu_time else time.perf_counter()

    def call(self, fn: Callable, *args, **kwargs) -> tuple[Any, float]:
        """``(fn(*args, **kwargs), the seconds it took)``."""
        start = self.now()
        out = fn(*args, **kwargs)
        return out, self.now() - start

    def median(self, fn: Callable[[], object], repeats: int = 10, warmup: int = 1) -> float:
        """Median seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` untimed runs."""
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        for _ in range(warmup):
            fn()
        return statistics.median(self.call(fn)[1] for _ in range(repeats))

    def describe(self) -> str:
        """The clock and the timed device in words: GPU name, or CPU model and torch threads."""
        clock = "CPU time" if self.cpu_time else "wall time"
        if self.device.type == "cuda":
            return f"{torch.cuda.get_device_name(self.device)}, {clock}"
        model = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as cpuinfo:
                names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
            model = names[0] if names else model
        except OSError:
            pass
        return f"CPU {model}, {torch.get_num_threads()} threads, {clock}"

    def __repr__(self) -> str:
        return f"Timer(device={str(self.device)!r}, cpu_time={self.cpu_time})"


@torch.no_grad()
def time_parts(
    feature_net: Callable,
    propagation,
    task_net: Callable,
    key_images: torch.Tensor,
    cur_images: torch.Tensor,
    timer: Timer,
    repeats: int = 10,
    warmup: int = 1,
) -> PartCosts:
    """Milliseconds of each part of Eq. 5 on one batch of frames, each part timed alone.

    Args:
        feature_net (Callable): N_feat, ``(N, 3, H, W)`` images -> ``(N, C, h, w)`` features
            (or one map per level).
        propagation (FeaturePropagation): F + S (``flow_and_scale``, which also resizes both
            frames to the flow network's input) and W (``propagate``, which also resizes the
            fields to each feature level).
        task_net (Callable): N_task, ``(features, images) -> results`` (the engine's signature).
        key_images, cur_images (Tensor): ``(N, 3, H, W)`` frames, the feature network's input.
        timer (Timer): the clock.
        repeats (int): timed runs per part (median). Defaults to 10.
        warmup (int): untimed runs per part first. Defaults to 1.

    Returns:
        PartCosts: medians in milliseconds; ``flow`` holds F + S (one forward), ``scale`` 0.
    """
    features = feature_net(cur_images)
    flow, scale = propagation.flow_and_scale(key_images, cur_images)
    parts = {
        "feature_net": lambda: feature_net(cur_images),
        "flow": lambda: propagation.flow_and_scale(key_images, cur_images),
        "warp": lambda: propagation.propagate(features, flow, scale),
        "task_net": lambda: task_net(features, cur_images),
    }
    ms = {name: 1000 * timer.median(run, repeats, warmup) for name, run in parts.items()}
    return PartCosts(scale=0.0, **ms)


@dataclasses.dataclass(frozen=True)
class Algorithm1Timing:
    """One timed run of Algorithm 1; runs add up (``a + b``) to pool their frames and times.

    Attributes:
        frames (int): frames processed.
        key_frames (int): how many of them were key frames (N_feat ran).
        seconds (float): the whole run, the engine's bookkeeping included.
        part_seconds (dict[str, float]): total seconds of each of :data:`PARTS`.
    """

    frames: int
    key_frames: int
    seconds: float
    part_seconds: dict[str, float]

    @property
    def fps(self) -> float:
        """Frames per second of the whole run."""
        return self.frames / self.seconds

    def ms_per_frame(self) -> dict[str, float]:
        """Milliseconds of each part per frame, averaged over all frames (key or not)."""
        return {part: 1000 * s / self.frames for part, s in self.part_seconds.items()}

    def part_costs(self) -> PartCosts:
        """Eq. 5's costs in ms: N_feat per key frame, F + S (as ``flow``) and W per non-key
        frame, N_task per frame."""
        non_key = self.frames - self.key_frames
        if not self.key_frames or not non_key:
            raise ValueError(
                f"r needs key and non-key frames, got {self.key_frames} key frames of "
                f"{self.frames} (pool runs at several l, or time an l > 1)"
            )
        ms = {part: 1000 * s for part, s in self.part_seconds.items()}
        return PartCosts(
            feature_net=ms["N_feat"] / self.key_frames,
            flow=ms["F+S"] / non_key,
            scale=0.0,
            warp=ms["W"] / non_key,
            task_net=ms["N_task"] / self.frames,
        )

    def __add__(self, other: Algorithm1Timing) -> Algorithm1Timing:
        return Algorithm1Timing(
            self.frames + other.frames,
            self.key_frames + other.key_frames,
            self.seconds + other.seconds,
            {part: s + other.part_seconds[part] for part, s in self.part_seconds.items()},
        )


def time_algorithm_1(
    feature_net: Callable,
    task_net: Callable,
    propagation,
    scheduler: KeyFrameScheduler,
    videos: Sequence[torch.Tensor],
    timer: Timer,
    warmup: int = 1,
    streams: int = 1,
) -> Algorithm1Timing:
    """Algorithm 1 through :class:`DFFInferenceEngine` over whole videos, each part timed where
    it runs: ``streams`` videos at a time, one frame of each per step (a batch of concurrent
    videos, each with its own key frame cache).

    Args:
        feature_net, task_net, propagation, scheduler: as :class:`DFFInferenceEngine`;
            ``propagation`` may be None when every frame is a key frame (a per-frame model
            with ``FixedIntervalScheduler(1)``). With a scheduler that needs the flow, F + S
            also runs on the frames it then makes key frames.
        videos (Sequence[Tensor]): ``(T, 3, H, W)`` decoded and normalised frames of each
            video, on the networks' device.
        timer (Timer): the clock.
        warmup (int): untimed runs of ``feature_net`` on the first frame first. Defaults to 1.
        streams (int): videos stepped together; ``len(videos)`` must be a multiple of it and
            the videos of one batch of the same length. Defaults to 1.

    Returns:
        Algorithm1Timing: frames, key frames, total and per-part seconds.
    """
    if streams < 1 or len(videos) % streams:
        raise ValueError(f"streams = {streams}: must be >= 1 and divide the {len(videos)} videos")
    batches = [range(first, first + streams) for first in range(0, len(videos), streams)]
    for batch in batches:
        lengths = {len(videos[video]) for video in batch}
        if len(lengths) > 1:
            raise ValueError(f"videos {list(batch)} of one batch differ in length: {lengths}")
    seconds = dict.fromkeys(PARTS, 0.0)

    def timed(part: str, fn: Callable) -> Callable:
        def run(*args):
            out, elapsed = timer.call(fn, *args)
            seconds[part] += elapsed
            return out

        return run

    if propagation is not None:
        propagation = SimpleNamespace(
            flow_and_scale=timed("F+S", propagation.flow_and_scale),
            propagate=timed("W", propagation.propagate),
        )
    engine = DFFInferenceEngine(
        timed("N_feat", feature_net), timed("N_task", task_net), propagation, scheduler
    )
    with torch.no_grad():
        for _ in range(warmup):
            feature_net(videos[0][:1])
    frames = key_frames = 0
    start = timer.now()
    for batch in batches:
        for index in range(len(videos[batch[0]])):
            frame = torch.stack([videos[video][index] for video in batch])
            key_frames += sum(engine.step(frame, list(batch), [index] * streams).is_key)
            frames += streams
        for video in batch:
            engine.end_video(video)
    return Algorithm1Timing(frames, key_frames, timer.now() - start, seconds)


def time_interleaved(
    runs: Mapping[Hashable, Callable[[], Algorithm1Timing]],
    rounds: int,
    report: Callable[[int, Hashable, Algorithm1Timing], None] | None = None,
) -> dict[Hashable, Algorithm1Timing]:
    """Every run once per round, rounds interleaved; per run, the round of median time.

    With an even number of rounds the faster of the two middle ones is kept (2 rounds: the
    faster), so the result is always a real run.

    Args:
        runs (Mapping[Hashable, Callable]): name -> a timed run (e.g. of
            :func:`time_algorithm_1` at one l).
        rounds (int): runs of each.
        report (Callable, optional): called as ``report(round, name, timing)`` after each run.

    Returns:
        dict: name -> the kept :class:`Algorithm1Timing`.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    timings = {name: [] for name in runs}
    for round_ in range(1, rounds + 1):
        for name, run in runs.items():
            timings[name].append(run())
            if report is not None:
                report(round_, name, timings[name][-1])
    return {
        name: sorted(done, key=lambda t: t.seconds)[(rounds - 1) // 2]
        for name, done in timings.items()
    }


@dataclasses.dataclass(frozen=True)
class SpeedupTiming:
    """Algorithm 1 at several key frame durations l, l = 1 (every frame a key frame) among them.

    Attributes:
        timings (dict[int, Algorithm1Timing]): l -> the kept run over the same videos.
    """

    timings: dict[int, Algorithm1Timing]

    def part_costs(self) -> PartCosts:
        """Eq. 5's costs in ms from the parts timed inside all the runs, pooled (see
        :meth:`Algorithm1Timing.part_costs`)."""
        runs = list(self.timings.values())
        return sum(runs[1:], runs[0]).part_costs()

    @property
    def r(self) -> float:
        """r of Eq. 5 from :meth:`part_costs`."""
        return cost_ratio(self.part_costs())

    def measured(self, l: int) -> float:  # noqa: E741 (the paper's symbol)
        """Measured speedup over per-frame inference: T(l = 1) / T(l)."""
        return self.timings[1].seconds / self.timings[l].seconds

    def predicted(self, l: int) -> float:  # noqa: E741
        """Eq. 7 at l with :attr:`r`."""
        return speedup(self.r, l)


def time_speedup(
    feature_net: Callable,
    task_net: Callable,
    propagation,
    videos: Sequence[torch.Tensor],
    timer: Timer,
    intervals: Sequence[int],
    rounds: int = 1,
    report: Callable[[int, Hashable, Algorithm1Timing], None] | None = None,
) -> SpeedupTiming:
    """Algorithm 1 with ``FixedIntervalScheduler(l)`` for l = 1 and every l of ``intervals``
    (:func:`time_algorithm_1`), in :func:`time_interleaved` rounds.

    Args:
        feature_net, task_net, propagation: as :class:`DFFInferenceEngine`.
        videos (Sequence[Tensor]): ``(T, 3, H, W)`` normalised frames of each video, T a
            multiple of every l (one key frame in l, as Eq. 7 assumes).
        timer (Timer): the clock.
        intervals (Sequence[int]): the key frame durations l; l = 1 is always timed.
        rounds (int): runs of each l (the median kept). Defaults to 1.
        report (Callable, optional): ``report(round, l, timing)`` after each run.

    Returns:
        SpeedupTiming: the kept run of each l, ascending.
    """
    intervals = sorted({1, *intervals})
    for l in intervals:  # noqa: E741
        if any(len(video) % l for video in videos):
            lengths = [len(video) for video in videos]
            raise ValueError(f"videos of {lengths} frames: each must be a multiple of l = {l}")
    runs = {
        l: functools.partial(
            time_algorithm_1, feature_net, task_net, propagation, FixedIntervalScheduler(l),
            videos, timer,
        )
        for l in intervals  # noqa: E741
    }  # fmt: skip
    return SpeedupTiming(time_interleaved(runs, rounds, report))
