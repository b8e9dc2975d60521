"""tools/label_videos.py with a detectron2 image model: a COCO-VID set of its detections."""

import json

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

import label_videos
from dff_common.data.coco_video import load_coco_video
from dff_common.video_io import FrameWriter


def test_detections_become_a_coco_video_set(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "MODEL.DFF.MODE", "frame", "MODEL.DFF.KEY_OFFSET_RANGE", (0, 0),
        "MODEL.DFF.TEST.MODE", "frame", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
        "DATASETS.TEST", ("synthetic_vid_val",),
    )  # fmt: skip
    config = tmp_path / "image.yaml"
    config.write_text(cfg.dump())
    torch.manual_seed(0)
    DetectionCheckpointer(build_model(cfg), save_dir=str(tmp_path)).save("image")
    frames = tmp_path / "clip"
    rng = np.random.default_rng(0)
    writer = FrameWriter(frames, fps=10, overwrite=False)
    for _ in range(3):
        writer.write(rng.integers(0, 256, (64, 80, 3), np.uint8))
    writer.close()
    out = tmp_path / "set"
    checkpoint = str(tmp_path / "image.pth")
    label_videos.main(["--config", str(config), "--checkpoint", checkpoint, "--videos",
                       str(frames), "--out", str(out), "--score-thresh", "0.0"])  # fmt: skip
    records, classes = load_coco_video(out / "annotations.json", out)
    assert classes == ["class_0", "class_1", "class_2"]  # the test set's 30 names do not fit
    assert [r["frame_idx"] for r in records] == [0, 1, 2] and records[0]["num_frames"] == 3
    data = json.loads((out / "annotations.json").read_text())
    assert len(data["annotations"]) == sum(len(r["annotations"]) for r in records) > 0
    for record in records:
        for ann in record["annotations"]:
            x1, y1, x2, y2 = ann["bbox"]
            assert 0 <= x1 < x2 <= 80 and 0 <= y1 < y2 <= 64 and 0 <= ann["category_id"] < 3
