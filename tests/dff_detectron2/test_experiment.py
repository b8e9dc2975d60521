"""analysis_tools.detection and the table4 command line: a run's config on the synthetic base
config, F taken from a pre-training checkpoint, the schedules of Frame and of DFF from Frame."""

import cv2
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model

from analysis_tools import detection_table4 as table4
from analysis_tools.detection import (
    PREFIX,
    prepare_synthetic_vid,
    schedule_opts,
    start_from,
    synthetic_cfg,
)
from dff_common.flow_nets import FlowNetHalf


def test_a_run_trains_on_the_registered_synthetic_set(tmp_path):
    cfg = synthetic_cfg(str(tmp_path), 7, seed=3, opts=("SOLVER.MAX_ITER", 5))
    assert cfg.is_frozen()
    assert cfg.DATASETS.TRAIN == (f"{PREFIX}_vid_train", f"{PREFIX}_det_train_30classes")
    assert cfg.DATASETS.TEST == (f"{PREFIX}_vid_val",) and cfg.TEST.EVAL_PERIOD == 0
    assert (cfg.MODEL.DFF.KEY_FRAME_INTERVAL, cfg.SEED, cfg.SOLVER.MAX_ITER) == (7, 3, 5)
    assert cfg.OUTPUT_DIR == str(tmp_path)
    # without a pre-training checkpoint F is the base config's network, and no file is named
    assert cfg.MODEL.DFF.FLOW.NAME == "FlowNetHalf" and cfg.MODEL.WEIGHTS == ""


def test_f_and_its_norm_come_from_the_pretraining_checkpoint(tmp_path):
    path = tmp_path / "flow.pth"
    torch.save({"state_dict": {}, "meta": {"flow_net": "flownet_inception", "norm": None}}, path)
    cfg = synthetic_cfg(str(tmp_path), 10, flow_weights=str(path))
    assert (cfg.MODEL.DFF.FLOW.NAME, cfg.MODEL.DFF.FLOW.NORM) == ("FlowNetInception", "")


def test_frame_schedule_and_dff_finetuned_from_frame():
    assert schedule_opts(600) == ["SOLVER.MAX_ITER", 600, "SOLVER.STEPS", (450,)]
    opts = schedule_opts(150, finetune=True)
    assert opts == [
        "SOLVER.MAX_ITER", 150, "SOLVER.STEPS", (112,),
        "SOLVER.BASE_LR", pytest.approx(0.002), "SOLVER.WARMUP_ITERS", 0,
    ]  # fmt: skip


def test_dff_starts_from_frame_and_the_pretrained_flow(tmp_path):
    """start_from: MODEL.WEIGHTS = the Frame model's weights with F's pre-training merged in,
    written next to the Frame model and written again only when an input is newer."""
    frame_cfg = synthetic_cfg(str(tmp_path / "frame"), 10, opts=("MODEL.DFF.MODE", "frame"))
    frame = build_model(frame_cfg)
    (tmp_path / "frame").mkdir()
    DetectionCheckpointer(frame, save_dir=str(tmp_path / "frame")).save("model_final")
    frame_final = str(tmp_path / "frame" / "model_final.pth")
    flow = FlowNetHalf(feat_channels=7, norm="BN")
    flow_path = tmp_path / "flownet_half_synthchairs.pth"
    torch.save(
        {"state_dict": flow.state_dict(), "meta": {"flow_net": "flownet_half", "norm": "BN"}},
        flow_path,
    )
    cfg = synthetic_cfg(str(tmp_path / "dff"), 10, flow_weights=str(flow_path))
    started = start_from(cfg, frame_final, str(flow_path))
    merged = tmp_path / "frame" / "model_final_flownet_half_synthchairs.pth"
    assert started.MODEL.WEIGHTS == str(merged) and merged.is_file()
    weights = torch.load(merged, weights_only=True)["model"]
    for key, value in frame.state_dict().items():
        assert torch.equal(weights[key], value), key
    assert torch.equal(weights["propagation.flow_net.conv1.conv.weight"], flow.conv1.conv.weight)
    written = merged.stat().st_mtime_ns
    start_from(cfg, frame_final, str(flow_path))
    assert merged.stat().st_mtime_ns == written  # up to date: not written again
    assert start_from(cfg, frame_final).MODEL.WEIGHTS == frame_final  # no flow pre-training


def test_table4_command_line():
    args = table4.parse_args(["--train-videos", "16", "--val-videos", "6"])
    assert args.data == "datasets/synthetic_vid_16x6_seed0" and args.interval == 10
    assert args.output == "work_dirs/dff_detectron2/table4_seed0" and args.threads == 1
    seeded = table4.parse_args(["--seed", "3"])  # each seed its own data and models
    assert seeded.data == "datasets/synthetic_vid_64x20_seed3"
    assert seeded.output == "work_dirs/dff_detectron2/table4_seed3"
    assert table4.parse_args(["--data", "d"]).data == "d"
    sized = table4.parse_args(["--size", "192", "256", "--seed", "1"])  # the _192 config's set
    assert sized.size == (192, 256) and sized.data == "datasets/synthetic_vid192x256_64x20_seed1"
    with pytest.raises(SystemExit):
        table4.parse_args(["--size", "0", "128"])
    with pytest.raises(SystemExit):
        table4.parse_args(["--dff-iters", "0"])


def test_frame_control_and_dff_start_from_frame_with_one_schedule(tmp_path, monkeypatch):
    """Frame (+it), the control, is Frame trained on single frames exactly as DFF is on pairs:
    same initial weights, iterations, lr, steps and warm-up (the paper's Frame and DFF)."""
    trained = []
    monkeypatch.setattr(table4, "train_or_load", lambda cfg, retrain: trained.append(cfg) or cfg)
    args = table4.parse_args(["--output", str(tmp_path), "--flow-weights", "", "--dff-iters", "40"])

    def cfg(name, *opts):
        return synthetic_cfg(str(tmp_path / name), args.interval, args.seed, None, opts)

    runs = table4.train_runs(args, cfg)
    assert [c.OUTPUT_DIR for c in trained] == [str(tmp_path / r) for r in runs]
    assert list(runs) == ["frame", "frame-ft", "dff"]
    frame, control, dff = (runs[r][0] for r in runs)
    frame_final = str(tmp_path / "frame" / "model_final.pth")
    assert runs["frame"][2] == frame_final and frame.SOLVER.MAX_ITER == 600
    assert control.MODEL.WEIGHTS == dff.MODEL.WEIGHTS == frame_final
    for key in ("MAX_ITER", "STEPS", "BASE_LR", "WARMUP_ITERS"):
        assert control.SOLVER[key] == dff.SOLVER[key], key
    assert (dff.SOLVER.MAX_ITER, dff.SOLVER.BASE_LR) == (40, pytest.approx(0.002))
    assert (control.MODEL.DFF.MODE, control.MODEL.DFF.TEST.MODE) == ("frame", "frame")
    assert dff.MODEL.DFF.MODE == "dff"
    assert runs["frame-ft"][2] == str(tmp_path / "frame-ft" / "model_final.pth")


def test_frame_outputs_are_tagged_with_algorithm_1s_key_frame(tiny_cfg):
    model = build_model(tiny_cfg("MODEL.DFF.MODE", "frame", "MODEL.DFF.TEST.MODE", "frame"))
    model = table4.at_key_distances(model.eval(), 4)
    image = torch.zeros(3, 64, 96, dtype=torch.uint8)
    with torch.no_grad():
        outputs = model([{"image": image, "frame_idx": i, "video_id": "v"} for i in (0, 3, 4, 9)])
        (single,) = model([{"image": image}])  # a frame without an index stays untagged
    assert [o["key_frame_idx"] for o in outputs] == [0, 0, 4, 8]
    assert "key_frame_idx" not in single and "instances" in single


def test_the_synthetic_set_is_written_at_the_size_asked_and_not_confused_with_another(tmp_path):
    """prepare_synthetic_vid writes the set at ``size``; an existing set is used only when it
    was written with the same arguments, else the error names its recorded file and the
    differences (a 96x128 set would otherwise silently stand in for a 192x256 one)."""
    root = str(tmp_path / "vid")
    prepare_synthetic_vid(root, 1, 1, seed=2, size=(48, 80))
    frame = cv2.imread(str(tmp_path / "vid/Data/VID/val/ILSVRC2015_val_00000000/000000.JPEG"))
    assert frame.shape == (48, 80, 3)
    assert DatasetCatalog.get(f"{PREFIX}_vid_val")[0]["height"] == 48
    written = (tmp_path / "vid" / "synthetic_vid.json").stat().st_mtime_ns
    prepare_synthetic_vid(root, 1, 1, seed=2, size=(48, 80))  # the same set: used as it is
    assert (tmp_path / "vid" / "synthetic_vid.json").stat().st_mtime_ns == written
    with pytest.raises(
        ValueError, match=r"synthetic_vid.json: .*height=48 \(asked: 96\), width=80"
    ):
        prepare_synthetic_vid(root, 1, 1, seed=2)
    with pytest.raises(ValueError, match=r"num_val_videos=1 \(asked: 2\), seed=2 \(asked: 0\)"):
        prepare_synthetic_vid(root, 1, 2, size=(48, 80))
