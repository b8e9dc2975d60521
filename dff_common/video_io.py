"""Frames in and out of the video demo: a video file or a folder of images, read in order and
checked, and a video (mp4v) or numbered PNG frames written without overwriting.

Nothing is skipped: a frame that cannot be decoded raises :class:`FrameReadError` naming its
file (folder) or index (video); a frame larger than the readers' limit
(:mod:`dff_common.data.frame_size`) is refused before it is decoded.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from dff_common.data.frame_size import FrameTooLargeError, check_frame_size

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "FrameReadError",
    "FrameReader",
    "FrameWriter",
    "natural_key",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")


class FrameReadError(ValueError):
    """An input that yields no frames, or a frame that cannot be decoded."""


def natural_key(name: str) -> list:
    """Sort key putting ``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class FrameReader:
    """The frames of a video file or of a folder of ``.jpg``/``.jpeg``/``.png`` images.

    Folder frames are read in natural name order; a folder's other entries are ignored, with a
    warning. Iterating yields ``(index, frame)``, ``frame`` a ``(H, W, 3)`` uint8 BGR array;
    every frame must have the size of the first. Nothing is skipped: a frame that cannot be
    decoded raises :class:`FrameReadError` naming its file (folder) or index (video).

    Args:
        path (str | Path): a video file (anything ``cv2.VideoCapture`` opens) or a folder.

    Attributes:
        num_frames (int | None): frame count (of the folder, or the video's header; None when
            the video does not tell).
        fps (float | None): frame rate of a video (None for a folder or when unknown).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FrameReadError: an empty folder or a video that cannot be opened.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.files: list[Path] | None = None
        self.fps = None
        if not self.path.exists():
            raise FileNotFoundError(f"input not found: {self.path}")
        if self.path.is_dir():
            entries = sorted(self.path.iterdir(), key=lambda p: natural_key(p.name))
            self.files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            others = [p.name for p in entries if p not in self.files]
            if not self.files:
                found = f"; it holds only: {', '.join(others[:5])}" if others else " (it is empty)"
                raise FrameReadError(f"no {'/'.join(IMAGE_SUFFIXES)} frames in {self.path}{found}")
            if others:
                logger.warning(
                    f"{self.path}: ignoring {len(others)} entries that are not "
                    f"{'/'.join(IMAGE_SUFFIXES)} files: {', '.join(others[:5])}"
                )
            self.num_frames = len(self.files)
        else:
            capture = cv2.VideoCapture(str(self.path))
            try:
                if not capture.isOpened():
                    raise FrameReadError(
                        f"cannot open video {self.path}: not a video file, or a codec that "
                        "OpenCV's video backends cannot decode"
                    )
                count, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
                width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
                height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
                check_frame_size(width, height, str(self.path))
            finally:
                capture.release()
            self.num_frames = int(count) if count > 0 else None
            self.fps = fps if fps > 0 else None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        frames = self._read_folder() if self.files is not None else self._read_video()
        size = None
        for index, frame in frames:
            if size is None:
                size = frame.shape
            elif frame.shape != size:
                where = (
                    self.files[index] if self.files is not None else f"{self.path} frame {index}"
                )
                raise FrameReadError(
                    f"{where}: frame of size {frame.shape[1]}x{frame.shape[0]}, but the first "
                    f"frame is {size[1]}x{size[0]}; all frames must have one size"
                )
            yield index, frame

    def _read_folder(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, file in enumerate(self.files):
            try:  # PIL, unlike cv2.imread, raises on a truncated file instead of padding it
                with Image.open(file) as image:
                    check_frame_size(*image.size, f"frame {index} {file}")
                    rgb = np.asarray(image.convert("RGB"))
            except FrameTooLargeError:
                raise
            except (OSError, SyntaxError, ValueError) as error:  # UnidentifiedImageError too
                raise FrameReadError(f"cannot decode frame {index} {file}: {error}") from error
            yield index, np.ascontiguousarray(rgb[:, :, ::-1])

    def _read_video(self) -> Iterator[tuple[int, np.ndarray]]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while capture.grab():
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    raise FrameReadError(f"{self.path}: cannot decode frame {index}")
                yield index, frame
                index += 1
            if self.num_frames is not None and index < self.num_frames:
                raise FrameReadError(
                    f"{self.path}: cannot read frame {index}: the stream ended after {index} of "
                    f"the {self.num_frames} frames its header announces (truncated or corrupt)"
                )
            if index == 0:
                raise FrameReadError(f"{self.path}: no frame could be read")
        finally:
            capture.release()


class FrameWriter:
    """Writes BGR frames to a video (mp4v) or, for a path without suffix, to numbered PNGs.

    Args:
        path (Path): output video file or folder.
        fps (float): frame rate of a video output.
        overwrite (bool): replace an existing video, or write into a non-empty folder (its
            ``frame_*.png`` files are removed first).

    Raises:
        FileExistsError: the output exists and ``overwrite`` is False.
        ValueError: an unknown output suffix.
    """

    def __init__(self, path: Path, fps: float, overwrite: bool):
        self.path, self.fps, self.video, self.count = Path(path), fps, None, 0
        self.is_folder = self.path.is_dir() or not self.path.suffix
        if not self.is_folder and self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(
                f"--output {self.path}: expected a video ({', '.join(VIDEO_SUFFIXES)}) or a folder"
            )
        exists = any(self.path.iterdir()) if self.path.is_dir() else self.path.exists()
        if exists and not overwrite:
            raise FileExistsError(f"output {self.path} exists; pass --overwrite to replace it")
        if self.is_folder:
            self.path.mkdir(parents=True, exist_ok=True)
            for old in self.path.glob("frame_*.png"):
                old.unlink()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: np.ndarray) -> None:
        if self.is_folder:
            file = self.path / f"frame_{self.count:06d}.png"
            if not cv2.imwrite(str(file), frame):
                raise OSError(f"cv2.imwrite cannot write {file}")
        else:
            if self.video is None:
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                size = (frame.shape[1], frame.shape[0])
                self.video = cv2.VideoWriter(str(self.path), fourcc, self.fps, size)
                if not self.video.isOpened():
                    raise OSError(f"cv2.VideoWriter cannot write {self.path} (mp4v)")
            self.video.write(frame)
        self.count += 1

    def close(self) -> None:
        """Finish the video; raise ``OSError`` naming it if it does not read back with every
        frame written (a full disk leaves a file that does not open)."""
        if self.video is None:
            return
        self.video.release()
        capture = cv2.VideoCapture(str(self.path))
        try:
            readable = capture.isOpened() and capture.grab()
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if readable else 0
        finally:
            capture.release()
        if not readable or count < self.count:
            free = shutil.disk_usage(self.path.parent).free / 2**20
            raise OSError(
                f"{self.path}: the video does not read back ({count} of the {self.count} frames "
                f"written; {free:.1f} MiB free in {self.path.parent}; is the disk full?)"
            )
