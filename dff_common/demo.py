"""The video demo's loop: Algorithm 1 over the frames of a video, each drawn and written.

A *demo* (``dff_mmseg.demo.SegmentationDemo``, ``dff_detectron2.demo.DetectionDemo``) runs
one frame through its model's :class:`~dff_common.engine.DFFInferenceEngine`
(``infer(frame, index) -> (prediction, is_key, key_index)``) and draws the prediction over the
frame (``draw(frame, prediction)``); :func:`run_demo` reads, times the model (decoding,
drawing and writing excluded), annotates and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dff_common.scheduler import FixedIntervalScheduler, KeyFrameScheduler
from dff_common.timing import Timer
from dff_common.video_io import FrameReader, FrameWriter

__all__ = ["KEY_COLOR", "VIDEO_ID", "DemoSummary", "annotate", "resolve_scheduler", "run_demo"]

VIDEO_ID = "demo"  # the engine's id of the one video processed
KEY_COLOR = (0, 0, 255)  # BGR red


def resolve_scheduler(
    requested: KeyFrameScheduler | None, default: KeyFrameScheduler, has_flow: bool
) -> KeyFrameScheduler:
    """The requested scheduler, else the config's; per-frame models need ``l = 1``."""
    if has_flow:
        return requested or default
    if requested is None:
        return FixedIntervalScheduler(1)
    if not (isinstance(requested, FixedIntervalScheduler) and requested.interval == 1):
        raise ValueError(
            "the config has no flow network (a per-frame model): every frame is a key frame, "
            "run it with --interval 1 or without a scheduler option"
        )
    return requested


def annotate(image: np.ndarray, index: int, is_key: bool, key_index: int, fps: float):
    """Red border and "KEY" tag on key frames; frame, key frame and running fps on all."""
    if is_key:
        cv2.rectangle(image, (0, 0), (image.shape[1] - 1, image.shape[0] - 1), KEY_COLOR, 4)
    text = f"frame {index}  {'KEY' if is_key else f'key {key_index}'}  {fps:.1f} fps"
    scale = max(image.shape[1] / 1000, 0.35)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (4, 4), (8 + width, 8 + height + base), (0, 0, 0), -1)
    color = KEY_COLOR if is_key else (255, 255, 255)
    cv2.putText(image, text, (6, 6 + height), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1)
    return image


@dataclass
class DemoSummary:
    """What a demo run did: frames written, key frame indices, model frames per second."""

    num_frames: int
    key_frames: list[int]
    fps: float
    output: Path


def run_demo(
    demo, reader: FrameReader, writer: FrameWriter, max_frames: int | None, timer: Timer
) -> DemoSummary:
    """Algorithm 1 over the frames of ``reader``, drawn and written by ``writer``.

    Args:
        demo: ``infer(frame, index)`` and ``draw(frame, prediction)`` (module docstring).
        reader (FrameReader): the input frames.
        writer (FrameWriter): the output; closed at the end.
        max_frames (int, optional): stop after this many frames.
        timer (Timer): the clock of ``demo.infer`` (on the model's device).

    Returns:
        DemoSummary: frames written, key frames, model frames per second.
    """
    from tqdm import tqdm

    total = min(filter(None, (reader.num_frames, max_frames)), default=None)
    key_frames, seconds, count = [], 0.0, 0
    progress = tqdm(total=total, unit="frame", desc="DFF demo")
    try:
        for index, frame in reader:
            (prediction, is_key, key_index), elapsed = timer.call(demo.infer, frame, index)
            seconds += elapsed
            count += 1
            if is_key:
                key_frames.append(index)
            image = demo.draw(frame, prediction)
            writer.write(annotate(image, index, is_key, key_index, count / seconds))
            progress.update()
            progress.set_postfix(fps=f"{count / seconds:.2f}", keys=len(key_frames))
            if count == max_frames:
                break
    finally:
        progress.close()
        writer.close()
    return DemoSummary(count, key_frames, count / seconds, writer.path)
