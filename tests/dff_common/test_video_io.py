"""dff_common.video_io: frame reading (videos, folders, corrupt and missing inputs) and
writing (videos, frame folders, never overwriting without being asked)."""

import logging

import cv2
import numpy as np
import pytest

from dff_common import video_io
from dff_common.video_io import FrameReader, FrameReadError, FrameWriter


def random_frames(n, height=32, width=48, seed=0):
    """``n`` smooth random BGR frames (smooth: they survive lossy video coding)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, height // 16, width // 16, 3), dtype=np.uint8)
    return [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in small]


def write_video(path, frames, fourcc="mp4v", fps=5):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(
        str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height)
    )
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def write_folder(folder, frames, names):
    folder.mkdir(exist_ok=True)
    for frame, name in zip(frames, names):
        assert cv2.imwrite(str(folder / name), frame)
    return folder


# ---------------------------------------------------------------------- reading frames
def test_video_frames_read_back_with_count_shape_and_values(tmp_path):
    frames = random_frames(5, 64, 96)
    reader = FrameReader(write_video(tmp_path / "clip.mp4", frames))
    assert reader.num_frames == 5 and reader.fps == pytest.approx(5)
    read = list(reader)
    assert [i for i, _ in read] == list(range(5))
    for index, got in read:
        assert got.shape == (64, 96, 3) and got.dtype == np.uint8
        errors = [np.abs(got.astype(float) - f).mean() for f in frames]  # mp4v is lossy
        assert errors[index] < 8 and int(np.argmin(errors)) == index


def test_folder_frames_in_natural_order_exactly(tmp_path, caplog):
    frames = random_frames(4)
    names = ["frame10.png", "frame2.png", "frame1.png", "frame9.png"]  # natural: 1, 2, 9, 10
    folder = write_folder(tmp_path / "frames", frames, names)
    (folder / "notes.txt").write_text("not a frame")
    with caplog.at_level(logging.WARNING, logger=video_io.logger.name):
        reader = FrameReader(folder)
    assert "notes.txt" in caplog.text  # ignored, but not silently
    assert reader.num_frames == 4 and reader.fps is None
    read = [frame for _, frame in reader]
    for got, expected in zip(read, [frames[2], frames[1], frames[3], frames[0]]):
        assert np.array_equal(got, expected)  # PNG is lossless; BGR like cv2.imread


def test_jpeg_frames_are_read(tmp_path):
    frames = random_frames(2)
    folder = write_folder(tmp_path / "frames", frames, ["a.jpg", "b.JPEG"])
    read = [frame for _, frame in FrameReader(folder)]
    assert len(read) == 2
    assert np.abs(read[1].astype(float) - frames[1]).mean() < 6


@pytest.mark.parametrize(
    "name, corrupt",
    [
        ("0002.png", lambda data: data[: len(data) // 2]),  # truncated PNG
        ("0002.jpg", lambda data: data[: len(data) // 2]),  # truncated JPEG
        ("0002.jpg", lambda data: b"this is no image"),
    ],
    ids=["truncated-png", "truncated-jpeg", "not-an-image"],
)
def test_corrupt_frame_in_a_folder_names_the_file(tmp_path, name, corrupt):
    folder = write_folder(tmp_path / "frames", random_frames(3), ["0000.png", "0001.png", name])
    (folder / name).write_bytes(corrupt((folder / name).read_bytes()))
    read = []
    with pytest.raises(FrameReadError, match=rf"cannot decode frame 2 .*{name}"):
        for index, _ in FrameReader(folder):
            read.append(index)
    assert read == [0, 1]  # the good frames before it came through


def test_a_frame_of_another_size_names_the_file(tmp_path):
    folder = write_folder(tmp_path / "frames", random_frames(1), ["0.png"])
    write_folder(folder, random_frames(1, height=16), ["1.png"])
    with pytest.raises(FrameReadError, match=r"1\.png: frame of size 48x16.* 48x32"):
        list(FrameReader(folder))


def test_truncated_video_names_the_frame_it_could_not_read(tmp_path):
    path = write_video(tmp_path / "clip.avi", random_frames(8, 64, 96), fourcc="MJPG")
    data = path.read_bytes()
    path.write_bytes(data[: int(0.7 * len(data))])
    reader = FrameReader(path)
    read = []
    with pytest.raises(FrameReadError, match=r"cannot read frame (\d): .* of the 8 frames"):
        for index, _ in reader:
            read.append(index)
    assert 0 < len(read) < 8


def test_missing_empty_and_unreadable_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="input not found: .*nowhere"):
        FrameReader(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrameReadError, match="no .* frames in .*empty .*it is empty"):
        FrameReader(tmp_path / "empty")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    with pytest.raises(FrameReadError, match="it holds only: a.txt"):
        FrameReader(tmp_path / "texts")
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(FrameReadError, match="cannot open video .*fake.mp4"):
        FrameReader(tmp_path / "fake.mp4")


# ---------------------------------------------------------------------- writing frames
def test_output_is_never_overwritten_without_the_flag(tmp_path):
    existing = tmp_path / "out.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        FrameWriter(existing, 10, overwrite=False)
    assert existing.read_bytes() == b"keep me"
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame_000000.png").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        FrameWriter(tmp_path / "frames", 10, overwrite=False)
    FrameWriter(tmp_path / "frames", 10, overwrite=True)
    assert not any((tmp_path / "frames").iterdir())
    with pytest.raises(ValueError, match="expected a video"):
        FrameWriter(tmp_path / "out.txt", 10, overwrite=False)


def test_a_video_that_does_not_read_back_is_an_error_naming_it(tmp_path):
    path = tmp_path / "out.mp4"
    writer = FrameWriter(path, fps=5, overwrite=False)
    for frame in random_frames(12, 32, 48):
        writer.write(frame)
    video = writer.video

    class DiskFull:  # the encoder's last writes are lost, as on a full disk
        def release(self):
            video.release()
            with open(path, "r+b") as f:
                f.truncate(100)

    writer.video = DiskFull()
    with pytest.raises(OSError, match=rf"{path}: the video does not read back \(0 of the 12 "):
        writer.close()


def test_a_complete_video_closes_quietly(tmp_path):
    writer = FrameWriter(tmp_path / "out.mp4", fps=5, overwrite=False)
    for frame in random_frames(3, 32, 48):
        writer.write(frame)
    writer.close()
    assert len(list(FrameReader(tmp_path / "out.mp4"))) == 3
