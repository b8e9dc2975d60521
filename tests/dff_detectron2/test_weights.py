"""Pre-trained weights from config keys: ImageNet ResNet (torchvision layout) and flow nets."""

import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.layers import ShapeSpec as Shape
from detectron2.modeling import build_model
from torchvision.ops import FrozenBatchNorm2d

from dff_common.flow_nets import build_flow_net
from dff_detectron2.backbone import build_dff_resnet_backbone
from dff_detectron2.flow_functions import build_propagation


def test_imagenet_weights_load_into_the_dilated_backbone(tiny_cfg, tmp_path):
    torch.manual_seed(3)
    resnet = torchvision.models.resnet50(weights=None)
    torch.save(resnet.state_dict(), tmp_path / "resnet50.pth")  # torchvision's file layout
    cfg = tiny_cfg("MODEL.DFF.FEATURE.WEIGHTS", str(tmp_path / "resnet50.pth"))
    backbone = build_dff_resnet_backbone(cfg, Shape(channels=3))
    body = backbone.net.body.state_dict()
    for key, value in resnet.state_dict().items():
        if not key.startswith("fc.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(body[key], value), key
    out = backbone(torch.zeros(1, 3, 64, 96))["dff_feat"]
    assert out.shape == (1, 64, 4, 6)  # stride 16, OUT_CHANNELS of the tiny config


def test_flow_weights_load_and_the_scale_field_starts_at_one(tiny_cfg, tmp_path):
    torch.manual_seed(4)
    pretrained = build_flow_net("flownet_half", feat_channels=1024, norm="BN")
    for module in pretrained.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    path = tmp_path / "flow.pth"  # tools/pretrain_flow.py's checkpoint format
    torch.save({"state_dict": pretrained.state_dict(), "meta": {"flow_net": "flownet_half"}}, path)
    cfg = tiny_cfg("MODEL.DFF.FLOW.WEIGHTS", str(path), "MODEL.DFF.FLOW.NORM", "BN")
    propagation = build_propagation(cfg, feat_channels=64)
    flow_net = propagation.flow_net
    # BN statistics and weights kept, frozen (small batches in DFF training)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in flow_net.modules())
    frozen = [m for m in flow_net.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert frozen
    state = flow_net.state_dict()
    for key, value in pretrained.state_dict().items():
        if not key.startswith("scale_field.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(state[key], value), key
    # the scale field is added anew for the 64-channel features: S = 1 at the start (Sec. 3)
    assert flow_net.scale_field.out_channels == 64
    assert torch.all(flow_net.scale_field.weight == 0) and torch.all(flow_net.scale_field.bias == 1)

    # DFF started from a Frame checkpoint (no flow keys) keeps the flow statistics
    frame = build_model(tiny_cfg("MODEL.DFF.MODE", "frame"))
    DetectionCheckpointer(frame, save_dir=str(tmp_path)).save("frame")
    dff = build_model(cfg)
    DetectionCheckpointer(dff).load(str(tmp_path / "frame.pth"))
    state = dff.propagation.flow_net.state_dict()
    for key in ("conv1.norm.running_mean", "conv1.norm.running_var", "conv2.norm.weight"):
        assert torch.equal(state[key], pretrained.state_dict()[key]), key
