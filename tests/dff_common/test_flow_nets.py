"""Tests of the flow networks F (Sec. 3, Sec. 4, Appendix A, Tables 6-8)."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dff_common.flow_nets import (
    FLOW_NETS,
    FLOWNET_WIDTHS,
    MULTISCALE_EPE_WEIGHTS,
    FlowNetInception,
    FlowNetSimple,
    build_flow_net,
)

NAMES = tuple(FLOW_NETS)

# Table 6: (layer, kernel, stride, # output).
TABLE_6 = (
    ("conv1", 7, 2, 64),
    ("conv2", 5, 2, 128),
    ("conv3", 5, 2, 256),
    ("conv3_1", 3, 1, 256),
    ("conv4", 3, 2, 512),
    ("conv4_1", 3, 1, 512),
    ("conv5", 3, 2, 512),
    ("conv5_1", 3, 1, 512),
    ("conv6", 3, 2, 1024),
    ("conv6_1", 3, 1, 1024),
)
# Table 8 modules: (layer, stride, # output, #1x1, #1x1-#3x3, #1x1-#3x3-#3x3, #pool).
TABLE_8 = (
    ("conv2", 1, 64, None, (24, 32), (24, 32, 32), None),
    ("conv3_2", 1, 128, 48, (32, 64), (8, 16, 16), None),
    ("conv3_3", 1, 128, 48, (48, 64), (12, 16, 16), None),
    ("conv4_1", 2, 256, 32, (112, 128), (28, 32, 32), 64),
    ("conv4_2", 1, 256, 96, (112, 128), (28, 32, 32), None),
    ("conv5_1", 2, 384, 48, (96, 192), (36, 48, 48), 96),
    ("conv5_2", 1, 384, 144, (96, 192), (36, 48, 48), None),
    ("conv6_1", 2, 512, 64, (192, 256), (48, 64, 64), 128),
    ("conv6_2", 1, 512, 192, (192, 256), (48, 64, 64), None),
)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return {name: build_flow_net(name).eval() for name in NAMES}


def frames(height, width, batch=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, height, width, generator=g), torch.randn(
        batch, 3, height, width, generator=g
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(75, 101), (97, 130)])
def test_output_shapes_odd_sizes(nets, name, size):
    net = nets[name]
    h, w = size
    key, cur = frames(h, w, batch=2)
    with torch.no_grad():
        flow, scale, pyramid = net(key, cur, return_pyramid=True)
    h8, w8 = math.ceil(h / 8), math.ceil(w / 8)
    assert net.output_size(h, w) == (h8, w8)
    assert flow.shape == (2, 2, h8, w8)
    assert scale.shape == (2, 1024, h8, w8)
    assert len(pyramid) == len(MULTISCALE_EPE_WEIGHTS) == 5
    for level, pred in zip(range(2, 7), pyramid):
        assert pred.shape == (2, 2, math.ceil(h / 2**level), math.ceil(w / 2**level))
    assert torch.isfinite(flow).all() and flow.abs().sum() > 0
    # Without return_pyramid: the same two outputs.
    with torch.no_grad():
        flow2, scale2 = net(key, cur)
    assert torch.equal(flow, flow2) and torch.equal(scale, scale2)


@pytest.mark.parametrize("name", NAMES)
def test_scale_field_is_exactly_one_at_init(nets, name):
    net = nets[name]  # default 1024 channels, Sec. 3: weights 0, bias 1
    key, cur = frames(45, 70)
    with torch.no_grad():
        _, scale = net(key, cur)
    assert scale.shape == (1, 1024, 6, 9)
    assert torch.equal(scale, torch.ones_like(scale))
    assert torch.equal(net.scale_field.weight, torch.zeros_like(net.scale_field.weight))


def test_flow_factor_and_downsizing_values(nets):
    """A constant prediction (u, v) at stride 4 gives 2.5 * (u, v) feature-map pixels."""
    net = copy.deepcopy(nets["flownet_half"])
    with torch.no_grad():
        net.decoder.predict_flow2.weight.zero_()
        net.decoder.predict_flow2.bias.copy_(torch.tensor([1.0, -2.0]))
        flow, _, pyramid = net(*frames(75, 101), return_pyramid=True)
    assert torch.equal(pyramid[0], torch.tensor([1.0, -2.0]).view(1, 2, 1, 1).expand(1, 2, 19, 26))
    # Values are already in stride-8 units: downsizing keeps them (no extra halving).
    expected = torch.tensor([2.5, -5.0]).view(1, 2, 1, 1).expand(1, 2, 10, 13)
    torch.testing.assert_close(flow, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(64, 96), (75, 101)])
def test_flow_is_bilinear_half_of_stride4_prediction(nets, size):
    net = nets["flownet"]
    with torch.no_grad():
        flow, _, pyramid = net(*frames(*size), return_pyramid=True)
    fine = pyramid[0] * 2.5
    h4, w4 = fine.shape[-2:]
    padded = F.pad(fine, (0, w4 % 2, 0, h4 % 2))
    valid = F.pad(torch.ones_like(fine), (0, w4 % 2, 0, h4 % 2))
    # Average of the valid pixels of each 2x2 block (odd sizes: the last block is partial).
    blocks = padded.unflatten(2, (-1, 2)).unflatten(4, (-1, 2)).sum((3, 5))
    counts = valid.unflatten(2, (-1, 2)).unflatten(4, (-1, 2)).sum((3, 5))
    torch.testing.assert_close(flow, blocks / counts)
    if h4 % 2 == 0 and w4 % 2 == 0:  # exactly the bilinear downsizing by 2
        bilinear = F.interpolate(fine, scale_factor=0.5, mode="bilinear", align_corners=False)
        torch.testing.assert_close(flow, bilinear)


def test_scale_field_is_1x1_conv_on_pooled_finest_map(nets):
    net = copy.deepcopy(nets["flownet"])
    nn.init.normal_(net.scale_field.weight)
    captured = {}
    net.decoder.register_forward_hook(lambda m, i, out: captured.update(finest=out[1]))
    with torch.no_grad():
        _, scale = net(*frames(64, 96))
    finest = captured["finest"]
    assert finest.shape == (1, 194, 16, 24)  # conv2 (128) + deconv2 (64) + flow (2)
    pooled = finest.unflatten(2, (-1, 2)).unflatten(4, (-1, 2)).mean((3, 5))
    expected = torch.einsum("oc,nchw->nohw", net.scale_field.weight[:, :, 0, 0], pooled)
    torch.testing.assert_close(scale, expected + net.scale_field.bias.view(1, -1, 1, 1))


def test_input_order_is_current_then_key(nets):
    net = nets["flownet"]
    seen = {}
    handle = net.conv1.register_forward_hook(lambda m, i, o: seen.update(x=i[0]))
    key, cur = frames(32, 48)
    with torch.no_grad():
        net(key, cur)
    handle.remove()
    assert torch.equal(seen["x"], torch.cat([cur, key], dim=1))


def test_flownet_table6_and_half_table7(nets):
    for name, factor in (("flownet", 1), ("flownet_half", 2)):
        net = nets[name]
        in_channels = 6
        for layer, kernel, stride, out in TABLE_6:
            conv = getattr(net, layer).conv
            assert conv.out_channels == out // factor, (name, layer)
            assert conv.in_channels == in_channels
            assert conv.kernel_size == (kernel, kernel) and conv.stride == (stride, stride)
            in_channels = out // factor
        decoder = net.decoder
        widths = [getattr(decoder, f"deconv{lvl}").conv.out_channels for lvl in (5, 4, 3, 2)]
        assert widths == [w // factor for w in (512, 256, 128, 64)]
        assert decoder.out_channels == {1: 128 + 64 + 2, 2: 64 + 32 + 2}[factor]
        assert isinstance(net.conv1.act, nn.LeakyReLU) and net.conv1.act.negative_slope == 0.1
    # Encoder parameter count from Table 6 (k * k * C_in * C_out weights + C_out biases).
    expected, c_in = 0, 6
    for _, kernel, _, out in TABLE_6:
        expected, c_in = expected + kernel * kernel * c_in * out + out, out
    encoder = sum(p.numel() for n, p in nets["flownet"].named_parameters() if n.startswith("conv"))
    assert encoder == expected == 24_050_752
    assert not any(isinstance(m, nn.BatchNorm2d) for m in nets["flownet"].modules())


def test_inception_table8(nets):
    net = nets["flownet_inception"]
    assert net.conv1.conv.out_channels == 32 and net.conv1.conv.stride == (2, 2)
    assert net.conv1.conv.kernel_size == (7, 7)
    assert net.pool1.kernel_size == 3 and net.pool1.stride == 2
    assert net.conv3_1.conv.out_channels == 128 and net.conv3_1.conv.stride == (2, 2)
    shapes = {}
    for layer, *_ in TABLE_8:
        getattr(net, layer).register_forward_hook(
            lambda m, i, out, layer=layer: shapes.update({layer: tuple(out.shape)})
        )
    with torch.no_grad():
        net.encode(torch.zeros(1, 6, 128, 128))
    output_stride = 4  # conv1 and pool1
    for layer, stride, out, n1x1, n3x3, n3x3dbl, npool in TABLE_8:
        block = getattr(net, layer)
        assert block.out_channels == out, layer
        branches = block.branches
        assert ("branch1x1" in branches) == (n1x1 is not None)
        assert ("branch_pool" in branches) == (npool is not None) == (stride == 2)
        if n1x1 is not None:
            assert branches["branch1x1"].conv.out_channels == n1x1
        assert [b.conv.out_channels for b in branches["branch3x3"]] == list(n3x3)
        assert [b.conv.out_channels for b in branches["branch3x3dbl"]] == list(n3x3dbl)
        if npool is not None:
            assert branches["branch_pool"][1].conv.out_channels == npool
        output_stride *= stride * (2 if layer == "conv3_2" else 1)  # conv3_1 has stride 2
        assert shapes[layer] == (1, out, 128 // output_stride, 128 // output_stride), layer
    assert net.decoder.out_channels == 64 + 8 + 2


def test_flops_ratios_follow_sec4(nets):
    """Half ~1/4, Inception ~1/8 of FlowNet's FLOPs (Sec. 4); Table 2 implies 1/3.64, 1/7.49."""
    key, cur = frames(64, 96)
    flops = {}
    for name, net in nets.items():
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(key, cur)
        flops[name] = counter.get_total_flops()
    assert 3.55 < flops["flownet"] / flops["flownet_half"] < 3.75  # measured 3.64
    assert 7.1 < flops["flownet"] / flops["flownet_inception"] < 7.6  # measured 7.33


NARROW = {  # the architectures at reduced widths: gradients depend on structure only
    "flownet": lambda norm: FlowNetSimple(
        tuple(w // 16 for w in FLOWNET_WIDTHS), (16, 8, 8, 4), feat_channels=4, norm=norm
    ),
    "flownet_inception": lambda norm: FlowNetInception(feat_channels=4, norm=norm),
}


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("norm", [None, "BN"])
def test_every_parameter_gets_a_gradient(name, norm):
    net = NARROW[name](norm).train()
    key, cur = frames(64, 64, batch=2)
    flow, scale, pyramid = net(key, cur, return_pyramid=True)
    loss = flow.square().sum() + scale.sum() + sum(p.square().sum() for p in pyramid)
    loss.backward()
    for n, p in net.named_parameters():
        assert p.grad is not None, f"No gradient for {n}"
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, f"Zero gradient for {n}"


@pytest.mark.parametrize("name", NAMES)
def test_batch_norm_variant(name):
    net = build_flow_net(name, feat_channels=4, norm="BN")
    batch_norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batch_norms and net.conv1.conv.bias is None and hasattr(net.conv1, "norm")
    key, cur = frames(33, 50, batch=2)
    net.train()
    net(key, cur)
    assert not torch.equal(
        net.conv1.norm.running_mean, torch.zeros_like(net.conv1.norm.running_mean)
    )
    net.eval()
    with torch.no_grad():
        flow, scale = net(key, cur)
    assert flow.shape == (2, 2, 5, 7) and torch.isfinite(flow).all()
    assert torch.equal(scale, torch.ones_like(scale))


def test_unknown_name_and_bad_arguments():
    with pytest.raises(ValueError, match="flownet, flownet_half, flownet_inception"):
        build_flow_net("pwcnet")
    with pytest.raises(ValueError, match="norm"):
        FlowNetSimple(norm="GN")
    with pytest.raises(ValueError, match="norm"):
        FlowNetInception(norm="SyncBN")
    with pytest.raises(ValueError, match="widths"):
        FlowNetSimple(widths=(64, 128))


def test_bad_frames(nets):
    net = nets["flownet_inception"]
    with pytest.raises(ValueError, match="same shape"):
        net(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 40))
    with pytest.raises(ValueError, match=r"\(N, 3, h, w\)"):
        net(torch.zeros(1, 4, 32, 32), torch.zeros(1, 4, 32, 32))
    with pytest.raises(ValueError, match="key"):
        net(torch.zeros(3, 32, 32), torch.zeros(3, 32, 32))
