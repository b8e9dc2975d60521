"""ImageNet VID evaluation as a detectron2 ``DatasetEvaluator`` (paper Sec. 5.1, 5.2).

Reports, in percent: the official VID mAP (per-object IoU threshold for small objects) with
per-class AP, the mAP by object speed (slow / medium / fast motion IoU, FGFA), COCO-style
AP50 (pycocotools) and, for Algorithm 1 (outputs with ``key_frame_idx``), the mAP of the frames
at each key distance d = i - k (``mAP_d<d>``: where propagation loses accuracy). On a split
without annotations (test) it only writes the ILSVRC VID submission file. See
:mod:`dff_detectron2.evaluation.vid_eval` for the definitions.
"""

import itertools
import logging
import os
from collections import OrderedDict, defaultdict

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from dff_detectron2.evaluation.vid_eval import (
    MOTION_RANGES,
    coco_ap50,
    motion_ious,
    vid_average_precision,
    write_submission,
)

__all__ = ["VIDEvaluator"]

logger = logging.getLogger(__name__)


class VIDEvaluator(DatasetEvaluator):
    """Collect per-frame detections and evaluate them against an ImageNet VID split.

    Args:
        dataset_name (str): a registered dataset (``dff_detectron2.data.datasets``).
        output_dir (str, optional): where the detections are written in the submission
            format (``<dataset_name>_submission.txt``; always for test splits, where it is
            required: without annotations no metric is computed, only that file).
        motion_iou_frames (int): window of the motion IoU (+-10 frames in FGFA).
        distributed (bool): gather the detections of all processes. Defaults to True.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        motion_iou_frames: int = 10,
        distributed: bool = True,
    ):
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.motion_iou_frames = motion_iou_frames
        self.distributed = distributed
        self.class_names = MetadataCatalog.get(dataset_name).thing_classes
        self._predictions = []

    def reset(self):
        self._predictions = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            instances = out["instances"].to("cpu")
            prediction = {
                "image_id": inp["image_id"],
                "global_index": inp.get("global_index", -1),
                "det_boxes": instances.pred_boxes.tensor.numpy().astype(np.float64),
                "det_scores": instances.scores.numpy().astype(np.float64),
                "det_classes": instances.pred_classes.numpy(),
            }
            if "key_frame_idx" in out and "frame_idx" in inp:
                prediction["key_distance"] = int(inp["frame_idx"]) - int(out["key_frame_idx"])
            self._predictions.append(prediction)

    def evaluate(self):
        predictions = self._predictions
        if self.distributed:
            comm.synchronize()
            predictions = list(itertools.chain(*comm.gather(predictions, dst=0)))
            if not comm.is_main_process():
                return {}
        if not predictions:
            logger.warning(f"{self.dataset_name}: no frames were processed")
            return {}
        records = DatasetCatalog.get(self.dataset_name)
        has_labels = any("annotations" in r for r in records)
        if not has_labels:
            if not self.output_dir:
                raise ValueError(
                    f"{self.dataset_name}: the split has no annotations, so its detections can "
                    "only be written as an ILSVRC VID submission file; give an output_dir"
                )
            unindexed = [p["image_id"] for p in predictions if p["global_index"] < 0]
            if unindexed:
                raise ValueError(
                    f"{self.dataset_name}: frame {unindexed[0]!r} (and {len(unindexed) - 1} "
                    "more) has no 'global_index' (ImageSets/VID/<split>.txt frame index) for "
                    "the submission file"
                )
            done = {p["image_id"] for p in predictions}
            missing = sum(r["image_id"] not in done for r in records)
            if missing:
                logger.warning(
                    f"{self.dataset_name}: {missing} frames have no detections: absent from "
                    "the submission file"
                )
        if self.output_dir and (not has_labels or predictions[0]["global_index"] >= 0):
            os.makedirs(self.output_dir, exist_ok=True)
            path = os.path.join(self.output_dir, f"{self.dataset_name}_submission.txt")
            lines = write_submission(path, predictions)
            logger.info(f"wrote {lines} detections in the ILSVRC VID format to {path}")
        if not has_labels:
            return {}
        return OrderedDict(bbox=self.compute_metrics(records, predictions))

    def compute_metrics(self, records: list[dict], predictions: list[dict]) -> dict:
        """VID mAP, per-class AP, mAP by speed and COCO AP50, in percent.

        Args:
            records (list[dict]): the dataset dicts (annotations with ``track_id``).
            predictions (list[dict]): per processed frame ``image_id`` and detections.

        Returns:
            dict[str, float]: ``mAP``, ``AP-<class>``, ``mAP_slow``/``medium``/``fast``,
            ``AP50_coco``; ``mAP_d<d>`` over the frames at key distance d, for predictions
            with a ``key_distance``.
        """
        by_id = {p["image_id"]: p for p in predictions}
        missing = len(records) - sum(r["image_id"] in by_id for r in records)
        if missing:
            logger.warning(f"{missing} frames of {self.dataset_name} have no detections: skipped")
        frames, speeds = [], []
        for video in _videos(records):
            boxes = [_gt(r)[0] for r in video]
            tracks = [np.array([a.get("track_id", -1) for a in r["annotations"]]) for r in video]
            ious = motion_ious(boxes, tracks, self.motion_iou_frames)
            for record, box, motion in zip(video, boxes, ious):
                if record["image_id"] in by_id:
                    frames.append(
                        {"gt_boxes": box, "gt_classes": _gt(record)[1], **by_id[record["image_id"]]}
                    )
                    speeds.append(motion)
        num_classes = len(self.class_names)
        aps = vid_average_precision(frames, num_classes)
        results = {"mAP": _mean_ap(aps)}
        results.update({f"AP-{n}": 100 * float(ap) for n, ap in zip(self.class_names, aps)})
        all_motion = np.concatenate(speeds) if speeds else np.zeros(0)
        for speed, (low, high) in MOTION_RANGES.items():
            inside = [(m >= low) & (m <= high) for m in speeds]
            weight = float(np.mean(np.concatenate(inside))) if len(all_motion) else 1.0
            speed_aps = vid_average_precision(
                [{**f, "gt_ignore": ~keep} for f, keep in zip(frames, inside)], num_classes, weight
            )
            results[f"mAP_{speed}"] = _mean_ap(speed_aps)
        results["AP50_coco"] = 100 * coco_ap50(frames, num_classes)
        for distance in sorted({f["key_distance"] for f in frames if "key_distance" in f}):
            aps = vid_average_precision(
                [f for f in frames if f.get("key_distance") == distance], num_classes
            )
            results[f"mAP_d{distance}"] = _mean_ap(aps)
        logger.info(
            "ImageNet VID %s: mAP %.2f (slow %.2f, medium %.2f, fast %.2f), COCO AP50 %.2f",
            self.dataset_name,
            *(results[k] for k in ("mAP", "mAP_slow", "mAP_medium", "mAP_fast", "AP50_coco")),
        )
        return results


def _mean_ap(aps: np.ndarray) -> float:
    """Mean of the classes' APs that are defined, in percent; NaN if none is."""
    finite = np.isfinite(aps)
    return 100 * float(np.mean(aps[finite])) if finite.any() else float("nan")


def _gt(record: dict):
    """``(G, 4)`` float boxes and ``(G,)`` classes of a record."""
    annotations = record.get("annotations", [])
    boxes = np.array([a["bbox"] for a in annotations], np.float64).reshape(-1, 4)
    return boxes, np.array([a["category_id"] for a in annotations], np.int64)


def _videos(records: list[dict]) -> list[list[dict]]:
    """Records grouped by ``video_id``, frames sorted by ``frame_idx``."""
    groups = defaultdict(list)
    for record in records:
        groups[record.get("video_id", record["image_id"])].append(record)
    return [sorted(g, key=lambda r: r.get("frame_idx", 0)) for g in groups.values()]
