"""dff_common.timing: the one clock (median, CUDA synchronisation, CPU time), the parts of
Eq. 5 timed alone and inside Algorithm 1, interleaved rounds, and the speedup over l = 1
against Eq. 7, on a scripted clock."""

import pytest
import torch

from dff_common import timing
from dff_common.complexity import PartCosts, cost_ratio
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.timing import (
    Algorithm1Timing,
    Timer,
    time_algorithm_1,
    time_parts,
    time_speedup,
)


class ScriptedClock:
    """A clock that only the fake networks move: each call advances it by a fixed time."""

    def __init__(self):
        self.seconds = 0.0

    def costing(self, seconds, fn):
        def run(*args, **kwargs):
            self.seconds += seconds
            return fn(*args, **kwargs)

        return run


@pytest.fixture
def clock(monkeypatch):
    clock = ScriptedClock()
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock.seconds)
    return clock


def fake_networks(clock):
    """N_feat 100 ms, F + S 20 ms, W 5 ms, N_task 1 ms per call; 4-channel 2x3 features."""
    propagation = type(
        "FakePropagation",
        (),
        {
            "flow_and_scale": staticmethod(
                clock.costing(0.020, lambda key, cur: (torch.zeros(len(cur), 2, 2, 3), None))
            ),
            "propagate": staticmethod(clock.costing(0.005, lambda f_key, flow, scale: f_key + 1)),
        },
    )()
    feature_net = clock.costing(0.100, lambda images: torch.zeros(len(images), 4, 2, 3))
    task_net = clock.costing(0.001, lambda features, images: features.mean((1, 2, 3)))
    return feature_net, task_net, propagation


def test_median_of_repeats_after_untimed_warmup(monkeypatch):
    readings = iter([0.0, 1.0, 1.0, 4.0, 4.0, 6.0])  # runs of 1, 3 and 2 seconds
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(readings))
    calls = []
    assert Timer().median(lambda: calls.append(1), repeats=3, warmup=2) == 2.0
    assert len(calls) == 5  # 2 untimed + 3 timed
    with pytest.raises(ValueError, match="repeats"):
        Timer().median(lambda: None, repeats=0)


def test_call_returns_the_output_and_its_time(clock):
    out, seconds = Timer().call(clock.costing(0.25, lambda x, y=0: x + y), 2, y=3)
    assert out == 5 and seconds == pytest.approx(0.25)


def test_cuda_readings_wait_for_the_device(monkeypatch):
    synchronized = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synchronized.append(device))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: 5.0)
    assert Timer("cuda:0").now() == 5.0
    assert synchronized == [torch.device("cuda:0")]
    Timer("cpu").now()
    assert len(synchronized) == 1  # nothing to wait for on the CPU


def test_cpu_time_reads_the_process_clock_and_only_on_the_cpu(monkeypatch):
    monkeypatch.setattr(timing.time, "process_time", lambda: 7.0)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: 1.0)
    assert Timer(cpu_time=True).now() == 7.0 and Timer().now() == 1.0
    with pytest.raises(ValueError, match="CPU time cannot time work on cuda"):
        Timer("cuda", cpu_time=True)
    assert "CPU time" in Timer(cpu_time=True).describe()


def test_time_parts_in_milliseconds_and_r(clock):
    feature_net, task_net, propagation = fake_networks(clock)
    frames = torch.zeros(1, 3, 8, 12)
    costs = time_parts(feature_net, propagation, task_net, frames, frames, Timer(), repeats=3)
    expected = PartCosts(feature_net=100.0, flow=20.0, scale=0.0, warp=5.0, task_net=1.0)
    for name in ("feature_net", "flow", "scale", "warp", "task_net"):
        assert getattr(costs, name) == pytest.approx(getattr(expected, name)), name
    assert cost_ratio(costs) == pytest.approx((20 + 5 + 1) / (100 + 1))  # Eq. 5 in ms


def test_algorithm_1_sums_each_part_where_it_runs(clock):
    feature_net, task_net, propagation = fake_networks(clock)
    videos = [torch.zeros(5, 3, 8, 12), torch.zeros(5, 3, 8, 12)]
    run = time_algorithm_1(
        feature_net, task_net, propagation, FixedIntervalScheduler(2), videos, Timer()
    )
    # l = 2 over 5 frames: key frames 0, 2, 4 of each video; 6 key and 4 non-key frames
    assert (run.frames, run.key_frames) == (10, 6)
    seconds = {"N_feat": 6 * 0.1, "F+S": 4 * 0.02, "W": 4 * 0.005, "N_task": 10 * 0.001}
    assert run.part_seconds == pytest.approx(seconds)
    assert run.seconds == pytest.approx(sum(seconds.values()))  # warm-up not counted
    assert run.fps == pytest.approx(10 / 0.71)
    assert run.ms_per_frame()["N_feat"] == pytest.approx(60.0)
    costs = run.part_costs()
    assert (costs.feature_net, costs.flow, costs.warp, costs.task_net) == pytest.approx(
        (100.0, 20.0, 5.0, 1.0)
    )


def test_concurrent_streams_step_their_frames_as_one_batch(clock):
    feature_net, task_net, propagation = fake_networks(clock)
    batch_sizes = []
    counting = feature_net

    def feature_net(images):
        batch_sizes.append(len(images))
        return counting(images)

    videos = [torch.full((5, 3, 8, 12), float(v)) for v in range(4)]
    run = time_algorithm_1(
        feature_net, task_net, propagation, FixedIntervalScheduler(2), videos, Timer(), streams=2
    )
    # two batches of 2 videos; each batch: key steps 0, 2, 4 (one N_feat call for both videos)
    assert (run.frames, run.key_frames) == (20, 12)
    assert batch_sizes == [1] + [2] * 6  # the warm-up on one frame, then 3 key steps per batch
    seconds = {"N_feat": 6 * 0.1, "F+S": 4 * 0.02, "W": 4 * 0.005, "N_task": 10 * 0.001}
    assert run.part_seconds == pytest.approx(seconds)
    assert run.fps == pytest.approx(20 / 0.71)  # twice the frames of one stream, same time


def test_streams_must_divide_the_videos_into_batches_of_one_length(clock):
    networks = fake_networks(clock)
    scheduler = FixedIntervalScheduler(2)
    videos = [torch.zeros(4, 3, 8, 12)] * 3
    with pytest.raises(ValueError, match="streams = 2: must be >= 1 and divide the 3 videos"):
        time_algorithm_1(*networks[:2], networks[2], scheduler, videos, Timer(), streams=2)
    uneven = [torch.zeros(4, 3, 8, 12), torch.zeros(6, 3, 8, 12)]
    with pytest.raises(ValueError, match=r"videos \[0, 1\] of one batch differ in length"):
        time_algorithm_1(*networks[:2], networks[2], scheduler, uneven, Timer(), streams=2)


def test_a_per_frame_model_needs_no_propagation(clock):
    feature_net, task_net, _ = fake_networks(clock)
    run = time_algorithm_1(
        feature_net, task_net, None, FixedIntervalScheduler(1), [torch.zeros(3, 3, 8, 12)], Timer()
    )
    assert (run.frames, run.key_frames) == (3, 3)
    assert run.part_seconds["F+S"] == run.part_seconds["W"] == 0.0
    with pytest.raises(ValueError, match="r needs key and non-key frames"):
        run.part_costs()


def test_runs_at_several_l_pool_into_one_r():
    # a 4-frame video; N_feat 100 ms per key frame, F + S + W 30 ms per non-key frame,
    # N_task 1 ms per frame: l = 1 has 4 key frames, l = 2 keys 0, 2 and l = 3 keys 0, 3
    def run(keys):
        parts = {"N_feat": 0.1 * keys, "F+S": 0.025 * (4 - keys), "W": 0.005 * (4 - keys)}
        return Algorithm1Timing(4, keys, 1.0, {**parts, "N_task": 0.004})

    pooled = run(4) + run(2) + run(2)
    assert (pooled.frames, pooled.key_frames, pooled.seconds) == (12, 8, 3.0)
    assert cost_ratio(pooled.part_costs()) == pytest.approx(31 / 101)


def test_interleaved_rounds_keep_the_median_run():
    order, seconds = [], {"a": iter([3.0, 1.0, 2.0]), "b": iter([5.0, 4.0, 6.0])}

    def run(name):
        order.append(name)
        return Algorithm1Timing(1, 1, next(seconds[name]), {})

    kept = timing.time_interleaved({"a": lambda: run("a"), "b": lambda: run("b")}, rounds=3)
    assert order == ["a", "b"] * 3
    assert (kept["a"].seconds, kept["b"].seconds) == (2.0, 5.0)
    seconds = {"a": iter([3.0, 1.0])}
    two = timing.time_interleaved({"a": lambda: run("a")}, rounds=2)
    assert two["a"].seconds == 1.0  # the faster of two


def test_speedup_over_l_1_is_eq_7_when_the_parts_are_all_the_time(clock):
    feature_net, task_net, propagation = fake_networks(clock)
    rounds = []
    kept = time_speedup(
        feature_net, task_net, propagation, [torch.zeros(10, 3, 8, 12)], Timer(), [10, 5],
        rounds=2, report=lambda round_, interval, timing: rounds.append((round_, interval)),
    )  # fmt: skip
    assert rounds == [(1, 1), (1, 5), (1, 10), (2, 1), (2, 5), (2, 10)]  # l = 1 added, first
    # T(1) = 10 x (100 + 1) ms; T(5) = 2 x 100 + 8 x (20 + 5) + 10 x 1; T(10) = 100 + 9 x 25 + 10
    seconds = {interval: timing.seconds for interval, timing in kept.timings.items()}
    assert seconds == pytest.approx({1: 1.010, 5: 0.410, 10: 0.335})
    assert kept.r == pytest.approx((20 + 5 + 1) / (100 + 1))
    assert kept.measured(5) == pytest.approx(1.010 / 0.410)
    for l in (1, 5, 10):  # noqa: E741 (the paper's symbol)
        assert kept.measured(l) == pytest.approx(l / (1 + (l - 1) * 26 / 101))
        assert kept.predicted(l) == pytest.approx(kept.measured(l))


def test_speedup_needs_whole_key_frame_intervals(clock):
    feature_net, task_net, propagation = fake_networks(clock)
    with pytest.raises(
        ValueError, match=r"videos of \[8\] frames: each must be a multiple of l = 5"
    ):
        time_speedup(
            feature_net, task_net, propagation, [torch.zeros(8, 3, 8, 12)], Timer(), [2, 5]
        )
