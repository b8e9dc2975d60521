"""dff_detectron2.experiment and the table4 command line: a run's config on the synthetic base
config, F taken from a pre-training checkpoint, the schedules of Frame and of DFF from Frame."""

import pytest
import torch

from dff_detectron2 import table4
from dff_detectron2.experiment import PREFIX, schedule_opts, synthetic_cfg


def test_a_run_trains_on_the_registered_synthetic_set(tmp_path):
    cfg = synthetic_cfg(str(tmp_path), 7, seed=3, opts=("SOLVER.MAX_ITER", 5))
    assert cfg.is_frozen()
    assert cfg.DATASETS.TRAIN == (f"{PREFIX}_vid_train", f"{PREFIX}_det_train_30classes")
    assert cfg.DATASETS.TEST == (f"{PREFIX}_vid_val",) and cfg.TEST.EVAL_PERIOD == 0
    assert (cfg.MODEL.DFF.KEY_FRAME_INTERVAL, cfg.SEED, cfg.SOLVER.MAX_ITER) == (7, 3, 5)
    assert cfg.OUTPUT_DIR == str(tmp_path)
    # without a pre-training checkpoint F is the base config's (its file is not read here)
    assert cfg.MODEL.DFF.FLOW.WEIGHTS == "work_dirs/dff_detectron2/flownet_half_synthchairs.pth"


def test_f_and_its_norm_come_from_the_pretraining_checkpoint(tmp_path):
    path = tmp_path / "flow.pth"
    torch.save({"state_dict": {}, "meta": {"flow_net": "flownet_inception", "norm": None}}, path)
    cfg = synthetic_cfg(str(tmp_path), 10, flow_weights=str(path))
    assert cfg.MODEL.DFF.FLOW.WEIGHTS == str(path)
    assert (cfg.MODEL.DFF.FLOW.NAME, cfg.MODEL.DFF.FLOW.NORM) == ("flownet_inception", "")


def test_frame_schedule_and_dff_finetuned_from_frame():
    assert schedule_opts(600) == ["SOLVER.MAX_ITER", 600, "SOLVER.STEPS", (450,)]
    opts = schedule_opts(150, finetune_from="frame/model_final.pth")
    assert opts == [
        "SOLVER.MAX_ITER", 150, "SOLVER.STEPS", (112,),
        "SOLVER.BASE_LR", pytest.approx(0.002), "SOLVER.WARMUP_ITERS", 0,
        "MODEL.WEIGHTS", "frame/model_final.pth",
    ]  # fmt: skip


def test_table4_command_line():
    args = table4.parse_args(["--train-videos", "16", "--val-videos", "6"])
    assert args.data == "datasets/synthetic_vid_16x6" and args.interval == 10
    assert table4.parse_args(["--data", "d"]).data == "d"
    with pytest.raises(SystemExit):
        table4.parse_args(["--dff-iters", "0"])
