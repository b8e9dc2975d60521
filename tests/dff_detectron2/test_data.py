"""Pair mapper, VID+DET mixing and dataset registration."""

import collections
import itertools
import os
import re

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode
from PIL import Image

from dff_common.data.frame_size import FrameTooLargeError
from dff_common.synthetic.vid import make_synthetic_vid
from dff_detectron2.data.data_loader import MixedSourceBatches
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.data.datasets import register_imagenet_vid


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("mapvid")
    make_synthetic_vid(
        root, num_train_videos=1, num_val_videos=0, num_test_videos=0, num_frames=14,
        height=32, width=48, num_det_images=2, seed=4,
    )  # fmt: skip
    names = register_imagenet_vid(root, "mapvid")
    assert "mapvid_vid_val" in names
    vid = DatasetCatalog.get("mapvid_vid_train")
    det = DatasetCatalog.get("mapvid_det_train_30classes")
    return vid, det


def _mapper(is_train=True, **kwargs):
    kwargs.setdefault("augmentations", [T.RandomFlip(prob=1.0)])
    return DFFPairDatasetMapper(is_train, **kwargs)


def test_registration(records):
    vid, det = records
    assert len(vid) == 14 and all(r["source"] == "VID" for r in vid)
    assert all(a["bbox_mode"] == BoxMode.XYXY_ABS for r in vid + det for a in r["annotations"])
    assert len(MetadataCatalog.get("mapvid_vid_train").thing_classes) == 30


def test_one_transform_for_both_frames(records):
    vid, _ = records
    out = _mapper(seed=0)(vid[12])
    key = 12 + out["key_offset"]
    assert -9 <= out["key_offset"] <= 0
    frame_k = utils.read_image(vid[12]["frame_template"] % key, format="RGB")
    frame_i = utils.read_image(vid[12]["file_name"], format="RGB")
    assert torch.equal(
        out["key_image"], torch.as_tensor(frame_k[:, ::-1].transpose(2, 0, 1).copy())
    )
    assert torch.equal(out["image"], torch.as_tensor(frame_i[:, ::-1].transpose(2, 0, 1).copy()))
    x1, y1, x2, y2 = vid[12]["annotations"][0]["bbox"]
    assert out["instances"].gt_boxes.tensor[0].tolist() == [48 - x2, y1, 48 - x1, y2]
    assert "annotations" not in out and out["video_id"] == vid[12]["video_id"]


def test_key_offsets_are_uniform_in_range(records):
    vid, _ = records
    mapper = _mapper(augmentations=[], seed=1)
    offsets = collections.Counter(mapper(vid[12])["key_offset"] for _ in range(300))
    assert sorted(offsets) == list(range(-9, 1))
    assert min(offsets.values()) > 300 / 10 / 2.5  # ~uniform
    # near the start of a video only existing frames are drawn
    assert {mapper(vid[2])["key_offset"] for _ in range(60)} == {-2, -1, 0}


def test_det_images_pair_with_themselves(records):
    _, det = records
    out = _mapper(seed=0)(det[0])
    assert out["key_offset"] == 0 and torch.equal(out["key_image"], out["image"])


def test_frame_mode_and_test_pairs(records):
    vid, _ = records
    assert "key_image" not in _mapper(key_offset_range=None)(vid[5])
    test = _mapper(is_train=False, augmentations=[], test_key_offset=-3)
    out = test(vid[1])
    assert out["key_offset"] == -1 and "instances" not in out  # clamped to the first frame
    assert "key_image" not in _mapper(is_train=False, augmentations=[])(vid[5])
    with pytest.raises(ValueError, match=r"\[-\(l-1\), 0\]"):
        _mapper(key_offset_range=(-3, 2))


@pytest.fixture
def fresh_records(synthetic_vid):
    """A fresh real-layout set (its files get corrupted), loaded by the registered loader."""
    synthetic_vid(
        "mapbad", num_train_videos=1, num_val_videos=0, num_test_videos=0, num_frames=6,
        height=32, width=48, num_det_images=2, seed=4,
    )  # fmt: skip
    return DatasetCatalog.get("mapbad_vid_train"), DatasetCatalog.get("mapbad_det_train_30classes")


def _truncate(path):
    data = open(path, "rb").read()
    assert data[:2] == b"\xff\xd8"  # a real JPEG, cut in half
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


# PIL's two messages for a JPEG cut short (which one depends on where the data stop)
TRUNCATED = (
    r"\(OSError: (image file is truncated \(\d+ bytes not processed\)|Truncated File Read)\)"
)


def _raises_truncated(call, prefix):
    with pytest.raises(ValueError) as info:
        call()
    assert re.fullmatch(re.escape(prefix) + TRUNCATED, str(info.value)), str(info.value)


def test_truncated_or_non_image_frames_are_named(fresh_records):
    vid, det = fresh_records
    snippet = vid[5]["video_id"]
    assert snippet == "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
    _truncate(vid[5]["file_name"])
    _raises_truncated(
        lambda: _mapper(seed=0)(vid[5]),
        f"{vid[5]['file_name']}: current frame 000005 of snippet {snippet} is not a readable "
        "image ",
    )
    # a truncated key frame: frame 4's test pair has key frame 4 - 2
    _truncate(vid[2]["file_name"])
    test_pairs = _mapper(is_train=False, augmentations=[], test_key_offset=-2)
    _raises_truncated(
        lambda: test_pairs(vid[4]),
        f"{vid[2]['file_name']}: key frame 000002 (key offset -2) of frame 000004 of snippet "
        f"{snippet} is not a readable image ",
    )
    assert test_pairs(vid[3])["key_offset"] == -2  # frames 3 and 1 are intact
    with open(vid[1]["file_name"], "w") as f:
        f.write("not a JPEG\n")
    with pytest.raises(ValueError) as info:
        _mapper(is_train=False, augmentations=[])(vid[1])
    assert str(info.value) == (
        f"{vid[1]['file_name']}: current frame 000001 of snippet {snippet} is not a readable "
        "image (not an image format PIL can identify)"
    )
    os.remove(vid[0]["file_name"])
    with pytest.raises(FileNotFoundError) as info:
        _mapper(is_train=False, augmentations=[])(vid[0])
    assert str(info.value) == (
        f"{vid[0]['file_name']}: current frame 000000 of snippet {snippet} not found"
    )
    _truncate(det[0]["file_name"])
    _raises_truncated(
        lambda: _mapper(seed=0)(det[0]),
        f"{det[0]['file_name']}: current DET image is not a readable image ",
    )


def test_image_size_must_match_its_annotation(fresh_records):
    vid, det = fresh_records
    assert (vid[3]["width"], vid[3]["height"]) == (48, 32)  # from the XML's <size>
    for record in (vid[3], det[0]):
        frame = cv2.imread(record["file_name"])
        assert cv2.imwrite(record["file_name"], cv2.resize(frame, (40, 30)))
        with pytest.raises(utils.SizeMismatchError) as info:
            _mapper(seed=0)(record)
        assert str(info.value) == (
            f"{record['file_name']}: image is 40x30 (width x height) but its annotation "
            f"{record['annotation_file']} <size> says 48x32"
        )
    assert vid[3]["annotation_file"].endswith(
        "Annotations/VID/train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000/000003.xml"
    )
    # a key frame of another size than its current frame
    test_pairs = _mapper(is_train=False, augmentations=[], test_key_offset=-1)
    with pytest.raises(ValueError) as info:
        test_pairs(vid[4])
    assert str(info.value) == (
        f"{vid[3]['file_name']}: key frame 000003 (key offset -1) of frame 000004 of snippet "
        f"{vid[4]['video_id']} has shape (30, 40, 3), different from its current frame "
        f"{vid[4]['file_name']} (32, 48, 3)"
    )


def test_vid_det_mixing_is_2_to_1_per_minibatch():
    recs = [{"source": "VID", "i": i} for i in range(20)] + [
        {"source": "DET", "i": i} for i in range(5)
    ]
    batches = MixedSourceBatches(
        recs, lambda r: r, batch_size=3, ratio={"VID": 2, "DET": 1}, seed=0
    )
    drawn = list(itertools.islice(iter(batches), 600))
    sources = [{r["source"] for r in b} for b in drawn]
    assert all(len(s) == 1 and len(b) == 3 for s, b in zip(sources, drawn))  # one source each
    det_fraction = np.mean([s == {"DET"} for s in sources])
    assert det_fraction == pytest.approx(1 / 3, abs=0.06)
    # within a source: epochs of permutations (every DET image twice per 10 draws)
    det_draws = [r["i"] for b in drawn if b[0]["source"] == "DET" for r in b][:10]
    assert sorted(det_draws) == sorted(list(range(5)) * 2)
    with pytest.raises(ValueError, match="positive ratio"):
        MixedSourceBatches(recs[:20], lambda r: r, 1, {"VID": 0, "DET": 1})


def test_the_pair_mapper_refuses_a_frame_over_the_limit_naming_it(tiny_cfg, tmp_path, monkeypatch):
    Image.new("RGB", (64, 48)).save(tmp_path / "000000.JPEG")
    record = {"file_name": str(tmp_path / "000000.JPEG"), "height": 48, "width": 64,
              "annotations": [], "source": "DET"}  # fmt: skip
    mapper = DFFPairDatasetMapper(tiny_cfg(), is_train=False)
    monkeypatch.setenv("DFF_MAX_FRAME_PIXELS", "1000")
    with pytest.raises(FrameTooLargeError, match=r"000000\.JPEG: a frame of 64x48"):
        mapper(record)
