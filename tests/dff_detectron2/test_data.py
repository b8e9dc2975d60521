"""Pair mapper, VID+DET mixing and dataset registration."""

import collections
import itertools

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from dff_common.data.imagenet_vid import make_synthetic_vid
from dff_detectron2.data_loader import MixedSourceBatches
from dff_detectron2.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.datasets import register_imagenet_vid


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
