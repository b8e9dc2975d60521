"""The largest frame the readers decode: a larger one is refused before it is decoded.

Every reader of frames (the datasets' image files, the video demo's files and folders) checks
the size in the file's header first. A frame of 8000x8000 takes 192 MB as uint8 and several
times that through the float copies before the model's resize: a few of them in a batch or a
loader queue exhaust the memory and the process is killed without a word.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

__all__ = ["MAX_FRAME_PIXELS", "FrameTooLargeError", "check_frame_size", "check_image_file"]

# 4096 x 4096 (16.8 megapixels): twice a 4K UHD frame; the environment variable
# DFF_MAX_FRAME_PIXELS sets another limit
MAX_FRAME_PIXELS = 4096 * 4096


class FrameTooLargeError(ValueError):
    """A frame larger than :func:`max_frame_pixels`."""


def max_frame_pixels() -> int:
    """``$DFF_MAX_FRAME_PIXELS`` if set, else :data:`MAX_FRAME_PIXELS`."""
    value = os.environ.get("DFF_MAX_FRAME_PIXELS")
    if value is None:
        return MAX_FRAME_PIXELS
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"DFF_MAX_FRAME_PIXELS must be an integer, got {value!r}") from None


def check_frame_size(width: int, height: int, where: str) -> None:
    """Raise :class:`FrameTooLargeError` naming ``where`` (a file, or a video and frame) when
    a ``width`` x ``height`` frame exceeds the limit."""
    limit = max_frame_pixels()
    if width * height <= limit:
        return
    raise FrameTooLargeError(
        f"{where}: a frame of {width}x{height} ({width * height / 1e6:.1f} megapixels, "
        f"{width * height * 3 / 2**30:.2f} GiB as uint8) is larger than the "
        f"{limit / 1e6:.1f} megapixels the readers decode; scale the frames down first "
        "(e.g. `ffmpeg -i IN -vf scale=-2:1080 OUT`; the models resize to a few hundred "
        "pixels anyway) or raise the limit with DFF_MAX_FRAME_PIXELS"
    )


def check_image_file(path: str | Path) -> None:
    """:func:`check_frame_size` of an image file from its header (nothing is decoded). A file
    that is not an image passes: its reader reports it."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return
    check_frame_size(width, height, str(path))
