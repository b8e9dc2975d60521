"""Tests of checkpoint import (Sec. 4): torchvision ResNets and FlowNetS in public layouts.

The checkpoints are written here in the upstream layouts, with key names taken from the
upstream code: open-mmlab/mmflow (``FlowNetEncoder`` / ``FlowNetSDecoder`` and the
``flownets.py`` model config) and ClementPinard/FlowNetPytorch (``models/FlowNetS.py``).
"""

import copy
import logging

import pytest
import torch
import torch.nn.functional as F
import torchvision

from dff_common.checkpoint import convert_flownets, load_flownets, load_torchvision_resnet
from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.flow_nets import FlowNetSimple, build_flow_net

# Widths per pyramid level 1..6 of the FlowNetS encoder and of deconv5..deconv2.
FULL = ((64, 128, 256, 512, 512, 1024), (512, 256, 128, 64))
NARROW = ((4, 8, 16, 32, 32, 64), (32, 16, 8, 4))
KERNELS = ((7,), (5,), (5, 3), (3, 3), (3, 3), (3, 3))  # mmflow kernel_size per level
PYTORCH_NAMES = (
    ("conv1",),
    ("conv2",),
    ("conv3", "conv3_1"),
    ("conv4", "conv4_1"),
    ("conv5", "conv5_1"),
    ("conv6", "conv6_1"),
)


def decoder_in_channels(widths):
    """Input channels of the prediction at levels 6..2 (mmflow: 1024, 1026, 770, 386, 194)."""
    enc, dec = widths
    skips = {6: enc[5], 5: enc[4], 4: enc[3], 3: enc[2], 2: enc[1]}
    return {lvl: skips[lvl] + (dec[5 - lvl] + 2 if lvl < 6 else 0) for lvl in skips}


def our_net(widths, norm=None):
    enc, dec = widths
    return FlowNetSimple(
        (enc[0], enc[1], enc[2], enc[2], enc[3], enc[3], enc[4], enc[4], enc[5], enc[5]),
        dec,
        feat_channels=8,
        norm=norm,
    ).eval()


def rand(*shape, g):
    fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else 1
    return torch.randn(*shape, generator=g) / fan_in**0.5


def mmflow_state_dict(widths, seed=0):
    """An mmflow FlowNetS state dict (``encoder.layers.i.layers.j.conv``, ``decoder.decoders``)."""
    g = torch.Generator().manual_seed(seed)
    enc, dec = widths
    sd, c_in = {}, 6
    for i, (out, kernels) in enumerate(zip(enc, KERNELS)):
        for j, k in enumerate(kernels):
            sd[f"encoder.layers.{i}.layers.{j}.conv.weight"] = rand(out, c_in, k, k, g=g)
            sd[f"encoder.layers.{i}.layers.{j}.conv.bias"] = rand(out, g=g)
            c_in = out
    in_channels = decoder_in_channels(widths)
    for level in (6, 5, 4, 3, 2):
        prefix = f"decoder.decoders.level{level}"
        sd[f"{prefix}.pred_out.weight"] = rand(2, in_channels[level], 3, 3, g=g)
        sd[f"{prefix}.pred_out.bias"] = rand(2, g=g)
        if level > 2:
            out = dec[6 - level]
            sd[f"{prefix}.deconv_out.deconvs.0.weight"] = rand(in_channels[level], out, 4, 4, g=g)
            sd[f"{prefix}.deconv_out.deconvs.0.bias"] = rand(out, g=g)
            sd[f"{prefix}.upsample_pred.deconvs.0.weight"] = rand(2, 2, 4, 4, g=g)
    return sd


def flownet_pytorch_state_dict(widths, batch_norm=False, seed=0):
    """A FlowNetPytorch ``flownets`` / ``flownets_bn`` state dict (``conv1.0.weight``, ...)."""
    g = torch.Generator().manual_seed(seed)
    enc, dec = widths
    sd, c_in = {}, 6
    for names, out, kernels in zip(PYTORCH_NAMES, enc, KERNELS):
        for name, k in zip(names, kernels):
            sd[f"{name}.0.weight"] = rand(out, c_in, k, k, g=g)
            if batch_norm:
                sd[f"{name}.1.weight"] = rand(out, g=g) + 1
                sd[f"{name}.1.bias"] = rand(out, g=g)
                sd[f"{name}.1.running_mean"] = rand(out, g=g)
                sd[f"{name}.1.running_var"] = rand(out, g=g).abs() + 0.5
                sd[f"{name}.1.num_batches_tracked"] = torch.tensor(1000)
            else:
                sd[f"{name}.0.bias"] = rand(out, g=g)
            c_in = out
    in_channels = decoder_in_channels(widths)
    for level in (6, 5, 4, 3, 2):
        sd[f"predict_flow{level}.weight"] = rand(2, in_channels[level], 3, 3, g=g)
        if level > 2:
            sd[f"deconv{level - 1}.0.weight"] = rand(in_channels[level], dec[6 - level], 4, 4, g=g)
            sd[f"upsampled_flow{level}_to_{level - 1}.weight"] = rand(2, 2, 4, 4, g=g)
    return sd


def ours_from_flownet_pytorch(key):
    """Our name of a FlowNetPytorch key (convN.0 conv, convN.1 BatchNorm, deconvN.0 deconv)."""
    name, rest = key.split(".", 1)
    if name.startswith("conv"):
        index, param = rest.split(".")
        return f"{name}.{'conv' if index == '0' else 'norm'}.{param}"
    if name.startswith("deconv"):
        return f"decoder.{name}.conv.{rest.split('.')[1]}"
    return f"decoder.{key}"  # predict_flowN.*, upsampled_flowA_to_B.*


def reference_flownets(sd, x):
    """mmflow's FlowNetS forward written with functional ops on the mmflow state dict.

    Returns ``{level: flow}`` for levels 2..6 (sizes divisible by 64: no cropping).
    """
    feats = {}
    for i, kernels in enumerate(KERNELS):
        for j, _ in enumerate(kernels):
            w = sd[f"encoder.layers.{i}.layers.{j}.conv.weight"]
            b = sd[f"encoder.layers.{i}.layers.{j}.conv.bias"]
            x = F.leaky_relu(F.conv2d(x, w, b, 2 if j == 0 else 1, w.shape[-1] // 2), 0.1)
        feats[i + 1] = x
    flows, feat, up_feat, up_flow = {}, feats[6], None, None
    for level in (6, 5, 4, 3, 2):
        prefix = f"decoder.decoders.level{level}"
        if level < 6:
            feat = torch.cat([feats[level], up_feat, up_flow], dim=1)
        pred_w, pred_b = sd[f"{prefix}.pred_out.weight"], sd[f"{prefix}.pred_out.bias"]
        flows[level] = F.conv2d(feat, pred_w, pred_b, padding=1)
        if level > 2:
            deconv = f"{prefix}.deconv_out.deconvs.0."
            up_feat = F.leaky_relu(
                F.conv_transpose2d(feat, sd[deconv + "weight"], sd[deconv + "bias"], 2, 1), 0.1
            )
            up_flow = F.conv_transpose2d(
                flows[level], sd[f"{prefix}.upsample_pred.deconvs.0.weight"], None, 2, 1
            )
    return flows


def test_mmflow_narrow_checkpoint_matches_reference_forward(tmp_path):
    sd = mmflow_state_dict(NARROW)
    path = tmp_path / "flownets_mmflow.pth"
    torch.save({"meta": {"epoch": 10}, "state_dict": sd}, path)
    net = our_net(NARROW)
    missing, unexpected = load_flownets(net, path, strict=True)
    assert missing == [] and unexpected == []
    assert torch.equal(net.conv1.conv.weight, sd["encoder.layers.0.layers.0.conv.weight"])
    assert torch.equal(net.conv3_1.conv.bias, sd["encoder.layers.2.layers.1.conv.bias"])
    assert torch.equal(
        net.decoder.deconv5.conv.weight, sd["decoder.decoders.level6.deconv_out.deconvs.0.weight"]
    )
    assert torch.equal(
        net.decoder.upsampled_flow3_to_2.weight,
        sd["decoder.decoders.level3.upsample_pred.deconvs.0.weight"],
    )
    assert torch.equal(net.decoder.predict_flow2.bias, sd["decoder.decoders.level2.pred_out.bias"])
    g = torch.Generator().manual_seed(3)
    key, cur = torch.randn(2, 1, 3, 64, 128, generator=g)
    with torch.no_grad():
        flow, scale, pyramid = net(key, cur, return_pyramid=True)
        expected = reference_flownets(sd, torch.cat([cur, key], dim=1))
    for level, pred in zip(range(2, 7), pyramid):
        torch.testing.assert_close(pred, expected[level], rtol=1e-4, atol=1e-5)
    assert torch.equal(scale, torch.ones(1, 8, 8, 16))  # scale field untouched (Sec. 3)
    torch.testing.assert_close(flow, 2.5 * F.avg_pool2d(expected[2], 2))


def test_mmflow_full_widths_fit_flownet():
    """The real mmflow decoder in_channels (1024, 1026, 770, 386, 194) fit our FlowNet."""
    assert decoder_in_channels(FULL) == {6: 1024, 5: 1026, 4: 770, 3: 386, 2: 194}
    sd = mmflow_state_dict(FULL)
    net = build_flow_net("flownet")
    assert load_flownets(net, {"state_dict": sd}, layout="mmflow", strict=True) == ([], [])
    assert torch.equal(net.conv6_1.conv.weight, sd["encoder.layers.5.layers.1.conv.weight"])
    assert torch.equal(net.scale_field.bias, torch.ones(1024))
    with pytest.raises(ValueError, match="shape mismatch for conv1.conv.weight"):
        load_flownets(build_flow_net("flownet_half"), sd)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_flownet_pytorch_checkpoint(tmp_path, batch_norm):
    sd = flownet_pytorch_state_dict(NARROW, batch_norm=batch_norm)
    path = tmp_path / "flownets_EPE1.951.pth"
    checkpoint = {"epoch": 300, "arch": "flownets", "state_dict": sd, "best_EPE": 1.951}
    torch.save(dict(checkpoint, div_flow=20), path)
    net = our_net(NARROW, norm="BN" if batch_norm else None)
    assert load_flownets(net, path, strict=True) == ([], [])
    ours = net.state_dict()
    for key, value in sd.items():
        assert torch.equal(ours[ours_from_flownet_pytorch(key)], value), key
    # Bias-free upstream layers get zero biases (the same function).
    assert torch.equal(net.decoder.predict_flow4.bias, torch.zeros(2))
    assert torch.equal(net.decoder.deconv3.conv.bias, torch.zeros(NARROW[1][2]))
    assert net.flow_factor == 2.5


def test_flownet_pytorch_div_flow_sets_flow_factor():
    sd = flownet_pytorch_state_dict(NARROW)
    net = our_net(NARROW)
    load_flownets(net, {"arch": "flownets", "state_dict": sd, "div_flow": 1})
    assert net.flow_factor == 1 / 8


def test_missing_and_unexpected_keys_are_reported(caplog):
    sd = flownet_pytorch_state_dict(NARROW)
    del sd["predict_flow2.weight"]
    sd["extra_head.weight"] = torch.zeros(1)
    net = our_net(NARROW)
    with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
        missing, unexpected = load_flownets(net, sd)
    # The whole bias-free layer is absent: no zero bias is made up for it either.
    assert missing == ["decoder.predict_flow2.weight", "decoder.predict_flow2.bias"]
    assert unexpected == ["extra_head.weight"]
    assert "decoder.predict_flow2.weight" in caplog.text and "extra_head.weight" in caplog.text
    with pytest.raises(
        ValueError, match=r"missing keys \['decoder.predict_flow2.weight', .*extra_head.weight"
    ):
        load_flownets(our_net(NARROW), sd, strict=True)
    # A BatchNorm checkpoint (flownets_bn) into the paper's net (no BN) is refused: the convs
    # would run without their normalisation (and miss their biases)
    bn = flownet_pytorch_state_dict(NARROW, batch_norm=True)
    message = (
        r"the given state dict: a FlowNetS checkpoint with BatchNorm after its convs \(\d+ norm"
        r" layers, e.g. conv1.norm; FlowNetPytorch's flownets_bn\), for a flow network built "
        r"without normalisation: build it with norm 'BN'"
    )
    with pytest.raises(ValueError, match=message):
        load_flownets(our_net(NARROW), bn)


def test_shape_mismatch_names_the_key():
    sd = flownet_pytorch_state_dict(NARROW)
    sd["upsampled_flow5_to_4.weight"] = torch.zeros(2, 2, 3, 3)
    with pytest.raises(ValueError, match="decoder.upsampled_flow5_to_4.weight"):
        load_flownets(our_net(NARROW), sd)


def test_bgr_to_rgb_reverses_conv1_colour_channels():
    sd = mmflow_state_dict(NARROW)
    converted = convert_flownets(sd, "mmflow", bgr_to_rgb=True)
    weight = sd["encoder.layers.0.layers.0.conv.weight"]
    assert torch.equal(converted["conv1.conv.weight"][:, 0], weight[:, 2])
    assert torch.equal(converted["conv1.conv.weight"][:, 3:], weight[:, [5, 4, 3]])
    assert torch.equal(converted["conv2.conv.weight"], sd["encoder.layers.1.layers.0.conv.weight"])


def test_native_layout_and_bad_inputs(tmp_path):
    source = build_flow_net("flownet_inception", feat_channels=4)
    source.scale_field.bias.data.fill_(2.0)
    target = build_flow_net("flownet_inception", feat_channels=4)
    torch.save(source.state_dict(), tmp_path / "ours.pth")
    assert load_flownets(target, tmp_path / "ours.pth", strict=True) == ([], [])
    assert torch.equal(target.scale_field.bias, torch.full((4,), 2.0))
    fresh = build_flow_net("flownet_inception", feat_channels=4)
    # pre-trained weights without their scale field: S starts at 1 (Sec. 3)
    assert load_flownets(fresh, tmp_path / "ours.pth", keep_scale_field=False) == ([], [])
    assert torch.equal(fresh.scale_field.bias, torch.ones(4))
    for name, value in source.state_dict().items():
        if not name.startswith("scale_field."):
            assert torch.equal(fresh.state_dict()[name], value), name
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_flownets(target, tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="cannot detect"):
        load_flownets(target, {"fc.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="unknown FlowNetS layout"):
        convert_flownets({}, "caffe")
    torch.save({"state_dict": {}, "obj": UnsafeObject()}, tmp_path / "unsafe.pth")
    with pytest.raises(ValueError, match="weights_only=False"):
        load_flownets(target, tmp_path / "unsafe.pth")


class UnsafeObject:
    """A pickled custom class: refused by ``torch.load(weights_only=True)``."""


def test_torchvision_resnet50_round_trip_into_dilated_resnet(resnet50_file):
    model, path = resnet50_file
    net = DilatedResNetFeatureNet(depth=50, out_channels=8).eval()
    missing, unexpected = load_torchvision_resnet(net, path, prefix="body.", strict=True)
    assert missing == [] and unexpected == []  # fc dropped, conv_feat out of scope
    ours, theirs = net.state_dict(), model.state_dict()
    for key, value in theirs.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        assert torch.equal(ours["body." + key], value), key
    # Same function up to res4 (dilation only changes res5): FrozenBN == eval BatchNorm. In
    # float64, so that FrozenBN's folded scale and BatchNorm's rounding cannot differ by more
    # than a float32 tolerance after 13 residual blocks (they did, at 1e-4, on some inputs).
    model, body = copy.deepcopy(model).double(), net.body[:7].double()
    x = torch.randn(1, 3, 64, 80, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        expected = model.layer3(model.layer2(model.layer1(stem)))
        torch.testing.assert_close(body(x), expected, rtol=1e-9, atol=1e-9)


def test_resnet_missing_unexpected_and_errors(resnet50_file, caplog):
    model, _ = resnet50_file
    sd = dict(model.state_dict())
    del sd["layer4.2.conv3.weight"]
    sd["layer5.0.conv1.weight"] = torch.zeros(1)
    net = DilatedResNetFeatureNet(depth=50, out_channels=8)
    with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
        missing, unexpected = load_torchvision_resnet(net, sd, prefix="body.")
    assert missing == ["body.layer4.2.conv3.weight"]
    assert unexpected == ["body.layer5.0.conv1.weight"]
    assert "body.layer4.2.conv3.weight" in caplog.text
    with pytest.raises(ValueError, match="body.layer5.0.conv1.weight"):
        load_torchvision_resnet(net, sd, prefix="body.", strict=True)
    resnet18 = torchvision.models.resnet18(weights=None).state_dict()
    with pytest.raises(ValueError, match="shape mismatch for body.layer1.0.conv1.weight"):
        load_torchvision_resnet(net, resnet18, prefix="body.")
    with pytest.raises(ValueError, match="not a torchvision ResNet"):
        load_torchvision_resnet(net, {"stem.conv1.weight": torch.zeros(64, 3, 7, 7)})


def test_flow_input_much_larger_than_the_pretraining_pairs_warns(tmp_path, caplog):
    """FlowNets fail on inputs several times their training size (10 feature cells of error
    at 3x on the synthetic set): loading one for such input says so, naming the file."""
    net = build_flow_net("flownet_half", feat_channels=8)
    path = tmp_path / "flownet_half_chairs64x128.pth"
    torch.save({"state_dict": net.state_dict(), "meta": {"input_size": [64, 128]}}, path)
    with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
        load_flownets(build_flow_net("flownet_half", feat_channels=8), path, input_short_side=192)
    assert "flownet_half_chairs64x128.pth: F was pre-trained on 64x128 pairs" in caplog.text
    assert "shorter side 192 (3.0x)" in caplog.text
    for short_side in (64, 128):  # up to MAX_FLOW_INPUT_RATIO times larger: no warning
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
            load_flownets(net, path, input_short_side=short_side)
        assert caplog.text == ""
    # a checkpoint that does not record its training size (any upstream one) is not checked
    torch.save({"state_dict": net.state_dict(), "meta": {"epoch": 10}}, path)
    with caplog.at_level(logging.WARNING, logger="dff_common.checkpoint"):
        load_flownets(net, path, input_short_side=1000)
    assert caplog.text == ""
