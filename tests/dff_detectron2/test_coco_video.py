"""Video sets in COCO-VID JSON: the same frames, boxes, pairs and VID mAP as the ImageNet VID
layout they were converted from; training and evaluation without the DET set; bad files."""

import copy
import json

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

from dff_common.data.coco_video import load_coco_video, write_coco_video
from dff_common.data.imagenet_vid import VID_CLASS_NAMES, load_vid
from dff_common.synthetic.vid import make_synthetic_vid
from dff_detectron2 import register_coco_video_instances
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.data.datasets import to_detectron2
from dff_detectron2.engine import Trainer
from dff_detectron2.evaluation import VIDEvaluator


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """A synthetic set in the ImageNet VID layout and its train and val splits as COCO-VID."""
    root = tmp_path_factory.mktemp("vid")
    make_synthetic_vid(
        root, num_train_videos=2, num_val_videos=2, num_test_videos=0, num_frames=5,
        height=48, width=64, num_det_images=0, seed=3,
    )  # fmt: skip
    splits = {}
    for split in ("train", "val"):
        vid = load_vid(root, split)
        json_file = write_coco_video(vid, list(VID_CLASS_NAMES), root / f"{split}.json", root)
        splits[split] = (vid, json_file)
    return root, splits


@pytest.fixture
def registered(both):
    root, splits = both
    names = []
    for split, (_, json_file) in splits.items():
        name = f"cocovid_{split}"
        register_coco_video_instances(name, {}, json_file, root)
        names.append(name)
    yield names
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def _same_frames(vid: list[dict], coco: list[dict]) -> None:
    assert len(coco) == len(vid) > 0
    for a, b in zip(vid, coco):
        assert (b["file_name"], b["frame_idx"], b["num_frames"]) == (
            a["file_name"], a["frame_idx"], a["num_frames"],
        )  # fmt: skip
        assert (b["height"], b["width"]) == (a["height"], a["width"])
        assert [(x["bbox"], x["category_id"], x["track_id"]) for x in b["annotations"]] == [
            (x["bbox"], x["category_id"], x["track_id"]) for x in a["annotations"]
        ]


def test_the_json_holds_the_frames_and_boxes_of_the_vid_layout(both):
    root, splits = both
    for vid, json_file in splits.values():
        coco, classes = load_coco_video(json_file, root)
        assert classes == list(VID_CLASS_NAMES)
        _same_frames(vid, coco)
    assert sum(len(r["annotations"]) for r in coco) > 0


def test_a_pair_reads_the_same_key_frame_from_either_layout(both):
    root, splits = both
    vid, json_file = splits["train"]
    coco, _ = load_coco_video(json_file, root, max_key_distance=3)
    kwargs = dict(augmentations=[], image_format="RGB", key_offset_range=(-3, 0))
    pairs = []
    for records in (to_detectron2(vid), to_detectron2(coco)):
        mapper = DFFPairDatasetMapper(True, seed=5, **kwargs)
        pairs.append([mapper(copy.deepcopy(r)) for r in records])
    offsets = [p["key_offset"] for p in pairs[0]]
    assert len(set(offsets)) > 1  # the draws reach back several frames
    for a, b in zip(*pairs):
        assert a["key_offset"] == b["key_offset"]
        assert torch.equal(a["key_image"], b["key_image"]) and torch.equal(a["image"], b["image"])
    # a key frame beyond the frames a record lists is refused, naming the fix
    far = DFFPairDatasetMapper(False, test_key_offset=-4, **kwargs)
    with pytest.raises(ValueError, match="key frame 0 of .* larger max_key_distance"):
        far(to_detectron2([copy.deepcopy(coco[4])])[0])


def test_the_vid_evaluator_scores_both_layouts_alike(both, registered):
    root, splits = both
    vid, _ = splits["val"]
    coco = DatasetCatalog.get("cocovid_val")
    rng = np.random.default_rng(0)
    predictions = {}
    for record in vid:
        boxes = np.array([a["bbox"] for a in record["annotations"]], np.float64).reshape(-1, 4)
        classes = np.array([a["category_id"] for a in record["annotations"]], np.int64)
        boxes = np.concatenate([boxes + rng.normal(0, 2, boxes.shape), rng.uniform(0, 40, (2, 4))])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        predictions[record["file_name"]] = {
            "det_boxes": boxes,
            "det_scores": rng.uniform(0, 1, len(boxes)),
            "det_classes": np.concatenate([classes, rng.choice(classes, 2)]),
            "global_index": -1,
        }
    evaluator = VIDEvaluator("cocovid_val", distributed=False)
    results = []
    for records in (vid, coco):
        preds = [{"image_id": r["image_id"], **predictions[r["file_name"]]} for r in records]
        results.append(evaluator.compute_metrics(records, preds))
    assert results[0].keys() == results[1].keys()
    for key, value in results[0].items():
        assert np.array_equal(value, results[1][key], equal_nan=True), key
    assert 0 < results[0]["mAP"] < 100


def test_trains_and_evaluates_on_the_json_alone(registered, tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "DATASETS.TRAIN", ("cocovid_train",), "DATASETS.TEST", ("cocovid_val",),
        "MODEL.ROI_HEADS.NUM_CLASSES", 30, "SOLVER.IMS_PER_BATCH", 1, "SOLVER.MAX_ITER", 2,
        "SOLVER.WARMUP_ITERS", 0, "SOLVER.STEPS", (), "MODEL.DFF.KEY_FRAME_INTERVAL", 3,
        "MODEL.DFF.KEY_OFFSET_RANGE", (-2, 0), "INPUT.MIN_SIZE_TRAIN", (48,),
        "INPUT.MIN_SIZE_TEST", 48, "OUTPUT_DIR", str(tmp_path),
    )  # fmt: skip
    cfg.freeze()
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert trainer.iter == 2
    results = Trainer.test(cfg, trainer.model)["bbox"]
    assert np.isfinite(results["mAP"]) and "mAP_d0" in results and "mAP_d2" in results


def _write(path, videos, images, annotations=(), categories=({"id": 1, "name": "dog"},)):
    path.write_text(
        json.dumps(
            dict(
                videos=videos,
                images=images,
                annotations=list(annotations),
                categories=list(categories),
            )
        )  # fmt: skip
    )
    return path


def _images(folder, video_id, frame_ids, start_id=1):
    images = []
    for j, frame_id in enumerate(frame_ids):
        name = f"v{video_id}_{j}.jpg"
        (folder / name).write_bytes(b"")
        images.append(dict(id=start_id + j, file_name=name, video_id=video_id,
                           frame_id=frame_id, height=48, width=64))  # fmt: skip
    return images


@pytest.mark.parametrize(
    "frame_ids, message",
    [
        ([0, 1, 1], r"video 'walk': its frame_ids repeats at frame 2"),
        ([0, 2, 3], r"video 'walk': its frame_ids skips at frame 1"),
        ([0], r"video 'walk' has 1 frame\(s\)"),
    ],
)
def test_frame_ids_that_repeat_or_skip_or_one_frame_are_named(tmp_path, frame_ids, message):
    path = _write(tmp_path / "a.json", [dict(id=7, name="walk")], _images(tmp_path, 7, frame_ids))
    with pytest.raises(ValueError, match=rf"{path}: {message}"):
        load_coco_video(path, tmp_path)


def test_bad_entries_are_named_with_the_file(tmp_path):
    videos = [dict(id=1, name="walk")]
    images = _images(tmp_path, 1, [0, 1])
    no_video = [dict(images[0]), images[1]]
    del no_video[0]["video_id"]
    path = _write(tmp_path / "a.json", videos, no_video)
    with pytest.raises(ValueError, match=rf"{path}: image 1 has no 'video_id'"):
        load_coco_video(path, tmp_path)
    path = _write(tmp_path / "b.json", [dict(id=2)], images)
    with pytest.raises(ValueError, match=rf"{path}: image 1 names video 1, which is not in"):
        load_coco_video(path, tmp_path)
    box = dict(id=9, image_id=2, category_id=1, bbox=[50, 10, 20, 10])  # x + w = 70 > 64
    path = _write(tmp_path / "c.json", videos, images, [box])
    with pytest.raises(ValueError, match=rf"{path}: annotation 9 of image 'v1_1.jpg'.*leaves"):
        load_coco_video(path, tmp_path)
    path = _write(
        tmp_path / "d.json", videos, images, [dict(box, category_id=5, bbox=[1, 1, 2, 2])]
    )
    with pytest.raises(ValueError, match=rf"{path}: annotation 9 has category 5, which is not"):
        load_coco_video(path, tmp_path)
    (tmp_path / "v1_1.jpg").unlink()
    path = _write(tmp_path / "e.json", videos, images)
    with pytest.raises(FileNotFoundError, match=r"v1_1.jpg: frame 1 of video 'walk' .*not found"):
        load_coco_video(path, tmp_path)
    (tmp_path / "f.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"f.json: not a JSON file"):
        load_coco_video(tmp_path / "f.json", tmp_path)
    with pytest.raises(FileNotFoundError, match="COCO-VID JSON file not found"):
        load_coco_video(tmp_path / "none.json", tmp_path)


def test_the_writer_never_replaces_a_file(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(FileExistsError, match="x.json exists"):
        write_coco_video([], [], tmp_path / "x.json", tmp_path)
    assert (tmp_path / "x.json").read_text() == "{}"
