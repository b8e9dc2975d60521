"""ImageNet VID detection metrics (paper Sec. 5.1: "the standard mean average precision").

- :func:`vid_average_precision`: the official ILSVRC VID protocol (devkit
  ``eval_vid_detection``): boxes in inclusive pixel coordinates (width ``x2 - x1 + 1``); in each
  frame, detections by decreasing score take the unmatched ground truth of their class with the
  highest IoU, a match needing IoU >= ``min(0.5, w h / ((w + 10)(h + 10)))`` (small objects
  get a lower threshold); per class, all detections sorted by score give a precision/recall
  curve whose area (VOC all-point interpolation) is the AP.
- AP by object speed (Zhu et al., "Flow-Guided Feature Aggregation", ICCV 2017): an object's
  *motion IoU* is its mean IoU with itself in the frames within +-10; slow > 0.9, medium in
  [0.7, 0.9], fast < 0.7. The AP of a speed ignores ground truth of the other speeds:
  detections matching them count for nothing, and unmatched detections are weighted as in
  FGFA's ``vid_eval_motion`` (reproduced as published, for comparable numbers).
- :func:`coco_ap50`: COCO-style AP at IoU 0.5 via pycocotools' ``COCOeval`` (Python
  implementation), as mmtracking reports.
- :func:`write_submission`: the ILSVRC VID submission format for the test server.
"""

import contextlib
import io

import numpy as np

__all__ = [
    "MOTION_RANGES",
    "coco_ap50",
    "iou_inclusive",
    "iou_thresholds",
    "motion_ious",
    "vid_average_precision",
    "voc_ap",
    "write_submission",
]

# Motion IoU ranges of AP by speed (FGFA): name -> closed interval.
MOTION_RANGES = {"slow": (0.9, 1.0), "medium": (0.7, 0.9), "fast": (0.0, 0.7)}
PIXEL_TOLERANCE = 10.0  # the "+ 10" of the per-object IoU threshold
DEFAULT_IOU = 0.5


def iou_inclusive(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of boxes in inclusive pixel coordinates (area ``(x2 - x1 + 1)(y2 - y1 + 1)``).

    Args:
        boxes_a (ndarray): ``(A, 4)`` x1, y1, x2, y2.
        boxes_b (ndarray): ``(B, 4)``.

    Returns:
        ndarray: ``(A, B)`` IoU.
    """
    a, b = (
        np.asarray(boxes_a, np.float64).reshape(-1, 4),
        np.asarray(boxes_b, np.float64).reshape(-1, 4),
    )
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt + 1, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, np.finfo(np.float64).eps)


def iou_thresholds(gt_boxes: np.ndarray) -> np.ndarray:
    """Per-object IoU threshold ``min(0.5, w h / ((w + 10)(h + 10)))`` of the VID protocol.

    Args:
        gt_boxes (ndarray): ``(G, 4)`` inclusive x1, y1, x2, y2.

    Returns:
        ndarray: ``(G,)`` thresholds.
    """
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    w = gt_boxes[:, 2] - gt_boxes[:, 0] + 1
    h = gt_boxes[:, 3] - gt_boxes[:, 1] + 1
    return np.minimum(DEFAULT_IOU, w * h / ((w + PIXEL_TOLERANCE) * (h + PIXEL_TOLERANCE)))


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (VOC all-point interpolation, as the VID devkit)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _match_frame(frame: dict, empty_weight: float):
    """Greedy matching of one frame; returns per-detection (tp, fp) weights and ignored-GT mask."""
    gt_boxes, gt_classes = frame["gt_boxes"], frame["gt_classes"]
    ignore = frame.get("gt_ignore", np.zeros(len(gt_classes), bool))
    order = np.argsort(-frame["det_scores"], kind="stable")
    det_boxes, det_classes = frame["det_boxes"][order], frame["det_classes"][order]
    overlaps = iou_inclusive(det_boxes, gt_boxes)
    thresholds = iou_thresholds(gt_boxes)
    detected = np.zeros(len(gt_classes), bool)
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for j in range(len(order)):
        candidates = (gt_classes == det_classes[j]) & ~detected & (overlaps[j] >= thresholds)
        if candidates.any():
            k = int(np.argmax(np.where(candidates, overlaps[j], -1.0)))
            detected[k] = True
            tp[j] = 0.0 if ignore[k] else 1.0
            continue
        if "gt_ignore" not in frame:
            fp[j] = 1.0
        elif len(gt_classes) == 0:
            fp[j] = empty_weight
        else:
            best_ignored = overlaps[j][ignore].max(initial=-1.0)
            best_kept = overlaps[j][~ignore].max(initial=-1.0)
            if best_kept != best_ignored:
                fp[j] = float(best_kept > best_ignored)
            else:  # FGFA's vid_eval_motion: the fraction of ignored ground truth
                fp[j] = ignore.mean()
    return order, tp, fp


def vid_average_precision(frames: list[dict], num_classes: int, empty_weight: float = 1.0):
    """Per-class AP of the ImageNet VID protocol over a set of frames.

    Args:
        frames (list[dict]): per frame ``gt_boxes`` ``(G, 4)``, ``gt_classes`` ``(G,)``,
            optional ``gt_ignore`` ``(G,)`` bool, ``det_boxes`` ``(D, 4)``, ``det_scores``
            ``(D,)``, ``det_classes`` ``(D,)``; boxes inclusive, classes 0-based.
        num_classes (int): C.
        empty_weight (float): false-positive weight of an unmatched detection in a frame
            without ground truth when some ground truth is ignored (AP by speed: the
            fraction of all objects in the speed range). Defaults to 1.

    Returns:
        ndarray: ``(C,)`` AP per class, NaN for classes without (non-ignored) ground truth.
    """
    scores, classes, tps, fps = [], [], [], []
    num_positives = np.zeros(num_classes)
    for frame in frames:
        ignore = frame.get("gt_ignore", np.zeros(len(frame["gt_classes"]), bool))
        np.add.at(num_positives, frame["gt_classes"][~ignore], 1)
        order, tp, fp = _match_frame(frame, empty_weight)
        scores.append(frame["det_scores"][order])
        classes.append(frame["det_classes"][order])
        tps.append(tp)
        fps.append(fp)
    scores, classes = np.concatenate(scores or [[]]), np.concatenate(classes or [[]])
    tps, fps = np.concatenate(tps or [[]]), np.concatenate(fps or [[]])
    aps = np.full(num_classes, np.nan)
    for c in range(num_classes):
        if num_positives[c] == 0:
            continue
        mine = classes == c
        order = np.argsort(-scores[mine], kind="stable")
        tp, fp = np.cumsum(tps[mine][order]), np.cumsum(fps[mine][order])
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps[c] = voc_ap(tp / num_positives[c], precision)
    return aps


def motion_ious(boxes: list[np.ndarray], track_ids: list[np.ndarray], window: int = 10):
    """Motion IoU of every object of one video (FGFA): mean IoU with its boxes +-window frames.

    Args:
        boxes (list[ndarray]): per frame ``(G_t, 4)`` inclusive boxes, frames in order.
        track_ids (list[ndarray]): per frame ``(G_t,)`` track ids.
        window (int): frames on each side. Defaults to 10.

    Returns:
        list[ndarray]: per frame ``(G_t,)`` motion IoU; 0 (fast) for an object seen in no
        other frame of the window.
    """
    by_track = [dict(zip(ids.tolist(), b)) for ids, b in zip(track_ids, boxes)]
    result = []
    for t, (ids, frame_boxes) in enumerate(zip(track_ids, boxes)):
        values = np.zeros(len(ids))
        for g, (tid, box) in enumerate(zip(ids.tolist(), frame_boxes)):
            others = [
                by_track[s][tid]
                for s in range(max(0, t - window), min(len(boxes), t + window + 1))
                if s != t and tid in by_track[s]
            ]
            if others:
                values[g] = iou_inclusive(box[None], np.stack(others)).mean()
        result.append(values)
    return result


def coco_ap50(frames: list[dict], num_classes: int) -> float:
    """COCO-style AP at IoU 0.5 (101-point, up to 100 detections per frame) via pycocotools.

    Args:
        frames (list[dict]): as for :func:`vid_average_precision` (no ``gt_ignore``).
        num_classes (int): C.

    Returns:
        float: AP50 in [0, 1], NaN without ground truth.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        return [
            float(box[0]),
            float(box[1]),
            float(box[2] - box[0] + 1),
            float(box[3] - box[1] + 1),
        ]

    images, annotations, detections = [], [], []
    for image_id, frame in enumerate(frames, start=1):
        images.append({"id": image_id})
        for box, cls in zip(frame["gt_boxes"], frame["gt_classes"]):
            w, h = xywh(box)[2:]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                 "bbox": xywh(box), "area": w * h, "iscrowd": 0}
            )  # fmt: skip
        for box, score, cls in zip(frame["det_boxes"], frame["det_scores"], frame["det_classes"]):
            detections.append(
                {"image_id": image_id, "category_id": int(cls) + 1, "bbox": xywh(box),
                 "score": float(score)}
            )  # fmt: skip
    if not annotations:
        return float("nan")
    if not detections:
        return 0.0
    gt = COCO()
    gt.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c + 1} for c in range(num_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(detections), iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[1])


def write_submission(path, detections: list[dict]) -> int:
    """Write detections in the ILSVRC VID submission format.

    One line per detection: ``<frame index> <class index> <score> <xmin> <ymin> <xmax>
    <ymax>``, the frame index from ``ImageSets/VID/test.txt`` (1-based), the class index
    1-based in the order of ``VID_CLASSES``.

    Args:
        path (str | os.PathLike): output text file.
        detections (list[dict]): per frame ``global_index``, ``det_boxes`` ``(D, 4)``,
            ``det_scores``, ``det_classes`` (0-based).

    Returns:
        int: number of lines written.
    """
    lines = []
    for frame in sorted(detections, key=lambda f: f["global_index"]):
        for box, score, cls in zip(frame["det_boxes"], frame["det_scores"], frame["det_classes"]):
            coords = " ".join(f"{v:.2f}" for v in box)
            lines.append(f"{frame['global_index']} {int(cls) + 1} {score:.6f} {coords}\n")
    with open(path, "w") as f:
        f.writelines(lines)
    return len(lines)
