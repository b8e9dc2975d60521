"""Every YAML of configs/dff_detectron2 loads, with the paper's settings where it claims them."""

import glob
import os

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from torch import nn

from dff_detectron2.config import add_dff_config

CONFIGS = sorted(glob.glob("configs/dff_detectron2/*.yaml"))
DFF = "configs/dff_detectron2/DFF_RFCN_R101_FlowNet.yaml"
# Table 5: layers of N_task -> channels of the propagated maps (res5b's 2048 for 5, a res4
# unit's 1024 for 12 and 21). Split 0 (propagating R-FCN's position-sensitive score maps and
# the RPN outputs) has no config: the backbone supports 1, 5, 12 and 21.
SPLITS = {1: 1024, 5: 2048, 12: 1024, 21: 1024}


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
    assert cfg.MODEL.DFF.FEATURE.DEPTH == 101 and cfg.MODEL.DFF.FLOW.NAME == "FlowNetSimple"
    assert cfg.MODEL.DFF.KEY_FRAME_INTERVAL == 10
    assert tuple(cfg.MODEL.DFF.KEY_OFFSET_RANGE) == (-9, 0)
    assert cfg.MODEL.DFF.FLOW.INPUT_SCALE == 0.5 and cfg.INPUT.MIN_SIZE_TRAIN == (600,)
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[128, 256, 512]]
    assert cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS == [[0.5, 1.0, 2.0]]
    assert cfg.MODEL.RPN.NMS_THRESH == 0.7 and cfg.MODEL.RPN.POST_NMS_TOPK_TEST == 300
    assert cfg.MODEL.RPN.PRE_NMS_TOPK_TEST == 6000 and cfg.MODEL.RPN.CONV_DIMS == []
    assert cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST == 0.3
    assert cfg.MODEL.DFF.RFCN.POOLER_RESOLUTION == 7
    # the default: torchvision's ps_roi_pool never reads the map's last row and column
    assert cfg.MODEL.DFF.RFCN.POOLER_TYPE == "PSROIAlign"
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.STEPS, cfg.SOLVER.MAX_ITER) == (0.001, (40000,), 60000)
    assert cfg.SOLVER.IMS_PER_BATCH == 8
    assert tuple(cfg.MODEL.DFF.DATA.VID_DET_RATIO) == (2, 1)
    frame = _load("configs/dff_detectron2/Frame_RFCN_R101.yaml")
    assert frame.MODEL.DFF.MODE == "frame" and frame.MODEL.DFF.TEST.MODE == "frame"
    fix_n = _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet_fixN.yaml")
    assert fix_n.MODEL.DFF.FREEZE_RECOGNITION and fix_n.MODEL.WEIGHTS.endswith(
        "model_final_flownet.pth"
    )
    assert _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet_fixF.yaml").MODEL.DFF.FREEZE_FLOW
    assert (
        _load("configs/dff_detectron2/DFF_RFCN_R101_FlowNet_split12.yaml").MODEL.DFF.NUM_TASK_LAYERS
        == 12
    )


def _build(path):
    """The model of a config on the CPU, without weights (seeded)."""
    cfg = _load(path)
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    return build_model(cfg)


def _flat(node, prefix=""):
    """``{"MODEL.DFF.NUM_TASK_LAYERS": 1, ...}`` of a (nested) CfgNode."""
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _differences(path, base=DFF):
    """Full names of the keys whose values differ between two configs."""
    a, b = _flat(_load(path)), _flat(_load(base))
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


@pytest.mark.parametrize("layers", sorted(SPLITS))
def test_split_configs_move_the_paper_layers_into_n_task(layers):
    path = DFF if layers == 1 else DFF.replace(".yaml", f"_split{layers}.yaml")
    if layers != 1:
        assert _differences(path) == {"MODEL.DFF.NUM_TASK_LAYERS", "OUTPUT_DIR"}
    backbone = _build(path).backbone
    prefix = backbone._parts[1]  # the layers of N moved into N_task
    convs = sum(isinstance(m, nn.Conv2d) for m in prefix.modules())
    # + 1: the task head's sibling 1x1 convs on the propagated maps (RPN, R-FCN) count as one
    assert convs + 1 == layers
    assert backbone.channels_at_split == SPLITS[layers]
    feat, task = ({id(p) for p in part.parameters()} for part in backbone._parts)
    assert not feat & task and feat | task == {id(p) for p in backbone.parameters()}


@pytest.mark.parametrize("variant", ["fixN", "fixF"])
def test_fix_configs_freeze_exactly_one_network(variant):
    path = DFF.replace(".yaml", f"_{variant}.yaml")
    key = "FREEZE_RECOGNITION" if variant == "fixN" else "FREEZE_FLOW"
    extra = {"MODEL.WEIGHTS"} if variant == "fixN" else set()
    assert _differences(path) == {f"MODEL.DFF.{key}", "OUTPUT_DIR"} | extra

    def frozen_and_parts(model):
        params = dict(model.named_parameters())
        flow = {k for k in params if k.startswith("propagation.")}
        return {k for k, p in params.items() if not p.requires_grad}, set(params) - flow, flow

    frozen, recognition, flow = frozen_and_parts(_build(path))
    reference = frozen_and_parts(_build(DFF))[0]
    assert frozen == reference | (recognition if variant == "fixN" else flow)
    other = flow if variant == "fixN" else recognition
    assert other - frozen == other - reference and other - frozen


SIZED = "configs/dff_detectron2/Synthetic_DFF_RFCN_R50_FlowNetHalf_{}.yaml"


@pytest.mark.parametrize("height", [192, 384])
def test_sized_synthetic_configs_read_frames_at_their_size(height):
    """The _192 / _384 configs read frames of that height unresized, anchors scaled with it;
    the _384 one is the _192 one but for the size (its runs compare the frame size only)."""
    cfg = _load(SIZED.format(height))
    assert cfg.INPUT.MIN_SIZE_TEST == cfg.INPUT.MIN_SIZE_TRAIN[0] == height
    assert cfg.INPUT.MAX_SIZE_TEST >= height * 4 // 3  # the synthetic frames are 3:4
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[height // 4, height // 2, height]]
    if height != 192:
        assert _differences(SIZED.format(height), SIZED.format(192)) == {
            "INPUT.MIN_SIZE_TRAIN", "INPUT.MAX_SIZE_TRAIN", "INPUT.MIN_SIZE_TEST",
            "INPUT.MAX_SIZE_TEST", "MODEL.ANCHOR_GENERATOR.SIZES", "OUTPUT_DIR",
        }  # fmt: skip


def test_flow_factor_key_reaches_the_flow_network():
    """FLOW.FLOW_FACTOR (20 / 8, Sec. 4) multiplies F's output: 5.0 doubles the flow."""
    paper = _load(DFF)
    assert paper.MODEL.DFF.FLOW.FLOW_FACTOR == 2.5
    flows = []
    for factor in (2.5, 5.0):
        cfg = _load("configs/dff_detectron2/Synthetic_DFF_RFCN_R50_FlowNetHalf.yaml")
        cfg.merge_from_list(["MODEL.DFF.FLOW.FLOW_FACTOR", factor])
        torch.manual_seed(0)
        net = build_model(cfg).propagation.flow_net.eval()
        assert net.flow_factor == factor
        frames = torch.randn(2, 1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            flows.append(net(*frames)[0])
    assert flows[0].abs().max() > 0
    torch.testing.assert_close(flows[1], 2 * flows[0])


@pytest.mark.parametrize("interval", [0, -3, 2.5, "10", True])
@pytest.mark.parametrize("scheduler", ["fixed", "adaptive"])
def test_bad_key_frame_interval_is_named(tiny_cfg, interval, scheduler):
    cfg = tiny_cfg("MODEL.DFF.SCHEDULER", scheduler)
    cfg.MODEL.DFF.KEY_FRAME_INTERVAL = interval  # as a program (or an unchecked merge) sets it
    message = rf"MODEL.DFF.KEY_FRAME_INTERVAL .* must be an integer >= 1, got {interval!r}"
    with pytest.raises(ValueError, match=message):
        build_model(cfg)


def test_key_frame_interval_of_another_type_is_named_by_the_merge(tiny_cfg):
    with pytest.raises(ValueError, match="Type mismatch.*MODEL.DFF.KEY_FRAME_INTERVAL"):
        tiny_cfg("MODEL.DFF.KEY_FRAME_INTERVAL", "ten")


@pytest.mark.parametrize("key", ["LR_FACTOR", "SCALE_LR_FACTOR"])
@pytest.mark.parametrize("factor", [-0.1, "10", None])
def test_bad_flow_lr_factor_is_named(tiny_cfg, key, factor):
    cfg = tiny_cfg()
    cfg.MODEL.DFF.FLOW[key] = factor
    with pytest.raises(ValueError, match=rf"MODEL.DFF.FLOW.{key} \(lr factor\) must be a number"):
        build_model(cfg)


def test_training_offsets_that_do_not_fit_l_are_warned_about(caplog):
    from dff_detectron2.config import check_dff_config

    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.MODEL.DFF.KEY_FRAME_INTERVAL = 3  # the offsets left at the paper's (-9, 0)
    with caplog.at_level("WARNING", logger="dff_detectron2.config"):
        check_dff_config(cfg)
    assert (
        "KEY_OFFSET_RANGE (-9, 0) and MODEL.DFF.KEY_FRAME_INTERVAL 3: training pairs up to 9"
        " frames apart, while inference propagates over at most 2 (l - 1); set MODEL.DFF."
        "KEY_OFFSET_RANGE (-2, 0)" in caplog.text
    )
    caplog.clear()
    cfg.MODEL.DFF.KEY_OFFSET_RANGE = (-2, 0)
    with caplog.at_level("WARNING", logger="dff_detectron2.config"):
        check_dff_config(cfg)
    assert caplog.text == ""
