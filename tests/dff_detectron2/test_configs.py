"""Every YAML of configs/dff_detectron2 loads, with the paper's settings where it claims them."""

import glob
import os

import pytest
from detectron2.config import get_cfg

from dff_detectron2.config import add_dff_config

CONFIGS = sorted(glob.glob("configs/dff_detectron2/*.yaml"))


def _load(path):
    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(path)
    return cfg


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_loads(path):
    cfg = _load(path)
    assert cfg.MODEL.META_ARCHITECTURE == "DFFRCNN"
    assert cfg.MODEL.DFF.MODE in ("dff", "frame", "sff", "copy")
    assert cfg.MODEL.ROI_HEADS.NAME == "RFCNROIHeads"


def test_paper_settings():
    cfg = _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet.yaml")
    assert cfg.MODEL.DFF.FEATURE.DEPTH == 101 and cfg.MODEL.DFF.FLOW.NAME == "flownet"
    assert cfg.MODEL.DFF.KEY_FRAME_INTERVAL == 10
    assert tuple(cfg.MODEL.DFF.KEY_OFFSET_RANGE) == (-9, 0)
    assert cfg.MODEL.DFF.FLOW.INPUT_SCALE == 0.5 and cfg.INPUT.MIN_SIZE_TRAIN == (600,)
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[128, 256, 512]]
    assert cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS == [[0.5, 1.0, 2.0]]
    assert cfg.MODEL.RPN.NMS_THRESH == 0.7 and cfg.MODEL.RPN.POST_NMS_TOPK_TEST == 300
    assert cfg.MODEL.RPN.PRE_NMS_TOPK_TEST == 6000 and cfg.MODEL.RPN.CONV_DIMS == []
    assert cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST == 0.3
    assert cfg.MODEL.DFF.RFCN.POOLER_RESOLUTION == 7
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.STEPS, cfg.SOLVER.MAX_ITER) == (0.001, (40000,), 60000)
    assert cfg.SOLVER.IMS_PER_BATCH == 8
    assert tuple(cfg.MODEL.DFF.DATA.VID_DET_RATIO) == (2, 1)
    frame = _load("configs/dff_detectron2/Frame_RFCN_R101.yaml")
    assert frame.MODEL.DFF.MODE == "frame" and frame.MODEL.DFF.TEST.MODE == "frame"
    fix_n = _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet_fixN.yaml")
    assert fix_n.MODEL.DFF.FREEZE_RECOGNITION and fix_n.MODEL.WEIGHTS.endswith("model_final.pth")
    assert _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet_fixF.yaml").MODEL.DFF.FREEZE_FLOW
    assert (
        _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet_split12.yaml").MODEL.DFF.NUM_TASK_LAYERS
        == 12
    )
