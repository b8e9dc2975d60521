#!/usr/bin/env python
"""Turn unlabelled videos into a DFF training set, the image model as the teacher.

    python tools/label_videos.py --config IMAGE_CONFIG --checkpoint CKPT \\
        --videos a.mp4 b.mp4 frames_of_c/ --out DIR [--every 5] [--score-thresh 0.5]

Every frame of each video (a file OpenCV decodes, or a folder of ``.jpg``/``.png`` frames) is
written once to ``DIR/frames/<video>/<n:06d>.png``; every ``--every``-th frame gets the image
model's output as its label (Sec. 3: DFF trains N_feat, N_task and F so that the propagated
features give the task result of frame i; here the frozen image model's result on frame i is
that target):

- an mmseg config (``.py``): the per-pixel class of ``mmseg.apis.inference_model``, as
  ``DIR/labels/<video>/<n:06d>.png``, which ``VideoSegDataset`` reads with
  ``data_prefix=dict(img_path="frames", seg_map_path="labels")``;
- a detectron2 config (``.yaml``): the detections scoring ``--score-thresh`` or more, as
  ``DIR/annotations.json`` in COCO-VID (``register_coco_video_instances``), every frame listed.

Nothing in ``DIR`` is replaced: the tool refuses a ``DIR`` that exists, and every video must
open before anything is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from dff_common.plugins import plugin_of
from dff_common.video_io import FrameReader, FrameReadError


def video_name(video: str) -> str:
    """The folder name of a video in the set: a file's stem, a frame folder's name."""
    return Path(video).stem if Path(video).is_file() else Path(video).name


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the image model's config (.py / .yaml)")
    parser.add_argument("--checkpoint", required=True, help="the image model's weights")
    parser.add_argument("--videos", nargs="+", required=True, help="video files or frame folders")
    parser.add_argument("--out", required=True, help="the set to write (must not exist)")
    parser.add_argument("--every", type=int, default=1, help="label every n-th frame (>= 1)")
    parser.add_argument("--score-thresh", type=float, default=0.5, help="detection: kept scores")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error(f"--every {args.every}: must be >= 1")
    if Path(args.out).exists():
        parser.error(f"--out {args.out} exists: give a new folder (nothing is replaced)")
    names = [video_name(v) for v in args.videos]
    if len(set(names)) != len(names):
        parser.error(f"--videos: two videos have the same name ({names}); rename one")
    try:
        plugin = plugin_of(args.config)
    except ValueError as err:
        parser.error(str(err))
    if plugin == "dff_detectron2" and args.every != 1:
        parser.error(
            "--every: COCO-VID lists labelled frames only, so detection labels every frame"
        )
    for path in (args.config, args.checkpoint, *args.videos):
        if not Path(path).exists():
            parser.error(f"{path}: not found")
    return args


def segmentation_teacher(config: str, checkpoint: str, device: str):
    """``frame (BGR) -> (H, W) uint8 class map`` of an mmseg image model."""
    from mmseg.apis import inference_model

    import dff_mmseg

    model = dff_mmseg.load_model(config, checkpoint, device=device)

    def label(frame: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            result = inference_model(model, frame)
        return result.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)

    return label


def detection_teacher(config: str, checkpoint: str, device: str, score_thresh: float):
    """``frame (BGR) -> annotations`` (``bbox`` x1 y1 x2 y2, ``category_id``) of a detectron2
    image model, and its class names (its test set's, else ``class_<i>``)."""
    from detectron2.data import MetadataCatalog
    from detectron2.engine import DefaultPredictor

    from dff_detectron2 import get_dff_cfg

    cfg = get_dff_cfg(config, ["MODEL.WEIGHTS", checkpoint, "MODEL.DEVICE", device])
    predictor = DefaultPredictor(cfg)
    num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    names = MetadataCatalog.get(cfg.DATASETS.TEST[0]).get("thing_classes", None)
    if not names or len(names) != num_classes:  # the test set's names, when they fit the model
        names = [f"class_{i}" for i in range(num_classes)]

    def label(frame: np.ndarray) -> list[dict]:
        image = frame if cfg.INPUT.FORMAT == "BGR" else frame[:, :, ::-1]
        instances = predictor(image)["instances"].to("cpu")
        keep = instances.scores >= score_thresh
        boxes, classes = instances.pred_boxes.tensor[keep], instances.pred_classes[keep]
        return [
            {"bbox": [float(v) for v in box], "category_id": int(c)}
            for box, c in zip(boxes.tolist(), classes.tolist())
            if box[2] > box[0] and box[3] > box[1]
        ]

    return label, names


def main(argv=None) -> Path:
    args = parse_args(argv)
    out = Path(args.out)
    segmentation = plugin_of(args.config) == "dff_mmseg"
    if segmentation:
        teacher = segmentation_teacher(args.config, args.checkpoint, args.device)
    else:
        teacher, names = detection_teacher(
            args.config, args.checkpoint, args.device, args.score_thresh
        )
    try:  # every video opens before anything is written
        readers = {video: FrameReader(video) for video in args.videos}
    except FrameReadError as err:
        raise SystemExit(str(err)) from err
    records, start = [], time.time()
    for video, reader in readers.items():
        name = video_name(video)
        frames = out / "frames" / name
        frames.mkdir(parents=True)
        labelled = 0
        for index, frame in reader:
            path = frames / f"{index:06d}.png"
            cv2.imwrite(str(path), frame)
            record = dict(file_name=str(path), video_id=name, frame_idx=index,
                          height=frame.shape[0], width=frame.shape[1])  # fmt: skip
            if index % args.every == 0:
                labelled += 1
                if segmentation:
                    labels = out / "labels" / name
                    labels.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(labels / f"{index:06d}.png"), teacher(frame))
                else:
                    record["annotations"] = teacher(frame)
            records.append(record)
        print(f"{video}: {index + 1} frames to {frames}, {labelled} labelled by the image model "
              f"({time.time() - start:.0f} s)", flush=True)  # fmt: skip
    if not segmentation:
        from dff_common.data.coco_video import write_coco_video

        path = write_coco_video(records, names, out / "annotations.json", out)
        print(f"wrote {path} ({sum(len(r['annotations']) for r in records)} detections)")
    return out


if __name__ == "__main__":
    main()
