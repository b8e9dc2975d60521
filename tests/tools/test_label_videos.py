"""tools/label_videos.py: unlabelled videos -> frame folders labelled by the image model."""

import cv2
import numpy as np
import pytest
import torch

import dff_mmseg  # noqa: F401  (registrations, compat shims)
import label_videos
from dff_common.video_io import FrameWriter

IMAGE_CONFIG = """
_base_ = ["mmseg::_base_/models/fcn_r50-d8.py"]
norm_cfg = dict(type="BN", requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=512, channels=16, num_convs=1, num_classes=4, norm_cfg=norm_cfg),
    auxiliary_head=None,
)
test_pipeline = [dict(type="LoadImageFromFile"), dict(type="PackSegInputs")]
"""


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    from mmengine.config import Config
    from mmseg.registry import MODELS

    folder = tmp_path_factory.mktemp("image_model")
    config = folder / "fcn_r18_tiny.py"
    config.write_text(IMAGE_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    _two_classes(model.eval(), _video(folder / "calibration"))
    checkpoint = folder / "fcn.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)
    return config, checkpoint, model.eval()


def _normalized(model, frame):
    """A BGR frame as the model's input, normalised by hand: ``(RGB - mean) / std``."""
    mean = torch.tensor(model.data_preprocessor.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.data_preprocessor.std).view(1, 3, 1, 1)
    rgb = torch.from_numpy(frame[:, :, ::-1].copy()).permute(2, 0, 1)[None].float()
    return (rgb - mean) / std


def _two_classes(model, images):
    """Make the random model's classifier tell the frames' regions apart: class 1 where the
    most varying channel of the head's last features is above its median, else class 0."""
    head = model.decode_head
    frame = _normalized(model, images[0])
    features = {}
    hook = head.conv_seg.register_forward_pre_hook(lambda m, a: features.update(x=a[0]))
    with torch.no_grad():
        model.encode_decode(frame, [dict(img_shape=(32, 48), ori_shape=(32, 48))])
    hook.remove()
    x = features["x"][0]
    channel = int(x.flatten(1).std(1).argmax())
    head.conv_seg.weight.data.zero_()
    head.conv_seg.bias.data.fill_(-10.0)
    head.conv_seg.weight.data[1, channel] = 1.0
    head.conv_seg.bias.data[:2] = torch.tensor([0.0, -float(x[channel].median())])


def _video(path, frames=6, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (32, 48, 3), np.uint8)
    image[:, 24:] += 190  # two regions, which the image model tells apart
    images = [image]
    for _ in range(frames - 1):
        images.append(np.roll(images[-1], 2, axis=1))
    writer = FrameWriter(path, fps=10, overwrite=False)
    for image in images:
        writer.write(image)
    writer.close()
    return images


def test_segmentation_labels_are_the_image_models_classes(image_model, tmp_path):
    config, checkpoint, model = image_model
    folder = tmp_path / "clip"
    images = _video(folder)  # a folder of PNG frames: lossless
    out = tmp_path / "set"
    label_videos.main(["--config", str(config), "--checkpoint", str(checkpoint),
                       "--videos", str(folder), "--out", str(out), "--every", "2"])  # fmt: skip
    frames = sorted((out / "frames" / "clip").iterdir())
    labels = sorted((out / "labels" / "clip").iterdir())
    assert [p.name for p in frames] == [f"{i:06d}.png" for i in range(6)]
    assert [p.name for p in labels] == [f"{i:06d}.png" for i in (0, 2, 4)]
    for label in labels:
        frame = cv2.imread(str(out / "frames" / "clip" / label.name))
        np.testing.assert_array_equal(frame, images[int(label.stem)])
        meta = [dict(img_shape=(32, 48), ori_shape=(32, 48), pad_shape=(32, 48))]
        with torch.no_grad():
            expected = model.encode_decode(_normalized(model, frame), meta).argmax(1)[0].numpy()
        written = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(written, expected)
    assert len(np.unique(written)) > 1  # the teacher's map is not constant
    # the set is a VideoSegDataset as written
    from dff_mmseg.datasets import VideoSegDataset

    ds = VideoSegDataset(
        data_root=str(out), data_prefix=dict(img_path="frames", seg_map_path="labels"),
        metainfo=dict(classes=("a", "b", "c", "d")), interval=3, pipeline=[], img_suffix=".png",
        seg_map_suffix=".png",
    )  # fmt: skip
    assert len(ds) == 3 and ds.get_data_info(2)["frame"] == 4


def test_an_mp4_is_decoded_once_and_nothing_is_replaced(image_model, tmp_path):
    config, checkpoint, _ = image_model
    video = tmp_path / "walk.mp4"
    _video(video, frames=4)
    out = tmp_path / "set"
    args = ["--config", str(config), "--checkpoint", str(checkpoint), "--videos", str(video),
            "--out", str(out)]  # fmt: skip
    label_videos.main(args)
    assert len(list((out / "frames" / "walk").iterdir())) == 4
    assert len(list((out / "labels" / "walk").iterdir())) == 4
    with pytest.raises(SystemExit):
        label_videos.main(args)  # the folder exists
    assert len(list((out / "labels" / "walk").iterdir())) == 4


def test_a_video_that_does_not_decode_is_named_before_anything_is_written(image_model, tmp_path):
    config, checkpoint, _ = image_model
    good, bad = tmp_path / "good.mp4", tmp_path / "bad.mp4"
    _video(good, frames=3)
    bad.write_bytes(b"not a video" * 100)
    out = tmp_path / "set"
    with pytest.raises(SystemExit, match=r"cannot open video .*bad.mp4"):
        label_videos.main(["--config", str(config), "--checkpoint", str(checkpoint),
                           "--videos", str(good), str(bad), "--out", str(out)])  # fmt: skip
    assert not out.exists()


def test_bad_arguments_are_named(image_model, tmp_path, capsys):
    config, checkpoint, _ = image_model
    base = ["--checkpoint", str(checkpoint), "--out", str(tmp_path / "o")]
    for argv, message in [
        (["--config", str(config), "--videos", "nope.mp4"], "nope.mp4: not found"),
        (["--config", str(config), "--videos", "x", "--every", "0"], "--every 0: must be >= 1"),
        (["--config", "m.json", "--videos", "x"], "cannot tell the framework of m.json"),
        (["--config", "m.yaml", "--videos", "x", "--every", "2"], "detection labels every"),
    ]:
        with pytest.raises(SystemExit):
            label_videos.main(base + argv)
        assert message in capsys.readouterr().err


def test_the_recipes_synthetic_videos_are_mp4_files_that_decode(tmp_path):
    import make_synthetic_videos
    from dff_common.video_io import FrameReader

    written = make_synthetic_videos.main(["--out", str(tmp_path / "v"), "--videos", "2"])
    assert [p.name for p in written] == ["clip0.mp4", "clip1.mp4"]
    frames = list(FrameReader(written[0]))
    assert len(frames) == 30 and frames[0][1].shape == (128, 256, 3)
    with pytest.raises(SystemExit):
        make_synthetic_videos.main(["--out", str(tmp_path / "v")])  # nothing replaced
