"""Frames larger than the readers' limit are refused from their header, before decoding."""

import cv2
import numpy as np
import pytest
from PIL import Image

from dff_common.data import frame_size
from dff_common.data.cityscapes import read_image, read_label
from dff_common.data.frame_size import MAX_FRAME_PIXELS, FrameTooLargeError, check_image_file
from dff_common.video_io import FrameReader


def test_an_8000x8000_png_is_refused_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 8000)).save(path)  # 64 megapixels
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1))
    with pytest.raises(FrameTooLargeError, match=r"huge\.png: a frame of 8000x8000 \(64\.0 mega"):
        check_image_file(path)
    assert not decoded  # the header alone told
    assert 3840 * 2160 <= MAX_FRAME_PIXELS  # a 4K UHD frame passes


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DFF_MAX_FRAME_PIXELS", "100")
    frame_size.check_frame_size(10, 10, "x")
    with pytest.raises(FrameTooLargeError, match=r"clip\.mp4 frame 3: a frame of 11x10"):
        frame_size.check_frame_size(11, 10, "clip.mp4 frame 3")
    monkeypatch.setenv("DFF_MAX_FRAME_PIXELS", "lots")
    with pytest.raises(ValueError, match="DFF_MAX_FRAME_PIXELS must be an integer, got 'lots'"):
        frame_size.check_frame_size(1, 1, "x")


def test_every_reader_refuses_a_frame_over_the_limit(tmp_path, monkeypatch):
    frame = np.zeros((32, 48, 3), np.uint8)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:06d}.png"), frame)
    cv2.imwrite(str(tmp_path / "label.png"), frame[..., 0])
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 5,
                             (48, 32))  # fmt: skip
    for _ in range(2):
        writer.write(frame)
    writer.release()
    # at the limit every reader reads, one pixel below it every reader refuses
    monkeypatch.setenv("DFF_MAX_FRAME_PIXELS", str(32 * 48))
    assert len(list(FrameReader(folder))) == 2 and len(list(FrameReader(video))) == 2
    assert read_image(folder / "000000.png").shape == (32, 48, 3)
    monkeypatch.setenv("DFF_MAX_FRAME_PIXELS", str(32 * 48 - 1))
    with pytest.raises(FrameTooLargeError, match=r"frame 0 .*000000\.png: a frame of 48x32"):
        list(FrameReader(folder))
    with pytest.raises(FrameTooLargeError, match=r"clip\.mp4: a frame of 48x32"):
        FrameReader(video)
    with pytest.raises(FrameTooLargeError, match=r"000001\.png: a frame of 48x32"):
        read_image(folder / "000001.png")
    with pytest.raises(FrameTooLargeError, match=r"label\.png: a frame of 48x32"):
        read_label(tmp_path / "label.png")
