"""Key-frame schedulers (Algorithm 1, line 6; Sec. 3 and Sec. 6)."""

import pytest
import torch

from dff_common.scheduler import (
    AdaptiveScheduler,
    FixedIntervalScheduler,
    KeyFrameScheduler,
    build_scheduler,
)


def key_frames(scheduler, length):
    """Key-frame indices of one video, the first frame always a key frame (as the engine does)."""
    keys, k = [0], 0
    for i in range(1, length):
        if scheduler.is_key(i - k):
            keys.append(i)
            k = i
    return keys


@pytest.mark.parametrize("interval, expected", [(1, list(range(7))), (3, [0, 3, 6]), (10, [0])])
def test_fixed_interval_key_frames(interval, expected):
    scheduler = FixedIntervalScheduler(interval)
    assert not scheduler.needs_flow
    assert key_frames(scheduler, 7) == expected
    latest = [max(k for k in expected if k <= i) for i in range(7)]  # each frame's key frame
    assert [scheduler.key_frame(i) for i in range(7)] == latest  # the schedule's closed form
    assert scheduler.is_key([1, interval, interval + 1]) == [interval == 1, True, True]


def test_adaptive_inconsistent_fraction_counts_outside_and_fast_locations():
    scheduler = AdaptiveScheduler(max_flow=2.0)
    flow = torch.zeros(3, 2, 4, 5)
    flow[1, 0, :, -1] = 0.5  # last column reads beyond x = W - 1: 4 of 20 locations
    flow[2, 1, 0, 0] = -0.1  # top-left reads above row 0
    flow[2, :, 2, 2] = torch.tensor([1.5, 1.5])  # |M| = 2.12 > 2, target inside the map
    flow[2, :, 1, 1] = torch.tensor([1.0, 1.0])  # |M| = 1.41: consistent
    torch.testing.assert_close(
        scheduler.inconsistent_fraction(flow), torch.tensor([0.0, 4 / 20, 2 / 20])
    )


def test_adaptive_triggers_on_large_motion_only():
    scheduler = AdaptiveScheduler(max_flow=3.0, max_inconsistent_fraction=0.25, max_interval=None)
    assert scheduler.needs_flow
    still = torch.zeros(2, 4, 6)
    pan = torch.zeros(2, 4, 6)
    pan[0] = 2.0  # 2 of 6 columns read beyond the right edge: fraction 1/3 > 0.25
    slow = torch.zeros(2, 4, 6)
    slow[0] = 1.0  # 1 of 6 columns: 1/6
    assert scheduler.is_key(5, still) is False
    assert scheduler.is_key(5, pan) is True
    assert scheduler.is_key(5, slow) is False
    assert scheduler.is_key([1, 2, 3], torch.stack([pan, still, slow])) == [True, False, False]


def test_adaptive_min_and_max_interval():
    scheduler = AdaptiveScheduler(max_inconsistent_fraction=0.1, min_interval=2, max_interval=4)
    far = torch.full((1, 2, 3, 3), 10.0)
    still = torch.zeros(1, 2, 3, 3)
    assert scheduler.is_key(1, far) is False  # never before min_interval
    assert scheduler.is_key(2, far) is True
    assert scheduler.is_key(3, still) is False
    assert scheduler.is_key(4, still) is True  # always at max_interval
    with pytest.raises(ValueError, match="needs the flow"):
        scheduler.is_key(3)
    with pytest.raises(ValueError, match="needs the flow"):
        scheduler.is_key([3, 4], still)


def test_frames_since_key_must_be_positive_integers():
    scheduler = FixedIntervalScheduler(2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="frames_since_key"):
            scheduler.is_key(bad)
    with pytest.raises(ValueError, match="frames_since_key"):
        scheduler.is_key([1, 0])


def test_build_scheduler():
    fixed = build_scheduler({"type": "fixed", "interval": 5})
    assert isinstance(fixed, FixedIntervalScheduler) and fixed.interval == 5
    adaptive = build_scheduler({"type": "adaptive", "max_flow": 2, "max_interval": None})
    assert isinstance(adaptive, AdaptiveScheduler) and isinstance(adaptive, KeyFrameScheduler)
    assert (adaptive.max_flow, adaptive.max_interval, adaptive.min_interval) == (2.0, None, 1)
    assert "interval=5" in repr(fixed) and "max_flow=2.0" in repr(adaptive)


@pytest.mark.parametrize(
    "cfg, message",
    [
        (
            {"type": "fixed", "interval": 0},
            r"interval \(key frame duration length l\) must be an integer >= 1, got 0",
        ),
        (
            {"type": "fixed", "interval": 2.5},
            r"interval \(key frame duration length l\) must be an integer >= 1, got 2.5 \(float\)",
        ),
        (
            {"type": "fixed", "interval": "10"},
            r"interval \(key frame duration length l\) must be an integer >= 1, got .10. \(str\)",
        ),
        ({"type": "fixed"}, "bad keys"),
        ({"type": "fixed", "interval": 3, "length": 3}, "bad keys"),
        ({"type": "random"}, "unknown scheduler type 'random'"),
        ({"interval": 3}, "'type' key"),
        ("fixed", "'type' key"),
        ({"type": "adaptive", "max_flow": 0}, "max_flow must be in"),
        ({"type": "adaptive", "max_inconsistent_fraction": 1.5}, "max_inconsistent_fraction"),
        ({"type": "adaptive", "min_interval": 5, "max_interval": 3}, "max_interval must be >= 5"),
    ],
)
def test_build_scheduler_errors(cfg, message):
    with pytest.raises(ValueError, match=message):
        build_scheduler(cfg)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True, None])
def test_one_validator_and_one_error_type_for_l_everywhere(bad):
    from detectron2.config import get_cfg

    import dff_detectron2  # noqa: F401  (the detectron2 config keys)
    from dff_common.data.pairs import evaluation_pairs, sample_key_index
    from dff_common.scheduler import FixedIntervalScheduler
    from dff_detectron2.config import add_dff_config, check_dff_config

    cfg = add_dff_config(get_cfg())
    cfg.MODEL.DFF.KEY_FRAME_INTERVAL = bad
    message = r"\(key frame duration length l\) must be an integer >= 1, got "
    for check, name in (
        (lambda: FixedIntervalScheduler(bad), "interval"),
        (lambda: sample_key_index(5, bad), "interval"),
        (lambda: evaluation_pairs(5, bad), "interval"),
        (lambda: check_dff_config(cfg), "MODEL.DFF.KEY_FRAME_INTERVAL"),
    ):
        with pytest.raises(ValueError, match=name + " " + message):
            check()
