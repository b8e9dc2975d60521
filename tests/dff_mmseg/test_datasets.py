"""CityscapesVideoDataset and LoadVideoFrames on the real layout (synthetic content)."""

import re
import shutil

import cv2
import numpy as np
import pytest
import torch

from dff_common.data.cityscapes import read_image, read_label
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes
from dff_mmseg.datasets import CityscapesVideoDataset

META_KEYS = (
    "img_path",
    "seg_map_path",
    "ori_shape",
    "img_shape",
    "flip",
    "key_distance",
    "video_id",
    "frame_indices",
)


def frame_number(path: str) -> int:
    return int(re.search(r"_(\d{6})_leftImg8bit\.png$", path).group(1))


def dataset(root, pipeline=(), **kwargs):
    kwargs.setdefault("split", "val" if kwargs.get("test_mode") else "train")
    return CityscapesVideoDataset(data_root=str(root), pipeline=list(pipeline), **kwargs)


def test_train_items_draw_key_frames_in_the_last_l(synthetic_root):
    ds = dataset(synthetic_root, interval=5)
    assert (
        len(ds) == 3 and ds.metainfo["classes"][0] == "road" and len(ds.metainfo["classes"]) == 19
    )
    seen = set()
    for _ in range(60):
        info = ds.get_data_info(1)
        key, cur = info["frame_paths"]
        assert cur == info["img_path"] and frame_number(cur) == info["frame"]
        distance = info["frame"] - frame_number(key)
        assert distance == info["key_distance"] and 0 <= distance <= 4
        assert info["frame_indices"] == [19 - distance, 19]
        seen.add(distance)
    assert seen == {0, 1, 2, 3, 4}
    assert set(dataset(synthetic_root, interval=1).get_data_info(1)["frame_paths"]) == {cur}


def test_evaluation_gives_l_pairs_per_annotated_frame(synthetic_root):
    ds = dataset(synthetic_root, interval=5, test_mode=True)
    assert len(ds) == 2 * 5
    first = [ds.get_data_info(j) for j in range(5)]
    assert {info["video_id"] for info in first} == {first[0]["video_id"]}
    assert [info["key_distance"] for info in first] == [4, 3, 2, 1, 0]
    for info in first:
        key, cur = info["frame_paths"]
        assert frame_number(cur) - frame_number(key) == info["key_distance"]
        assert info["seg_map_path"].endswith("_gtFine_labelTrainIds.png")
    subset = dataset(synthetic_root, interval=5, test_mode=True, key_distances=[4])
    assert [subset.get_data_info(j)["key_distance"] for j in range(len(subset))] == [4, 4]
    stream = dataset(synthetic_root, interval=5, test_mode=True, mode="stream")
    info = stream.get_data_info(0)
    assert len(stream) == 2 and info["frame_indices"] == list(range(20))
    assert [frame_number(p) for p in info["frame_paths"]] == list(
        range(info["frame"] - 19, info["frame"] + 1)
    )
    with pytest.raises(ValueError, match="key_distances"):
        dataset(synthetic_root, interval=5, test_mode=True, key_distances=[5])
    with pytest.raises(ValueError, match="test_mode"):
        dataset(synthetic_root, mode="stream")


def test_pipeline_flips_both_frames_and_the_label_together(synthetic_root):
    pipeline = [
        dict(type="LoadVideoFrames"),
        dict(type="RandomFlip", prob=1.0),
        dict(type="PackSegInputs", meta_keys=META_KEYS),
    ]
    ds = dataset(synthetic_root, pipeline, interval=5, test_mode=True)
    item = ds[0]  # key distance 4
    meta = item["data_samples"].metainfo
    key_path, cur_path = ds.get_data_info(0)["frame_paths"]
    key = read_image(key_path, "bgr")[:, ::-1]
    cur = read_image(cur_path, "bgr")[:, ::-1]
    inputs = item["inputs"]
    assert inputs.shape == (6, 32, 64) and inputs.dtype == torch.uint8
    np.testing.assert_array_equal(inputs[:3].permute(1, 2, 0).numpy(), key)
    np.testing.assert_array_equal(inputs[3:].permute(1, 2, 0).numpy(), cur)
    label = read_label(meta["seg_map_path"])[:, ::-1]
    np.testing.assert_array_equal(item["data_samples"].gt_sem_seg.data[0].numpy(), label)
    assert meta["flip"] and meta["key_distance"] == 4 and meta["frame_indices"] == [15, 19]


def copy_of(root, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


def test_missing_frame_is_named(synthetic_root, tmp_path):
    root = copy_of(synthetic_root, tmp_path)
    annotated = sorted((root / "gtFine" / "train").rglob("*_labelTrainIds.png"))[0]
    city, seq, frame = annotated.name.split("_")[:3]
    missing = (
        root
        / "leftImg8bit_sequence"
        / "train"
        / city
        / (f"{city}_{seq}_{int(frame) - 2:06d}_leftImg8bit.png")
    )
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        dataset(root, interval=5)
    assert len(dataset(root, interval=2)) == 3  # frames i-1 and i are all it reads


def test_label_size_mismatch_and_corrupt_png(tmp_path):
    root = tmp_path / "set"
    written = make_synthetic_cityscapes(root, {"train": 1}, height=32, width=64, seed=1)
    annotated = written["train"][0]
    pipeline = [dict(type="LoadVideoFrames"), dict(type="PackSegInputs")]
    ds = dataset(root, pipeline, interval=1)
    label = read_label(annotated.label_path)
    cv2.imwrite(str(annotated.label_path), label[:16])
    with pytest.raises(ValueError, match="label and image sizes differ"):
        ds[0]
    cv2.imwrite(str(annotated.label_path), label)
    assert ds[0]["inputs"].shape == (6, 32, 64)
    annotated.frame_path(annotated.frame).write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    with pytest.raises(ValueError, match=f"cannot decode image .*{annotated.name}"):
        ds[0]


def test_label_ids_copied_over_train_ids_are_refused_naming_the_file(tmp_path):
    make_synthetic_cityscapes(tmp_path, {"train": 1}, height=32, width=64, seed=4)
    (label,) = (tmp_path / "gtFine" / "train").glob("*/*_labelTrainIds.png")
    ids = label.with_name(label.name.replace("labelTrainIds", "labelIds"))
    shutil.copy(ids, label)  # Cityscapes ids 0-33 where train ids 0-18 belong
    ds = dataset(tmp_path, pipeline=[dict(type="LoadVideoFrames")])
    with pytest.raises(ValueError, match=rf"label map {label} holds ids \[.*\] outside the 19 "):
        ds[0]


# ------------------------------------------------------------- video folders (VideoSegDataset)
def as_video_folders(root, split, target):
    """The snippets of a Cityscapes-layout split as ``frames/<video>/<n>.png`` folders, each
    annotated frame's label as ``labels/<video>/<n>.png``."""
    for annotated in dataset(root, split=split, test_mode=True).annotated_frames():
        video = annotated.name
        for position, frame in enumerate(annotated.snippet):
            (target / "frames" / video).mkdir(parents=True, exist_ok=True)
            shutil.copy(annotated.frame_path(frame), target / "frames" / video / f"{position}.png")
        (target / "labels" / video).mkdir(parents=True, exist_ok=True)
        position = annotated.frame - annotated.snippet.start
        shutil.copy(annotated.label_path, target / "labels" / video / f"{position}.png")
    return target


def folders(root, pipeline=(), **kwargs):
    from dff_mmseg.datasets import VideoSegDataset

    kwargs.setdefault("metainfo", CityscapesVideoDataset.METAINFO)
    return VideoSegDataset(
        data_root=str(root), data_prefix=dict(img_path="frames", seg_map_path="labels"),
        img_suffix=".png", seg_map_suffix=".png", pipeline=list(pipeline), **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["pairs", "stream"])
def test_video_folders_give_the_items_of_the_cityscapes_layout(synthetic_root, tmp_path, mode):
    target = as_video_folders(synthetic_root, "val", tmp_path)
    pipeline = [dict(type="LoadVideoFrames"), dict(type="PackSegInputs", meta_keys=META_KEYS)]
    city = dataset(synthetic_root, pipeline, interval=5, test_mode=True, mode=mode)
    video = folders(target, pipeline, interval=5, test_mode=True, mode=mode)
    assert len(video) == len(city) > 0
    for j in range(len(city)):
        a, b = city.get_data_info(j), video.get_data_info(j)
        assert (b["key_distance"], b["frame_indices"]) == (a["key_distance"], a["frame_indices"])
        assert torch.equal(city[j]["inputs"], video[j]["inputs"])
        assert torch.equal(
            city[j]["data_samples"].gt_sem_seg.data, video[j]["data_samples"].gt_sem_seg.data
        )


def test_video_folders_train_on_the_labelled_subset(synthetic_root, tmp_path):
    target = as_video_folders(synthetic_root, "train", tmp_path)
    video = sorted((target / "frames").iterdir())[0]
    shutil.copy(target / "labels" / video.name / "19.png", target / "labels" / video.name / "7.png")
    ds = folders(target, interval=3)
    assert len(ds) == 4  # 3 videos, one of them labelled on two frames
    for j in range(len(ds)):
        info = ds.get_data_info(j)
        key, cur = info["frame_indices"]
        assert 0 <= cur - key < 3 and info["key_distance"] == cur - key
        assert info["frame_paths"][1].endswith(f"/{cur}.png")
        assert info["seg_map_path"].endswith(f"/{cur}.png")
    zero = folders(target, interval=3, reduce_zero_label=True)
    assert zero.get_data_info(0)["reduce_zero_label"]


def test_video_folders_bad_input_is_named(synthetic_root, tmp_path):
    target = as_video_folders(synthetic_root, "train", tmp_path)
    video = sorted((target / "frames").iterdir())[0]
    stray = target / "labels" / video.name / "99.png"
    shutil.copy(target / "labels" / video.name / "19.png", stray)
    with pytest.raises(FileNotFoundError, match=rf"{stray}: label of no frame"):
        folders(target)
    cv2.imwrite(str(stray.with_name("5.png")), np.zeros((16, 16), np.uint8))
    stray.unlink()
    with pytest.raises(ValueError, match=r"5.png: label is 16x16 .* its frame .*5.png is 64x32"):
        folders(target)
    stray.with_name("5.png").unlink()
    lone = target / "frames" / "lone"
    lone.mkdir()
    with pytest.raises(FileNotFoundError, match=rf"video folder {lone} holds no \*.png frame"):
        folders(target)
    shutil.copy(video / "0.png", lone / "0.png")
    with pytest.raises(ValueError, match=rf"video {lone} has 1 frame"):
        folders(target)
    shutil.rmtree(lone)
    shutil.rmtree(target / "labels")
    (target / "labels").mkdir()
    with pytest.raises(FileNotFoundError, match="no label under"):
        folders(target)
