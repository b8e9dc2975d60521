"""dff_detectron2.deploy: N_feat and the propagation exported, the R-FCN task network in
Python, give the detections and the VID mAP of the model's own video inference."""

import pytest
import torch
from detectron2.modeling import build_model

from dff_common.export import ExportedDFFRunner, export_onnx, export_paths, onnxruntime_path
from dff_common.scheduler import FixedIntervalScheduler
from dff_detectron2.data.data_loader import build_dff_test_loader
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.deploy import deploy_parts, detect, val_clips, vid_map_score
from dff_detectron2.evaluation.evaluator import VIDEvaluator


def test_exported_paths_detect_as_the_model(tiny_cfg, synthetic_vid, tmp_path):
    names = synthetic_vid(
        "deployvid", num_train_videos=1, num_val_videos=2, num_test_videos=0, num_frames=5,
        height=48, width=64, num_det_images=1, seed=3,
    )  # fmt: skip
    name = [n for n in names if n.endswith("_vid_val")][0]
    cfg = tiny_cfg("MODEL.DFF.KEY_FRAME_INTERVAL", 2, "INPUT.MIN_SIZE_TEST", 48)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    loader = build_dff_test_loader(cfg, name, DFFPairDatasetMapper(cfg, is_train=False))
    clips, inputs = val_clips(model, loader)
    assert [c.shape for c in clips] == [(5, 3, 48, 64)] * 2
    assert [[x["frame_idx"] for x in video] for video in inputs] == [list(range(5))] * 2

    parts = deploy_parts(model)
    assert parts.task_net is None
    key_program, prop_program = export_paths(parts, clips[0][:1])
    prop_file = export_onnx(prop_program, tmp_path / "propagation.onnx")
    runner = ExportedDFFRunner(
        key_program.module(), onnxruntime_path(prop_file), FixedIntervalScheduler(2)
    )
    features = [[out.result for out in runner.run_video(clip)] for clip in clips]

    model.reset_videos()
    with torch.no_grad():
        expected = [[model([x])[0] for x in video] for video in inputs]  # Algorithm 1, l = 2
    for video_features, video_inputs, video_expected in zip(features, inputs, expected):
        for f, x, e in zip(video_features, video_inputs, video_expected):
            (actual,) = detect(model, f[None], [x])
            a, e = actual["instances"], e["instances"]
            assert len(a) == len(e) > 0
            torch.testing.assert_close(a.pred_boxes.tensor, e.pred_boxes.tensor, atol=1e-3, rtol=0)
            torch.testing.assert_close(a.scores, e.scores, atol=1e-4, rtol=0)
            assert torch.equal(a.pred_classes, e.pred_classes)

    evaluator = VIDEvaluator(name, distributed=False)
    evaluator.reset()
    for video_inputs, video_expected in zip(inputs, expected):
        for x, e in zip(video_inputs, video_expected):
            evaluator.process([x], [e])
    model_map = evaluator.evaluate()["bbox"]["mAP"]
    score = vid_map_score(model, VIDEvaluator(name, distributed=False), inputs)
    assert score(features) == pytest.approx(model_map)


def test_per_frame_model_has_no_parts(tiny_cfg):
    model = build_model(tiny_cfg("MODEL.DFF.MODE", "frame"))
    with pytest.raises(ValueError, match="no propagation"):
        deploy_parts(model)
