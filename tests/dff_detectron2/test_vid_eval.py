"""ImageNet VID metrics against hand-computed values on tiny sets."""

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances

from dff_detectron2.evaluation.evaluator import VIDEvaluator
from dff_detectron2.evaluation.vid_eval import (
    coco_ap50,
    iou_inclusive,
    iou_thresholds,
    motion_ious,
    vid_average_precision,
    voc_ap,
    write_submission,
)


def _frame(gt, gt_classes, dets, **extra):
    """dets: list of (score, class, box)."""
    return {
        "gt_boxes": np.array(gt, np.float64).reshape(-1, 4),
        "gt_classes": np.array(gt_classes, np.int64),
        "det_scores": np.array([d[0] for d in dets], np.float64),
        "det_classes": np.array([d[1] for d in dets], np.int64),
        "det_boxes": np.array([d[2] for d in dets], np.float64).reshape(-1, 4),
        **extra,
    }


@pytest.fixture
def tiny_set():
    big, small = [0, 0, 99, 99], [0, 0, 9, 9]
    frame_a = _frame(
        [big, small],
        [0, 0],
        [
            (0.9, 0, big),  # TP
            (0.8, 0, [0, 0, 9, 29]),  # IoU 1/3 with the 10x10 object: TP only by its 0.25 rule
            (0.7, 0, big),  # duplicate: FP
            (0.6, 1, big),  # class without ground truth: no AP
        ],
    )
    frame_b = _frame(
        [[10, 10, 59, 59]],
        [0],
        [(0.75, 0, [10, 10, 59, 59]), (0.85, 0, [200, 200, 250, 250])],  # TP, FP
    )
    return [frame_a, frame_b]


def test_iou_is_inclusive_and_small_objects_get_a_lower_threshold():
    assert iou_inclusive([[0, 0, 9, 9]], [[0, 0, 9, 29]])[0, 0] == pytest.approx(1 / 3)
    assert iou_inclusive([[0, 0, 9, 9]], [[5, 0, 14, 9]])[0, 0] == pytest.approx(50 / 150)
    thresholds = iou_thresholds([[0, 0, 9, 9], [0, 0, 99, 99], [0, 0, 19, 9], [0, 0, 39, 19]])
    # 10x10: 100 / (20 * 20); 100x100: capped; 20x10: 200 / (30 * 20); 40x20: 800 / 1500 capped
    assert thresholds == pytest.approx([0.25, 0.5, 1 / 3, 0.5])


def test_voc_ap_envelope():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 0.8])) == pytest.approx(0.9)


def test_vid_ap_hand_computed(tiny_set):
    # by score: TP (0.9), FP (0.85), TP (0.8), TP (0.75), FP (0.7); 3 objects
    # recall 1/3, 1/3, 2/3, 1, 1; precision 1, 1/2, 2/3, 3/4, 3/5
    # AP = 1/3 * 1 + 1/3 * 3/4 + 1/3 * 3/4 = 5/6
    aps = vid_average_precision(tiny_set, num_classes=2)
    assert aps[0] == pytest.approx(5 / 6)
    assert np.isnan(aps[1])


def test_a_large_object_keeps_the_05_threshold(tiny_set):
    # the same 1/3-IoU detection on a 100x100 object (threshold 0.5) is a FP:
    # recall 1/3, 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 1/3, 1/2, 2/5 -> AP = 1/3 + 1/3 * 1/2
    tiny_set[0]["gt_boxes"][1] = [300, 300, 399, 399]
    tiny_set[0]["det_boxes"][1] = [300, 300, 399, 599]
    assert vid_average_precision(tiny_set, num_classes=2)[0] == pytest.approx(0.5)


def test_coco_ap50_hand_computed(tiny_set):
    # COCO uses IoU >= 0.5 for every object: the 0.8 detection is a FP.
    # recall 1/3 at precision 1 (recall thresholds 0..0.33: 34 points), 2/3 at 1/2 (33 points)
    assert coco_ap50(tiny_set, num_classes=2) == pytest.approx((34 + 33 * 0.5) / 101)


def test_motion_iou():
    boxes = [np.array([[0, 0, 9, 9]]), np.array([[5, 0, 14, 9]]), np.array([[10, 0, 19, 9]])]
    tracks = [np.array([7])] * 3
    ious = motion_ious(boxes, tracks, window=10)
    assert [float(v[0]) for v in ious] == pytest.approx([1 / 6, 1 / 3, 1 / 6])
    ious = motion_ious(boxes, tracks, window=1)
    assert [float(v[0]) for v in ious] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    alone = motion_ious([np.array([[0, 0, 9, 9]]), np.zeros((0, 4))], [np.array([1]), np.zeros(0)])
    assert alone[0].tolist() == [0.0] and alone[1].shape == (0,)


def test_ap_by_speed_ignores_other_speeds():
    slow, fast = [0, 0, 49, 49], [100, 100, 149, 149]
    frame = _frame(
        [slow, fast],
        [0, 0],
        [(0.9, 0, fast), (0.8, 0, slow), (0.7, 0, [300, 300, 349, 349])],
        gt_ignore=np.array([False, True]),
    )
    empty = _frame(np.zeros((0, 4)), [], [(0.95, 0, [0, 0, 9, 9])], gt_ignore=np.zeros(0, bool))
    # on the ignored object: nothing; on the slow one: TP; elsewhere: FP weighted by the share
    # of ignored objects in its frame (1/2) or, in a frame without objects, by empty_weight
    assert vid_average_precision([frame], 1, empty_weight=0.25)[0] == pytest.approx(1.0)
    # by score: FP 0.25, -, TP, FP 0.5 -> recall 0, 0, 1, 1, precision 0, 0, 1/1.25, 1/1.75
    both = vid_average_precision([frame, empty], 1, empty_weight=0.25)
    assert both[0] == pytest.approx(0.8)


def test_submission_format(tmp_path):
    frames = [
        {"global_index": 12, "det_boxes": np.array([[1.0, 2.0, 3.0, 4.0]]),
         "det_scores": np.array([0.5]), "det_classes": np.array([29])},
        {"global_index": 3, "det_boxes": np.zeros((0, 4)), "det_scores": np.zeros(0),
         "det_classes": np.zeros(0, np.int64)},
        {"global_index": 5, "det_boxes": np.array([[0.0, 0.0, 10.5, 20.25]]),
         "det_scores": np.array([0.125]), "det_classes": np.array([0])},
    ]  # fmt: skip
    path = tmp_path / "submission.txt"
    assert write_submission(path, frames) == 2
    assert path.read_text().splitlines() == [
        "5 1 0.125000 0.00 0.00 10.50 20.25",
        "12 30 0.500000 1.00 2.00 3.00 4.00",
    ]


def _evaluate(records, inputs, outputs, output_dir=None) -> dict:
    """``VIDEvaluator`` results on ``records`` registered as "tiny_eval" (classes a, b)."""
    DatasetCatalog.register("tiny_eval", lambda: records)
    MetadataCatalog.get("tiny_eval").set(thing_classes=["a", "b"])
    try:
        evaluator = VIDEvaluator("tiny_eval", output_dir, distributed=False)
        evaluator.reset()
        evaluator.process(inputs, outputs)
        return evaluator.evaluate()["bbox"]
    finally:
        DatasetCatalog.remove("tiny_eval")
        MetadataCatalog.remove("tiny_eval")


def test_vid_evaluator_end_to_end(tiny_set, tmp_path):
    records, inputs, outputs = [], [], []
    for i, frame in enumerate(tiny_set):
        anns = [
            {"bbox": b.tolist(), "category_id": int(c), "track_id": 0}
            for b, c in zip(frame["gt_boxes"], frame["gt_classes"])
        ]
        record = {"image_id": f"v{i}/0", "video_id": f"v{i}", "frame_idx": 0, "global_index": i + 1}
        records.append({**record, "annotations": anns})
        inputs.append(record)
        result = Instances((480, 640))
        result.pred_boxes = Boxes(torch.tensor(frame["det_boxes"], dtype=torch.float32))
        result.scores = torch.tensor(frame["det_scores"], dtype=torch.float32)
        result.pred_classes = torch.tensor(frame["det_classes"])
        outputs.append({"instances": result})
    results = _evaluate(records, inputs, outputs, str(tmp_path))
    assert results["mAP"] == pytest.approx(100 * 5 / 6) and results["AP-a"] == results["mAP"]
    assert np.isnan(results["AP-b"])
    assert results["AP50_coco"] == pytest.approx(100 * (34 + 33 * 0.5) / 101)
    # each object is alone in its video: motion IoU 0, all fast
    assert results["mAP_fast"] == pytest.approx(results["mAP"])
    assert np.isnan(results["mAP_slow"]) and np.isnan(results["mAP_medium"])
    assert not any(key.startswith("mAP_d") for key in results)  # per-frame outputs: no key
    lines = (tmp_path / "tiny_eval_submission.txt").read_text().splitlines()
    assert len(lines) == 6 and lines[0].startswith("1 1 0.900000 0.00 0.00 99.00 99.00")


def test_map_by_key_distance_splits_the_frames_of_algorithm_1(tiny_set):
    """Outputs with ``key_frame_idx`` (Algorithm 1) give the mAP of the frames at each key
    distance: frame 0 is key frame a (AP 1 by hand), frame 1 = b propagated from it (AP 1/2)."""
    records, inputs, outputs = [], [], []
    for i, frame in enumerate(tiny_set):
        anns = [
            {"bbox": b.tolist(), "category_id": int(c), "track_id": t}
            for t, (b, c) in enumerate(zip(frame["gt_boxes"], frame["gt_classes"]))
        ]
        record = {"image_id": f"v/{i}", "video_id": "v", "frame_idx": i}
        records.append({**record, "annotations": anns})
        inputs.append(record)
        dets = zip(frame["det_scores"], frame["det_classes"], frame["det_boxes"].tolist())
        outputs.append({**_instances(list(dets)), "key_frame_idx": 0})
    results = _evaluate(records, inputs, outputs)
    assert results["mAP_d0"] == pytest.approx(100.0)
    assert results["mAP_d1"] == pytest.approx(50.0)
    assert results["mAP_d0"] == pytest.approx(
        100 * np.nanmean(vid_average_precision([tiny_set[0]], 2))
    )
    assert not any(key.startswith("mAP_d") and key not in ("mAP_d0", "mAP_d1") for key in results)


def _instances(dets, size=(32, 48)):
    """dets: list of (score, class, box) -> the model's output ``Instances``."""
    result = Instances(size)
    result.pred_boxes = Boxes(torch.tensor([d[2] for d in dets], dtype=torch.float32).view(-1, 4))
    result.scores = torch.tensor([d[0] for d in dets], dtype=torch.float32)
    result.pred_classes = torch.tensor([d[1] for d in dets], dtype=torch.int64)
    return {"instances": result}


@pytest.fixture
def unlabelled_test_split(synthetic_vid):
    """``<prefix>_vid_test`` of a real-layout set with two 3-frame test snippets, no labels."""
    synthetic_vid(
        "unlabelled", num_train_videos=0, num_val_videos=0, num_test_videos=2, num_frames=3,
        height=32, width=48, num_det_images=0, seed=5,
    )  # fmt: skip
    return "unlabelled_vid_test"


def test_unlabelled_test_split_writes_only_the_submission_file(unlabelled_test_split, tmp_path):
    name = unlabelled_test_split
    records = DatasetCatalog.get(name)
    assert [r["global_index"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert not any("annotations" in r for r in records)
    assert records[4]["image_id"] == "test/ILSVRC2015_test_00000001/000001"
    dets = {
        0: [(0.875, 28, [1.5, 2.25, 20.0, 30.75])],
        4: [(0.75, 2, [0.0, 0.0, 47.0, 31.0]), (0.5, 0, [10.0, 11.0, 12.5, 13.0])],
        5: [(0.0625, 29, [3.0, 4.0, 5.0, 6.0])],
    }  # record index -> detections (score, 0-based class, box); the other frames: none
    out_dir = tmp_path / "inference"
    evaluator = VIDEvaluator(name, str(out_dir), distributed=False)
    evaluator.reset()
    order = [5, 4, 1]  # fed out of order, over two batches, as a test loader could
    evaluator.process([records[i] for i in order], [_instances(dets.get(i, [])) for i in order])
    order = [0, 3, 2]
    evaluator.process([records[i] for i in order], [_instances(dets.get(i, [])) for i in order])
    assert evaluator.evaluate() == {}  # no labels: no mAP, no metric of any kind
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{name}_submission.txt"]
    # "<frame index> <class index> <score> <xmin> <ymin> <xmax> <ymax>", 1-based indices
    assert (out_dir / f"{name}_submission.txt").read_text().splitlines() == [
        "1 29 0.875000 1.50 2.25 20.00 30.75",
        "5 3 0.750000 0.00 0.00 47.00 31.00",
        "5 1 0.500000 10.00 11.00 12.50 13.00",
        "6 30 0.062500 3.00 4.00 5.00 6.00",
    ]


def test_unlabelled_test_split_needs_an_output_dir_and_frame_indices(
    unlabelled_test_split, tmp_path
):
    name = unlabelled_test_split
    records = DatasetCatalog.get(name)
    evaluator = VIDEvaluator(name, None, distributed=False)
    evaluator.process(records[:1], [_instances([(0.5, 0, [0.0, 0.0, 5.0, 5.0])])])
    with pytest.raises(ValueError, match=f"{name}: the split has no annotations.*output_dir"):
        evaluator.evaluate()
    evaluator = VIDEvaluator(name, str(tmp_path / "inference"), distributed=False)
    unindexed = {k: v for k, v in records[2].items() if k != "global_index"}
    evaluator.process([records[0], unindexed], [_instances([]), _instances([])])
    with pytest.raises(ValueError, match=f"frame '{records[2]['image_id']}' \\(and 0 more\\)"):
        evaluator.evaluate()
    assert not (tmp_path / "inference").exists()  # no partial submission file
