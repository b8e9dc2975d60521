"""tools/demo.py: frame reading (videos, folders, corrupt and missing inputs) and Algorithm 1
end to end on tiny random models, segmentation (mmseg) and detection (detectron2)."""

import importlib.util
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_demo", REPO / "tools" / "demo.py")
demo = sys.modules["dff_demo"] = importlib.util.module_from_spec(SPEC)  # before exec: dataclasses
SPEC.loader.exec_module(demo)

SEG_CONFIG = REPO / "configs" / "dff_mmseg" / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"
SEG_OVERRIDES = {  # 8-channel maps, FlowNet Half without pre-trained weights
    "model.feature_net.out_channels": 8,
    "model.feature_net.norm": "FrozenBN",
    "model.flow_net.name": "flownet_half",
    "model.flow_net.norm": None,
    "model.flow_net.checkpoint": None,
}
SEG_OPTS = [f"{key}={value}" for key, value in SEG_OVERRIDES.items()]  # the demo's KEY=VALUE
DET_CONFIG = REPO / "configs" / "dff_detectron2" / "Synthetic_DFF_RFCN_R50_FlowNetHalf.yaml"
DET_OPTS = [  # as tests/dff_detectron2/conftest.py: 64-channel maps, 3 classes, 64-pixel frames
    "MODEL.DFF.FEATURE.OUT_CHANNELS", "64",
    "MODEL.DFF.FLOW.NORM", "",
    "MODEL.DFF.FLOW.WEIGHTS", "",
    "MODEL.ROI_HEADS.NUM_CLASSES", "3",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "20",
    "MODEL.ANCHOR_GENERATOR.SIZES", "[[16, 32, 64]]",
    "INPUT.MIN_SIZE_TEST", "64",
]  # fmt: skip


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
    reader = demo.FrameReader(write_video(tmp_path / "clip.mp4", frames))
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
    with caplog.at_level(logging.WARNING, logger="dff.demo"):
        reader = demo.FrameReader(folder)
    assert "notes.txt" in caplog.text  # ignored, but not silently
    assert reader.num_frames == 4 and reader.fps is None
    read = [frame for _, frame in reader]
    for got, expected in zip(read, [frames[2], frames[1], frames[3], frames[0]]):
        assert np.array_equal(got, expected)  # PNG is lossless; BGR like cv2.imread


def test_jpeg_frames_are_read(tmp_path):
    frames = random_frames(2)
    folder = write_folder(tmp_path / "frames", frames, ["a.jpg", "b.JPEG"])
    read = [frame for _, frame in demo.FrameReader(folder)]
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
    with pytest.raises(demo.FrameReadError, match=rf"cannot decode frame 2 .*{name}"):
        for index, _ in demo.FrameReader(folder):
            read.append(index)
    assert read == [0, 1]  # the good frames before it came through


def test_a_frame_of_another_size_names_the_file(tmp_path):
    folder = write_folder(tmp_path / "frames", random_frames(1), ["0.png"])
    write_folder(folder, random_frames(1, height=16), ["1.png"])
    with pytest.raises(demo.FrameReadError, match=r"1\.png: frame of size 48x16.* 48x32"):
        list(demo.FrameReader(folder))


def test_truncated_video_names_the_frame_it_could_not_read(tmp_path):
    path = write_video(tmp_path / "clip.avi", random_frames(8, 64, 96), fourcc="MJPG")
    data = path.read_bytes()
    path.write_bytes(data[: int(0.7 * len(data))])
    reader = demo.FrameReader(path)
    read = []
    with pytest.raises(demo.FrameReadError, match=r"cannot read frame (\d): .* of the 8 frames"):
        for index, _ in reader:
            read.append(index)
    assert 0 < len(read) < 8


def test_missing_empty_and_unreadable_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="input not found: .*nowhere"):
        demo.FrameReader(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(demo.FrameReadError, match="no .* frames in .*empty .*it is empty"):
        demo.FrameReader(tmp_path / "empty")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    with pytest.raises(demo.FrameReadError, match="it holds only: a.txt"):
        demo.FrameReader(tmp_path / "texts")
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(demo.FrameReadError, match="cannot open video .*fake.mp4"):
        demo.FrameReader(tmp_path / "fake.mp4")


# ---------------------------------------------------------------------- options and output
def test_output_is_never_overwritten_without_the_flag(tmp_path):
    existing = tmp_path / "out.mp4"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        demo.FrameWriter(existing, 10, overwrite=False)
    assert existing.read_bytes() == b"keep me"
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame_000000.png").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        demo.FrameWriter(tmp_path / "frames", 10, overwrite=False)
    demo.FrameWriter(tmp_path / "frames", 10, overwrite=True)
    assert not any((tmp_path / "frames").iterdir())
    with pytest.raises(ValueError, match="expected a video"):
        demo.FrameWriter(tmp_path / "out.txt", 10, overwrite=False)


def test_scheduler_options():
    fixed = demo.FixedIntervalScheduler
    assert demo.resolve_scheduler(None, fixed(5), has_flow=True).interval == 5
    assert demo.resolve_scheduler(fixed(3), fixed(5), has_flow=True).interval == 3
    assert demo.resolve_scheduler(None, fixed(5), has_flow=False).interval == 1  # per frame
    with pytest.raises(ValueError, match="no flow network"):
        demo.resolve_scheduler(fixed(3), fixed(5), has_flow=False)
    base = ["--config", "c.py", "--checkpoint", "m.pth", "--input", "v.mp4", "--output", "o.mp4"]
    assert demo.parse_args([*base, "--adaptive", "--max-flow", "2"]).adaptive_cfg == {
        "max_flow": 2.0
    }
    with pytest.raises(SystemExit):  # adaptive settings without --adaptive
        demo.parse_args([*base, "--max-flow", "2"])
    with pytest.raises(SystemExit):  # one scheduler at a time
        demo.parse_args([*base, "--adaptive", "--interval", "3"])


# ---------------------------------------------------------------------- end to end
def run_demo_on_six_frames(tmp_path, config, checkpoint, opts, size=(64, 96)):
    frames = [np.full((*size, 3), 128, np.uint8) for _ in range(6)]
    folder = write_folder(tmp_path / "frames", frames, [f"{i}.png" for i in range(6)])
    output = tmp_path / "out.mp4"
    argv = ["--config", str(config), "--checkpoint", str(checkpoint), "--input", str(folder)]
    summary = demo.main(
        [*argv, "--output", str(output), "--interval", "3", "--device", "cpu", *opts]
    )
    assert summary.num_frames == 6 and summary.key_frames == [0, 3] and summary.fps > 0
    written = [frame for _, frame in demo.FrameReader(output)]
    assert len(written) == 6 and written[0].shape == (*size, 3)
    with pytest.raises(SystemExit, match="exists"):
        demo.main([*argv, "--output", str(output), *opts])
    return written


def test_segmentation_end_to_end(tmp_path):
    import dff_mmseg  # noqa: F401

    # isort: split
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from mmseg.utils import get_palette

    cfg = Config.fromfile(SEG_CONFIG)
    cfg.merge_from_dict(SEG_OVERRIDES)
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # every pixel class 2: shows that the checkpoint was loaded
        model.conv_seg.weight.zero_()
        model.conv_seg.bias.copy_(10 * torch.eye(model.num_classes)[2])
    checkpoint = tmp_path / "seg.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)

    written = run_demo_on_six_frames(tmp_path, SEG_CONFIG, checkpoint, SEG_OPTS)
    colour = np.array(get_palette("cityscapes")[2][::-1], float)  # BGR
    expected = 0.5 * 128 + 0.5 * colour  # --opacity 0.5 over the grey frames
    for frame in written:  # below the text box, inside the key-frame border
        assert np.abs(frame[40:56, 8:88].reshape(-1, 3).mean(0) - expected).max() < 8


def test_detection_end_to_end(tmp_path):
    import dff_detectron2  # noqa: F401

    # isort: split
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from dff_detectron2.config import add_dff_config

    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(str(DET_CONFIG))
    cfg.merge_from_list(DET_OPTS)
    checkpoint = tmp_path / "det.pth"
    torch.save({"model": build_model(cfg).state_dict()}, checkpoint)

    run_demo_on_six_frames(tmp_path, DET_CONFIG, checkpoint, ["--score-threshold", "0", *DET_OPTS])
