"""dff_common.demo: the scheduler a demo runs with, and the demo loop (model time only, key
frames tagged, every frame written, stopping at --max-frames) on a fake demo."""

import numpy as np
import pytest

from dff_common import timing
from dff_common.demo import KEY_COLOR, annotate, resolve_scheduler, run_demo
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.timing import Timer


def test_scheduler_options():
    fixed = FixedIntervalScheduler
    assert resolve_scheduler(None, fixed(5), has_flow=True).interval == 5
    assert resolve_scheduler(fixed(3), fixed(5), has_flow=True).interval == 3
    assert resolve_scheduler(None, fixed(5), has_flow=False).interval == 1  # per frame
    with pytest.raises(ValueError, match="no flow network"):
        resolve_scheduler(fixed(3), fixed(5), has_flow=False)


class FakeDemo:
    """Key frames every 2 frames; inference takes 0.25 s on the scripted clock, drawing 1 s."""

    def __init__(self, clock):
        self.clock = clock

    def infer(self, frame, index):
        self.clock[0] += 0.25
        return frame.mean(), index % 2 == 0, index - index % 2

    def draw(self, frame, prediction):
        self.clock[0] += 1.0  # not the model's time: not counted
        return frame.copy()


class ListReader:
    def __init__(self, frames):
        self.frames, self.num_frames = frames, len(frames)

    def __iter__(self):
        return iter(enumerate(self.frames))


class ListWriter:
    path = "memory"

    def __init__(self):
        self.frames, self.closed = [], False

    def write(self, frame):
        self.frames.append(frame)

    def close(self):
        self.closed = True


def test_run_demo_times_the_model_and_tags_key_frames(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    frames = [np.full((60, 80, 3), 100, np.uint8) for _ in range(5)]
    writer = ListWriter()
    summary = run_demo(FakeDemo(clock), ListReader(frames), writer, 4, Timer())
    assert (summary.num_frames, summary.key_frames, summary.output) == (4, [0, 2], "memory")
    assert summary.fps == pytest.approx(4.0)  # 4 frames in 1 s of inference
    assert writer.closed and len(writer.frames) == 4
    key, other = writer.frames[0], writer.frames[1]
    assert tuple(key[-1, 40]) == KEY_COLOR and tuple(other[-1, 40]) == (100, 100, 100)


def test_annotate_writes_the_key_frame_it_reads_from():
    image = annotate(np.zeros((40, 400, 3), np.uint8), 7, False, 5, 12.0)
    assert image[8:12, 6:200].max() == 255  # white text on the black box
    assert tuple(image[-1, 200]) == (0, 0, 0)  # no border on a non-key frame
