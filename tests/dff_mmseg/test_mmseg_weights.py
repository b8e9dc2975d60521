"""Pre-trained weights the mmseg way (Sec. 4): ``init_cfg=dict(type='Pretrained', ...)`` of
the ``DilatedResNet`` backbone (a torchvision ImageNet ResNet) and of a flow network (mmflow,
FlowNetPytorch and our own "dff" layout), read by ``init_weights()``, never by building.

The checkpoints are written here in the upstream layouts, as in tests/dff_common/
test_checkpoint.py (key names of open-mmlab/mmflow's FlowNetS and ClementPinard/FlowNetPytorch).
"""

import logging

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torchvision.ops import FrozenBatchNorm2d

from dff_common.flow_nets import build_flow_net

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
H, W = 32, 64
FEAT = 8  # out_channels of the tiny feature net: the scale field's channels
# FlowNet Half (Table 7): encoder widths per pyramid level 1..6, decoder deconv5..deconv2.
HALF = ((32, 64, 128, 256, 256, 512), (256, 128, 64, 32))
KERNELS = ((7,), (5,), (5, 3), (3, 3), (3, 3), (3, 3))
LAYERS = (
    ("conv1",),
    ("conv2",),
    ("conv3", "conv3_1"),
    ("conv4", "conv4_1"),
    ("conv5", "conv5_1"),
    ("conv6", "conv6_1"),
)


def build(backbone=None, flow_net=None):
    """A tiny DFFSegmentor from a config dict, built through mmseg's MODELS registry."""
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type="DFFSegmentor",
            backbone=dict(
                type="DilatedResNet",
                depth=50,
                out_channels=FEAT,
                frozen_stages=2,
                **(backbone or {}),
            ),
            decode_head=dict(
                type="FCNHead",
                in_channels=FEAT,
                in_index=0,
                channels=FEAT,
                num_convs=0,
                concat_input=False,
                dropout_ratio=0.0,
                num_classes=5,
            ),
            flow_net=flow_net,
            data_preprocessor=dict(
                type="VideoSegDataPreProcessor", mean=MEAN, std=STD, bgr_to_rgb=True, size=(H, W)
            ),
        )
    )


def pretrained(path, **options):
    return dict(init_cfg=dict(type="Pretrained", checkpoint=str(path), **options))


def rand(*shape, g):
    fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else 1
    return torch.randn(*shape, generator=g) / fan_in**0.5


def decoder_in_channels(widths=HALF):
    enc, dec = widths
    skips = {6: enc[5], 5: enc[4], 4: enc[3], 3: enc[2], 2: enc[1]}
    return {lvl: skips[lvl] + (dec[5 - lvl] + 2 if lvl < 6 else 0) for lvl in skips}


def mmflow_checkpoint(seed=0):
    """``{mmflow key: (our key, tensor)}`` of an mmflow FlowNetS with FlowNet Half's widths."""
    g = torch.Generator().manual_seed(seed)
    enc, dec = HALF
    out, c_in = {}, 6
    for i, (width, kernels) in enumerate(zip(enc, KERNELS)):
        for j, k in enumerate(kernels):
            for param, shape in (("weight", (width, c_in, k, k)), ("bias", (width,))):
                key = f"encoder.layers.{i}.layers.{j}.conv.{param}"
                out[key] = (f"{LAYERS[i][j]}.conv.{param}", rand(*shape, g=g))
            c_in = width
    in_channels = decoder_in_channels()
    for level in (6, 5, 4, 3, 2):
        prefix = f"decoder.decoders.level{level}"
        ours = f"decoder.predict_flow{level}"
        out[f"{prefix}.pred_out.weight"] = (
            f"{ours}.weight",
            rand(2, in_channels[level], 3, 3, g=g),
        )
        out[f"{prefix}.pred_out.bias"] = (f"{ours}.bias", rand(2, g=g))
        if level > 2:
            width, ours = dec[6 - level], f"decoder.deconv{level - 1}.conv"
            deconv = f"{prefix}.deconv_out.deconvs.0"
            out[f"{deconv}.weight"] = (f"{ours}.weight", rand(in_channels[level], width, 4, 4, g=g))
            out[f"{deconv}.bias"] = (f"{ours}.bias", rand(width, g=g))
            out[f"{prefix}.upsample_pred.deconvs.0.weight"] = (
                f"decoder.upsampled_flow{level}_to_{level - 1}.weight",
                rand(2, 2, 4, 4, g=g),
            )
    return out


def flownet_pytorch_checkpoint(seed=1):
    """``{FlowNetPytorch key: (our key, tensor)}``: ``flownets`` (no BN, bias-free decoder)."""
    g = torch.Generator().manual_seed(seed)
    enc, dec = HALF
    out, c_in = {}, 6
    for names, width, kernels in zip(LAYERS, enc, KERNELS):
        for name, k in zip(names, kernels):
            out[f"{name}.0.weight"] = (f"{name}.conv.weight", rand(width, c_in, k, k, g=g))
            out[f"{name}.0.bias"] = (f"{name}.conv.bias", rand(width, g=g))
            c_in = width
    in_channels = decoder_in_channels()
    for level in (6, 5, 4, 3, 2):
        out[f"predict_flow{level}.weight"] = (
            f"decoder.predict_flow{level}.weight",
            rand(2, in_channels[level], 3, 3, g=g),
        )
        if level > 2:
            out[f"deconv{level - 1}.0.weight"] = (
                f"decoder.deconv{level - 1}.conv.weight",
                rand(in_channels[level], dec[6 - level], 4, 4, g=g),
            )
            out[f"upsampled_flow{level}_to_{level - 1}.weight"] = (
                f"decoder.upsampled_flow{level}_to_{level - 1}.weight",
                rand(2, 2, 4, 4, g=g),
            )
    return out


def assert_fresh_scale_field(flow_net, channels=FEAT):
    """S is new (Sec. 3): weights 0, bias 1, one channel per propagated feature map."""
    field = flow_net.scale_field
    assert field.out_channels == channels
    assert torch.equal(field.weight, torch.zeros_like(field.weight))
    assert torch.equal(field.bias, torch.ones(channels))


def test_feature_net_pretrained_loads_the_torchvision_resnet(resnet50_file):
    resnet, path = resnet50_file
    state = resnet.state_dict()
    model = build(backbone=dict(norm="FrozenBN", **pretrained(path)), flow_net=None)
    # building reads no file: the ResNet is still random until init_weights()
    assert not torch.equal(model.backbone.body.conv1.weight, state["conv1.weight"])
    model.init_weights()  # what mmengine's runner calls before training
    body = model.backbone.body.state_dict()
    loaded = [k for k in state if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    assert set(body) == set(loaded)  # every ResNet tensor has its entry in the file, fc dropped
    for key in loaded:
        assert torch.equal(body[key], state[key]), key
    assert isinstance(model.backbone.body.bn1, FrozenBatchNorm2d)
    # the new layers keep their initialisation (Sec. 4): conv_feat and the classifier
    assert torch.equal(model.backbone.conv_feat.bias, torch.zeros(FEAT))
    assert torch.equal(model.decode_head.conv_seg.bias, torch.zeros(5))
    assert model.backbone.conv_feat.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert model.decode_head.conv_seg.weight.std().item() == pytest.approx(0.01, rel=0.2)
    model.init_weights()  # a second call (a resumed run) changes nothing
    assert torch.equal(model.backbone.body.conv1.weight, state["conv1.weight"])


@pytest.mark.parametrize("bgr_to_rgb", [True, False])
def test_flow_net_checkpoint_in_mmflow_layout(tmp_path, bgr_to_rgb):
    checkpoint = mmflow_checkpoint()
    path = tmp_path / "flownets_8x1_sfine_flyingchairs_384x448.pth"
    state_dict = {key: value for key, (_, value) in checkpoint.items()}
    torch.save({"meta": {"epoch": 100}, "state_dict": state_dict}, path)
    model = build(
        flow_net=dict(
            type="FlowNetHalf", **pretrained(path, layout="mmflow", bgr_to_rgb=bgr_to_rgb)
        )
    )
    model.init_weights()
    flow_net = model.propagation.flow_net
    ours = flow_net.state_dict()
    expected = {our_key: value for our_key, value in checkpoint.values()}
    # every flow-net tensor but the scale field's comes from the file
    assert set(ours) - set(expected) == {"scale_field.weight", "scale_field.bias"}
    for key, value in expected.items():
        if key == "conv1.conv.weight" and bgr_to_rgb:
            # mmflow weights were trained on BGR frames: each frame's colour channels reversed
            value = value[:, [2, 1, 0, 5, 4, 3]]
        assert torch.equal(ours[key], value), key
    if bgr_to_rgb:
        conv1 = flow_net.conv1.conv.weight
        raw = checkpoint["encoder.layers.0.layers.0.conv.weight"][1]
        assert torch.equal(conv1[:, 0], raw[:, 2]) and torch.equal(conv1[:, 2], raw[:, 0])
        assert torch.equal(conv1[:, 1], raw[:, 1]) and torch.equal(conv1[:, 3], raw[:, 5])
        assert not torch.equal(conv1, raw)
    assert_fresh_scale_field(flow_net)
    assert model.propagation.use_scale


def test_flow_net_checkpoint_in_flownet_pytorch_layout(tmp_path):
    checkpoint = flownet_pytorch_checkpoint()
    path = tmp_path / "flownets_EPE1.951.pth.tar"
    state_dict = {key: value for key, (_, value) in checkpoint.items()}
    torch.save({"epoch": 300, "arch": "flownets", "state_dict": state_dict, "div_flow": 20}, path)
    model = build(flow_net=dict(type="FlowNetHalf", **pretrained(path, layout="auto")))
    model.init_weights()
    flow_net = model.propagation.flow_net
    ours = flow_net.state_dict()
    for key, value in checkpoint.values():
        assert torch.equal(ours[key], value), key
    # upstream's bias-free decoder layers: zero biases (the same function)
    for level in (6, 5, 4, 3, 2):
        assert torch.equal(ours[f"decoder.predict_flow{level}.bias"], torch.zeros(2))
    assert torch.equal(ours["decoder.deconv5.conv.bias"], torch.zeros(HALF[1][0]))
    assert flow_net.flow_factor == 2.5
    assert_fresh_scale_field(flow_net)


def test_flow_net_checkpoint_in_dff_layout_drops_its_scale_field(tmp_path):
    """tools/pretrain_flow.py's files hold a (trained, 1024-channel) scale field: not loaded."""
    torch.manual_seed(5)
    flow_file_net = build_flow_net("flownet_half", feat_channels=1024, norm="BN")
    flow_file_net.scale_field.weight.data.normal_()
    flow_file_net.scale_field.bias.data.fill_(2.0)
    for m in flow_file_net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    path = tmp_path / "flownet_half_flyingchairs_dff.pth"
    torch.save(
        {"state_dict": flow_file_net.state_dict(), "meta": {"flow_net": "flownet_half"}}, path
    )
    model = build(flow_net=dict(type="FlowNetHalf", norm="BN", **pretrained(path)))
    model.init_weights()
    flow_net = model.propagation.flow_net
    ours = flow_net.state_dict()
    for key, value in flow_file_net.state_dict().items():
        # BN is frozen (torchvision's FrozenBatchNorm2d): no num_batches_tracked bookkeeping
        if not key.startswith("scale_field.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(ours[key], value), key
    assert_fresh_scale_field(flow_net)  # 8 channels for these features, not the file's 1024
    # the loaded BN statistics stay as loaded through a training step (frozen: batches of
    # 1-2 pairs cannot estimate them)
    model.train()
    pair = torch.randn(2, 6, H, W, generator=torch.Generator().manual_seed(0))
    samples = []
    for distance in (2, 4):
        sample = SegDataSample(metainfo=dict(key_distance=distance, img_shape=(H, W)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, H, W)))
        samples.append(sample)
    model.loss(pair, samples)["decode.loss_ce"].backward()
    for key in ("conv1.norm.running_mean", "conv6_1.norm.running_var"):
        assert torch.equal(flow_net.state_dict()[key], flow_file_net.state_dict()[key]), key


def test_flow_net_pretrained_on_much_smaller_pairs_warns(tmp_path, caplog):
    """F gets the data preprocessor's size (32x64) times flow_input_scale (0.5): short side
    16. A checkpoint of tools/pretrain_flow.py records its pairs' size: 8x16 is fine (2x),
    4x8 is not (4x) and is reported, naming the file; an explicit input_short_side wins."""
    path = tmp_path / "flownet_half_chairs.pth"
    flow_file_net = build_flow_net("flownet_half", feat_channels=FEAT)

    def init(input_size, **options):
        meta = {"flow_net": "flownet_half", "input_size": input_size}
        torch.save({"state_dict": flow_file_net.state_dict(), "meta": meta}, path)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
            build(flow_net=dict(type="FlowNetHalf", **pretrained(path, **options))).init_weights()
        return caplog.text

    assert init([8, 16]) == ""
    warning = init([4, 8])
    assert "flownet_half_chairs.pth: F was pre-trained on 4x8 pairs" in warning
    assert "shorter side 16 (4.0x)" in warning
    assert init([4, 8], input_short_side=8) == ""
    assert "shorter side 40 (5.0x)" in init([8, 16], input_short_side=40)
    with pytest.raises(ValueError, match=r"flownet_half_chairs.pth.*input_short_side.*'40'"):
        init([8, 16], input_short_side="40")  # a config value of the wrong type


def test_missing_or_wrong_files_name_the_file(tmp_path, resnet50_file):
    def init(**parts):
        build(**parts).init_weights()  # building itself reads nothing, whatever the files

    _, resnet_path = resnet50_file
    missing = tmp_path / "resnet101-63fe2227.pth"
    with pytest.raises(
        FileNotFoundError, match=r"DilatedResNet.*resnet101-63fe2227.pth.*load_from"
    ):
        init(backbone=pretrained(missing))
    missing_flow = tmp_path / "flownet_flyingchairs_dff.pth"
    with pytest.raises(FileNotFoundError, match="FlowNetHalf.*flownet_flyingchairs_dff.pth"):
        init(flow_net=dict(type="FlowNetHalf", **pretrained(missing_flow)))
    # a ResNet file given as the flow checkpoint and a flow file given as the ResNet
    with pytest.raises(ValueError, match=r"checkpoint=.*resnet50-0676ba61.pth.*cannot detect"):
        init(flow_net=dict(type="FlowNetHalf", **pretrained(resnet_path)))
    flow_path = tmp_path / "flownets_mmflow.pth"
    torch.save({key: value for key, (_, value) in mmflow_checkpoint().items()}, flow_path)
    with pytest.raises(ValueError, match=r"checkpoint=.*flownets_mmflow.pth.*not a torchvision"):
        init(backbone=pretrained(flow_path))
    # FlowNet Half weights into the full FlowNet: a shape mismatch, naming file and key
    with pytest.raises(ValueError, match=r"flownets_mmflow.pth.*conv1.conv.weight"):
        init(flow_net=dict(type="FlowNetSimple", **pretrained(flow_path)))
    garbage = tmp_path / "truncated.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="truncated.pth"):
        init(flow_net=dict(type="FlowNetHalf", **pretrained(garbage)))
    with pytest.raises(ValueError, match="only init_cfg=dict.type='Pretrained'"):
        build(flow_net=dict(type="FlowNetHalf", init_cfg=dict(type="Kaiming")))
    with pytest.raises(TypeError, match="init_cfg"):  # a hand-crafted flow has no weights
        build(flow_net=dict(type="ZeroFlow", **pretrained(flow_path)))
