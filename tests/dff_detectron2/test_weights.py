"""Initial weights the detectron2 way: an ImageNet ResNet (torchvision layout) and a flow
network merged into one ``MODEL.WEIGHTS`` file (``tools/convert_weights.py``), loaded by
``DetectionCheckpointer``; building a model reads no file."""

import importlib.util
import logging
from pathlib import Path

import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from torchvision.ops import FrozenBatchNorm2d

from dff_common.flow_nets import FlowNetHalf
from dff_detectron2.checkpoint.convert import initial_weights, save_weights

TOOL = Path(__file__).resolve().parents[2] / "tools" / "convert_weights.py"


def _convert_tool():
    spec = importlib.util.spec_from_file_location("convert_weights", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def flow_file(tmp_path):
    """``tools/pretrain_flow.py``'s checkpoint of a BN FlowNet Half, non-trivial statistics."""
    torch.manual_seed(4)
    trained = FlowNetHalf(feat_channels=1024, norm="BN")
    for module in trained.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    path = tmp_path / "flow.pth"
    torch.save({"state_dict": trained.state_dict(), "meta": {"flow_net": "flownet_half"}}, path)
    return trained, path


def _assert_flow_loaded(flow_net, trained):
    state = flow_net.state_dict()
    for key, value in trained.state_dict().items():
        if not key.startswith("scale_field.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(state[key], value), key
    # the scale field is added anew for the 64-channel features: S = 1 at the start (Sec. 3)
    assert flow_net.scale_field.out_channels == 64
    assert torch.all(flow_net.scale_field.weight == 0) and torch.all(flow_net.scale_field.bias == 1)


def test_imagenet_and_flow_weights_reach_the_model_through_model_weights(
    tiny_cfg, tmp_path, flow_file
):
    trained, flow_path = flow_file
    torch.manual_seed(3)
    resnet = torchvision.models.resnet50(weights=None)
    torch.save(resnet.state_dict(), tmp_path / "resnet50.pth")  # torchvision's file layout
    cfg = tiny_cfg("MODEL.DFF.FLOW.NORM", "BN")
    out = tmp_path / "init.pth"
    tool = _convert_tool()
    opts = ["--resnet", str(tmp_path / "resnet50.pth"), "--flow", str(flow_path)]
    config = tmp_path / "tiny.yaml"
    config.write_text(cfg.dump())
    assert tool.main(["--config", str(config), *opts, "--output", str(out)]) == str(out)
    with pytest.raises(FileExistsError, match="init.pth exists"):
        tool.main(["--config", str(config), *opts, "--output", str(out)])
    torch.manual_seed(0)
    model = build_model(cfg)  # reads no file: random weights until MODEL.WEIGHTS is loaded
    assert not torch.equal(model.backbone.net.body.conv1.weight, resnet.conv1.weight)
    DetectionCheckpointer(model).load(str(out))
    body = model.backbone.net.body.state_dict()
    for key, value in resnet.state_dict().items():
        if not key.startswith("fc.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(body[key], value), key
    assert isinstance(model.backbone.net.body.bn1, FrozenBatchNorm2d) is False  # tiny cfg: BN
    flow_net = model.propagation.flow_net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in flow_net.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in flow_net.modules())  # kept frozen
    _assert_flow_loaded(flow_net, trained)
    written = torch.load(out, weights_only=True)["model"]
    assert not any(k.startswith(("backbone.net.conv_feat", "roi_heads.")) for k in written)


def test_dff_from_a_frame_checkpoint_plus_flow(tiny_cfg, tmp_path, flow_file, caplog):
    """DFF fix N / separate: N from the Frame model, F from the flow pre-training (Table 3)."""
    trained, flow_path = flow_file
    frame = build_model(tiny_cfg("MODEL.DFF.MODE", "frame"))
    DetectionCheckpointer(frame, save_dir=str(tmp_path)).save("frame")
    cfg = tiny_cfg("MODEL.DFF.FLOW.NORM", "BN")
    merged = initial_weights(cfg, flow=str(flow_path), base=str(tmp_path / "frame.pth"))
    save_weights(merged, str(tmp_path / "frame_flow.pth"))
    dff = build_model(cfg)
    DetectionCheckpointer(dff).load(str(tmp_path / "frame_flow.pth"))
    for key, value in frame.state_dict().items():
        assert torch.equal(dff.state_dict()[key], value), key
    _assert_flow_loaded(dff.propagation.flow_net, trained)
    # F pre-trained on pairs much smaller than the test frames it gets: a warning naming it
    # (tiny_cfg: 64-pixel test frames, F sees them at half size, 32 = 4x the 8x12 pairs)
    checkpoint = torch.load(flow_path, weights_only=True)
    checkpoint["meta"]["input_size"] = [8, 12]
    torch.save(checkpoint, tmp_path / "flow8x12.pth")
    with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
        initial_weights(cfg, flow=str(tmp_path / "flow8x12.pth"))
    assert "flow8x12.pth: F was pre-trained on 8x12 pairs" in caplog.text
    assert "shorter side 32 (4.0x)" in caplog.text
    # a file that fits nowhere in the model is an error naming it
    with pytest.raises(ValueError, match="flow.pth: the model of this config has no flow"):
        initial_weights(tiny_cfg("MODEL.DFF.MODE", "frame"), flow=str(flow_path))
    with pytest.raises(ValueError, match="shape mismatch"):  # FlowNet Half weights into FlowNet
        cfg = tiny_cfg("MODEL.DFF.FLOW.NAME", "FlowNetSimple", "MODEL.DFF.FLOW.NORM", "BN")
        initial_weights(cfg, flow=str(flow_path))
    with pytest.raises(ValueError, match="flow.pth: a FlowNetS checkpoint with BatchNorm"):
        initial_weights(tiny_cfg(), flow=str(flow_path))  # the tiny config's F has no norm


def test_the_flow_colour_order_is_derived_and_a_wrong_choice_refused(tiny_cfg, flow_file):
    trained, flow_path = flow_file  # this package's layout: trained on RGB frames
    rgb, bgr = tiny_cfg("MODEL.DFF.FLOW.NORM", "BN"), tiny_cfg("MODEL.DFF.FLOW.NORM", "BN",
                                                                "INPUT.FORMAT", "BGR")  # fmt: skip
    conv1 = "propagation.flow_net.conv1.conv.weight"
    kept = initial_weights(rgb, flow=str(flow_path))[conv1]
    reversed_ = initial_weights(bgr, flow=str(flow_path))[conv1]  # derived: BGR model
    assert torch.equal(reversed_, kept[:, [2, 1, 0, 5, 4, 3]])
    assert torch.equal(initial_weights(bgr, flow=str(flow_path), bgr_to_rgb=True)[conv1], reversed_)
    message = rf"{flow_path}: dff weights were trained on RGB frames and F gets BGR frames, so "
    with pytest.raises(ValueError, match=message + r"conv1's colour channels must be reversed"):
        initial_weights(bgr, flow=str(flow_path), bgr_to_rgb=False)
    with pytest.raises(
        ValueError, match=r"gets RGB frames, so conv1's colour channels must be kep"
    ):
        initial_weights(rgb, flow=str(flow_path), bgr_to_rgb=True)
