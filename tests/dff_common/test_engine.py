"""Algorithm 1 inference engine with toy feature/task networks and a real FeaturePropagation."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dff_common.engine import DFFInferenceEngine
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import AdaptiveScheduler, FixedIntervalScheduler

H, W = 64, 96  # frames; features 4 x 6 at stride 16


class ToyFeatureNet(nn.Module):
    """Stride-16 conv; records the batch size of each call."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=16, padding=1)
        self.batch_sizes = []

    def forward(self, images):
        self.batch_sizes.append(images.shape[0])
        return self.conv(images)


class ToyTaskNet(nn.Module):
    """1x1 conv plus a little of the (pooled) image, so that image order matters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 1)

    def forward(self, features, images):
        pooled = F.adaptive_avg_pool2d(images.mean(1, keepdim=True), features.shape[2:])
        return self.conv(features) + 0.01 * pooled


class ToyFlowNet(nn.Module):
    """One conv on [cur, key] average-pooled to stride 8; counts its calls."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(6, 2 + 4, 3, padding=1)
        self.calls = 0

    def forward(self, key, cur):
        self.calls += 1
        size = (math.ceil(key.shape[2] / 8), math.ceil(key.shape[3] / 8))
        out = F.adaptive_avg_pool2d(self.conv(torch.cat([cur, key], 1)), size)
        return 20.0 * out[:, :2], 1.0 + out[:, 2:]


class MotionFlowNet(nn.Module):
    """Horizontal flow proportional to the frame difference: large when the content changes."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, key, cur):
        self.calls += 1
        n, size = key.shape[0], (math.ceil(key.shape[2] / 8), math.ceil(key.shape[3] / 8))
        motion = 1e4 * (cur - key).abs().mean((1, 2, 3))  # inputs are (RGB - mean) / 255
        flow = torch.stack([motion, torch.zeros_like(motion)], 1).view(n, 2, 1, 1)
        return flow.expand(n, 2, *size), torch.ones(n, 4, *size)


def make_engine(scheduler, flow_net=None):
    nets = ToyFeatureNet().eval(), ToyTaskNet().eval()
    prop = FeaturePropagation(flow_net or ToyFlowNet()).eval()
    return DFFInferenceEngine(*nets, prop, scheduler)


def video(length, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(length, 3, H, W, generator=generator)


@torch.no_grad()
def per_frame(engine, frame):
    return engine.task_net(engine.feature_net(frame[None]), frame[None])[0]


@torch.no_grad()
def algorithm_1(engine, frames, interval):
    """Algorithm 1 written out for one video with key frames every ``interval`` frames."""
    results = []
    for i, frame in enumerate(frames):
        if i % interval == 0:
            f_key, key_image = engine.feature_net(frame[None]), frame[None]
            features = f_key
        else:
            features = engine.propagation(f_key, key_image, frame[None])
        results.append(engine.task_net(features, frame[None])[0])
    return results


def test_fixed_interval_follows_algorithm_1():
    engine = make_engine(FixedIntervalScheduler(3))
    frames = video(8, seed=1)
    outputs = list(engine.run_video(frames))
    assert [o.is_key for o in outputs] == [i % 3 == 0 for i in range(8)]
    assert [o.key_index for o in outputs] == [0, 0, 0, 3, 3, 3, 6, 6]
    for out, expected in zip(outputs, algorithm_1(engine, frames, 3)):
        assert torch.equal(out.result, expected)
    assert not torch.allclose(outputs[1].result, per_frame(engine, frames[1]), atol=1e-3)
    assert engine.video_ids == ()  # run_video frees its cache


def test_interval_one_equals_per_frame_evaluation_exactly():
    engine = make_engine(FixedIntervalScheduler(1))
    frames = video(5, seed=2)
    for i, out in enumerate(engine.run_video(frame[None] for frame in frames)):
        assert out.is_key and out.key_index == i
        assert torch.equal(out.result, per_frame(engine, frames[i]))
    assert engine.propagation.flow_net.calls == 0


def test_cache_is_per_video_and_resets_at_frame_zero():
    engine = make_engine(FixedIntervalScheduler(10))
    a, b, a_again = video(3, seed=3), video(3, seed=4), video(3, seed=5)
    for i in range(3):
        engine.step(a[i : i + 1], ["a"], [i])
    nets = engine.feature_net, engine.task_net, engine.propagation
    fresh = DFFInferenceEngine(*nets, FixedIntervalScheduler(10))
    for frames, video_id in ((b, "b"), (a_again, "a")):  # b starts while a is cached; a restarts
        for i in range(3):
            out = engine.step(frames[i : i + 1], [video_id], [i])
            assert out.is_key == [i == 0] and out.key_indices == [0]
            assert torch.equal(out.results, fresh.step(frames[i : i + 1], ["x"], [i]).results)
        fresh.reset()
    assert set(engine.video_ids) == {"a", "b"}


def test_batched_videos_equal_one_video_at_a_time():
    engine = make_engine(FixedIntervalScheduler(3))
    videos = {"v7": video(7, 10), "v4": video(4, 11), "v5": video(5, 12), "v1": video(1, 13)}
    expected = {k: list(engine.run_video(frames)) for k, frames in videos.items()}
    feature_calls, flow_net = engine.feature_net.batch_sizes, engine.propagation.flow_net
    # interleaved schedule: (video, first frame) pairs per step, videos at different positions
    schedule = [["v7"], ["v7", "v4"], ["v4", "v7", "v5"], ["v5", "v1", "v4", "v7"], ["v7", "v5"]]
    schedule += [["v5", "v4", "v7"], ["v7", "v5"]]
    position = dict.fromkeys(videos, 0)
    for ids in schedule:
        indices = [position[v] for v in ids]
        frames = torch.stack([videos[v][i] for v, i in zip(ids, indices)])
        n_calls, n_flow_calls = len(feature_calls), flow_net.calls
        out = engine.step(frames, ids, indices)
        n_keys = sum(out.is_key)  # one feature-net call on the key frames, one flow-net call
        assert feature_calls[n_calls:] == ([n_keys] if n_keys else [])
        assert flow_net.calls - n_flow_calls == (n_keys < len(ids))
        for j, (video_id, index) in enumerate(zip(ids, indices)):
            reference = expected[video_id][index]
            assert out.is_key[j] == reference.is_key
            assert out.key_indices[j] == reference.key_index
            torch.testing.assert_close(out.results[j], reference.result, rtol=1e-5, atol=1e-6)
            position[video_id] += 1
    assert position == {k: len(v) for k, v in videos.items()}


def test_one_frame_video_and_empty_video():
    engine = make_engine(FixedIntervalScheduler(5))
    frame = video(1, seed=6)[0]
    (out,) = list(engine.run_video([frame]))
    assert out.is_key and out.key_index == 0
    assert torch.equal(out.result, per_frame(engine, frame))
    with pytest.raises(ValueError, match="empty video"):
        list(engine.run_video([]))
    with pytest.raises(ValueError, match="frame 1: expected"):
        list(engine.run_video([frame, frame[:2]]))
    assert engine.video_ids == ()


def test_bad_steps_raise_and_leave_the_caches_intact():
    engine = make_engine(FixedIntervalScheduler(5))
    frames = video(3, seed=7)
    engine.step(frames[:1], ["a"], [0])
    with pytest.raises(ValueError, match="video 'a': frame 2 arrived after frame 0"):
        engine.step(frames[2:3], ["a"], [2])
    with pytest.raises(ValueError, match="two frames of the same video in one batch: 'a'"):
        engine.step(frames[1:3], ["a", "a"], [1, 2])
    with pytest.raises(ValueError, match="2 frames but 1 video ids"):
        engine.step(frames[:2], ["a"], [1, 0])
    with pytest.raises(ValueError, match="frames must be"):
        engine.step(frames[0], ["a"], [1])
    with pytest.raises(ValueError, match="bad frame index -1"):
        engine.step(frames[:1], ["b"], [-1])
    out = engine.step(frames[1:2], ["a"], [1])  # still in order after the errors
    assert out.is_key == [False] and out.key_indices == [0]
    with pytest.raises(KeyError, match="no cached video 'b'"):
        engine.end_video("b")
    engine.end_video("a")
    assert engine.video_ids == ()


def test_adaptive_scheduler_starts_a_key_frame_on_large_motion():
    flow_net = MotionFlowNet()
    scheduler = AdaptiveScheduler(max_flow=2.0, max_inconsistent_fraction=0.2, max_interval=None)
    engine = make_engine(scheduler, flow_net)
    scene_1, scene_2 = video(1, seed=8), video(1, seed=9)
    frames = torch.cat([scene_1.expand(4, -1, -1, -1), scene_2.expand(3, -1, -1, -1)])
    frames = frames + 0.001 * torch.randn(frames.shape)  # small changes within a scene
    outputs = list(engine.run_video(frames))
    assert [o.is_key for o in outputs] == [True, False, False, False, True, False, False]
    assert [o.key_index for o in outputs] == [0, 0, 0, 0, 4, 4, 4]
    assert flow_net.calls == 6  # once per non-first frame: the scheduler's flow is reused
    assert torch.equal(outputs[4].result, per_frame(engine, frames[4]))
    with torch.no_grad():
        f_key = engine.feature_net(frames[4:5])
        propagated = engine.propagation(f_key, frames[4:5], frames[6:7])
    assert torch.equal(outputs[6].result, engine.task_net(propagated, frames[6:7])[0])


def test_list_results_and_batch_order():
    engine = make_engine(FixedIntervalScheduler(2))
    engine.task_net = lambda features, images: [{"mean": f.mean()} for f in features]
    frames = video(2, seed=14)
    out = engine.step(frames, ["x", "y"], [0, 0])
    assert out.is_key == [True, True] and out.key_indices == [0, 0]
    with torch.no_grad():
        features = engine.feature_net(frames)
    assert [r["mean"] for r in out.results] == [features[0].mean(), features[1].mean()]
    out = engine.step(frames[[1, 0]], ["y", "x"], [1, 1])
    assert out.is_key == [False, False] and isinstance(out.results, list)


class NonFiniteRow(nn.Module):
    """Puts ``value`` into batch row ``row`` of a network's output (output ``part`` of a tuple)."""

    def __init__(self, net, row, part=None, value=float("nan")):
        super().__init__()
        self.net, self.row, self.part, self.value = net, row, part, value

    def forward(self, *inputs):
        out = self.net(*inputs)
        target = out if self.part is None else out[self.part]
        target[self.row, 0, 0, 0] = self.value
        return out


def test_non_finite_input_frames_are_named_key_frames_included():
    engine = make_engine(FixedIntervalScheduler(5))
    frames = video(3, seed=15)
    first = frames[:1].clone()
    first[0, 1, 5, 7] = float("nan")
    with pytest.raises(ValueError, match=r"video 'a', frame 0: the input frame is not finite"):
        engine.step(first, ["a"], [0])  # a key frame: refused before N_feat runs
    assert engine.video_ids == ()
    engine.step(frames[:2], ["a", "b"], [0, 0])
    later = frames[1:3].clone()
    later[1, 2, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"^video 'b', frame 1: the input frame is not finite"):
        engine.step(later, ["a", "b"], [1, 1])
    out = engine.step(frames[1:3], ["a", "b"], [1, 1])  # the caches were left as they were
    assert out.is_key == [False, False] and out.key_indices == [0, 0]


def test_non_finite_network_outputs_are_named():
    engine = make_engine(FixedIntervalScheduler(5))
    frames = video(2, seed=16)
    toy_feature_net = engine.feature_net
    engine.feature_net = NonFiniteRow(toy_feature_net, row=1)
    with pytest.raises(ValueError, match=r"^video 'y', frame 0: the feature network output"):
        engine.step(frames, ["x", "y"], [0, 0])
    assert engine.video_ids == ()  # no NaN key features cached (they passed the warp before)
    engine.feature_net = toy_feature_net
    engine.step(frames, ["x", "y"], [0, 0])
    toy_flow_net = engine.propagation.flow_net
    for part, value in ((0, float("nan")), (1, float("nan")), (1, float("-inf"))):
        engine.propagation.flow_net = NonFiniteRow(toy_flow_net, row=0, part=part, value=value)
        with pytest.raises(ValueError, match=r"^video 'x', frame 1: the flow network output"):
            engine.step(frames, ["x", "y"], [1, 1])
    # the adaptive scheduler never sees a NaN field: it is refused first
    engine.scheduler = AdaptiveScheduler()
    with pytest.raises(ValueError, match=r"^video 'x', frame 1: the flow network output"):
        engine.step(frames, ["x", "y"], [1, 1])
    # finite f_k, M and S whose product W overflows float32
    engine.propagation.flow_net = NonFiniteRow(toy_flow_net, row=1, part=1, value=1e38)
    engine.scheduler = FixedIntervalScheduler(5)
    engine.reset()
    engine.feature_net = lambda images: 1e6 * toy_feature_net(images)
    engine.step(frames, ["x", "y"], [0, 0])
    with pytest.raises(ValueError, match=r"^video 'y', frame 1: the propagated features"):
        engine.step(frames, ["x", "y"], [1, 1])


def test_frame_size_change_inside_a_video_is_named():
    engine = make_engine(FixedIntervalScheduler(5))
    engine.step(video(1, seed=17), ["a"], [0])
    engine.step(video(1, seed=18), ["a"], [1])
    small = torch.randn(1, 3, 32, 48)
    with pytest.raises(ValueError, match=r"video 'a': frame 2 is 32x48 but .* are 64x96"):
        engine.step(small, ["a"], [2])
    out = engine.step(small, ["a"], [0])  # frame 0 starts the video again, at the new size
    assert out.is_key == [True] and engine.step(small, ["a"], [1]).is_key == [False]


def test_max_videos_frees_the_oldest_cache_with_a_warning(caplog):
    engine = make_engine(FixedIntervalScheduler(5))
    engine.max_videos = 2
    frames = video(3, seed=19)
    with caplog.at_level("WARNING", logger="dff_common.engine"):
        engine.step(frames[:2], ["a", "b"], [0, 0])
        engine.step(frames[:1], ["a"], [1])  # b has now waited longest
        assert caplog.records == []
        engine.step(frames[2:3], ["c"], [0])
        assert engine.video_ids == ("a", "c")
        (record,) = caplog.records
        assert record.levelname == "WARNING"
        assert "video 'b': key-frame cache freed after frame 0" in record.message
        assert "max_videos=2" in record.message and "end_video()" in record.message
        out = engine.step(frames[1:2], ["b"], [1])  # b goes on: a key frame again; a freed
        assert out.is_key == [True] and out.key_indices == [1]
        assert "video 'a': key-frame cache freed after frame 1" in caplog.records[-1].message
    assert engine.video_ids == ("c", "b")
    engine.end_video("c")  # an ended video leaves room: no warning
    caplog.clear()
    engine.step(frames[:1], ["d"], [0])
    assert caplog.records == [] and engine.video_ids == ("b", "d")
    with pytest.raises(ValueError, match="a batch of 3 videos needs more than max_videos=2"):
        engine.step(frames, ["x", "y", "z"], [0, 0, 0])
    assert engine.video_ids == ("b", "d")


def test_max_videos_default_and_bad_values():
    nets = ToyFeatureNet().eval(), ToyTaskNet().eval(), FeaturePropagation(ToyFlowNet()).eval()
    assert DFFInferenceEngine(*nets, FixedIntervalScheduler(2)).max_videos == 64
    unbounded = DFFInferenceEngine(*nets, FixedIntervalScheduler(2), max_videos=None)
    frame = video(1, seed=20)
    for v in range(70):
        unbounded.step(frame, [v], [0])
    assert len(unbounded.video_ids) == 70
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="max_videos must be an int >= 1 or None"):
            DFFInferenceEngine(*nets, FixedIntervalScheduler(2), max_videos=bad)
