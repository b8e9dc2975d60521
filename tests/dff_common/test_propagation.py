"""Feature propagation F + S + W (Eq. 3) with toy flow networks, and flow resizing."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dff_common.propagation import FeaturePropagation, resize_flow
from dff_common.warp import warp

IMAGE_STD = (58.395, 57.12, 57.375)


class ConstantFlowNet(nn.Module):
    """Returns a constant flow (in pixels of its output grid) and a constant scale field."""

    def __init__(self, flow=(1.0, 0.0), channels=4, scale_value=1.0, grid=None):
        super().__init__()
        self.flow, self.channels, self.scale_value, self.grid = flow, channels, scale_value, grid
        self.received = []

    def forward(self, key, cur):
        self.received.append((key, cur))
        n = key.shape[0]
        h, w = self.grid or (math.ceil(key.shape[2] / 8), math.ceil(key.shape[3] / 8))
        flow = key.new_tensor(self.flow).view(1, 2, 1, 1).expand(n, 2, h, w)
        return flow, key.new_full((n, self.channels, h, w), self.scale_value)


class TinyFlowNet(nn.Module):
    """A learnable flow net: one conv on [cur, key], average-pooled to stride 8."""

    def __init__(self, channels=4):
        super().__init__()
        self.conv = nn.Conv2d(6, 2 + channels, 3, padding=1)

    def forward(self, key, cur):
        size = (math.ceil(key.shape[2] / 8), math.ceil(key.shape[3] / 8))
        out = F.adaptive_avg_pool2d(self.conv(torch.cat([cur, key], 1)), size)
        return 2.0 * out[:, :2], 1.0 + out[:, 2:]


def frames(n=2, h=64, w=96):
    """Normalised frames (RGB - mean) / IMAGE_STD and their un-normalised RGB - mean."""
    centred = torch.randint(-120, 120, (n, 3, h, w)).float()
    return centred / torch.tensor(IMAGE_STD).view(1, 3, 1, 1), centred


def test_constant_integer_flow_shifts_features_exactly():
    prop = FeaturePropagation(ConstantFlowNet(flow=(1.0, -2.0)))
    f_key = torch.randn(2, 4, 4, 6)  # feature grid of 64 x 96 frames at stride 16
    key, _ = frames()
    cur, _ = frames()
    expected = torch.zeros_like(f_key)
    expected[:, :, 2:, :5] = f_key[:, :, :2, 1:]  # p reads f_k(x + 1, y - 2)
    assert torch.equal(prop(f_key, key, cur), expected)


def test_scale_field_multiplies_and_use_scale_false_ignores_it():
    f_key = torch.randn(2, 4, 4, 6)
    key, _ = frames()
    cur, _ = frames()
    net = ConstantFlowNet(flow=(0.25, 0.5), scale_value=3.0)
    plain = warp(f_key, torch.tensor([0.25, 0.5]).view(1, 2, 1, 1).expand(2, 2, 4, 6))
    torch.testing.assert_close(FeaturePropagation(net)(f_key, key, cur), 3.0 * plain)
    no_scale = FeaturePropagation(net, use_scale=False)
    assert torch.equal(no_scale(f_key, key, cur), plain)
    flow, scale = no_scale.flow_and_scale(key, cur, (4, 6))
    assert scale is None and flow.shape == (2, 2, 4, 6)


def test_same_frame_passes_key_features_bit_exactly():
    prop = FeaturePropagation(ConstantFlowNet(flow=(0.3, 0.7), scale_value=2.0))
    f_key = torch.randn(3, 4, 4, 6)
    key, _ = frames(3)
    cur, _ = frames(3)
    same = torch.tensor([True, False, True])
    out = prop(f_key, key, cur, same_frame=same)
    assert torch.equal(out[0], f_key[0]) and torch.equal(out[2], f_key[2])
    assert torch.equal(out[1:2], prop(f_key[1:2], key[1:2], cur[1:2]))
    assert not torch.allclose(out[1], f_key[1])


def test_flow_net_input_is_half_size_in_flow_normalisation():
    """Frames (RGB - mean) / std become 2x2-averaged (RGB - mean) / 255, key first."""
    net = ConstantFlowNet()
    prop = FeaturePropagation(net, image_std=IMAGE_STD, flow_input_std=255.0)
    key, key_centred = frames()
    cur, cur_centred = frames()
    prop(torch.randn(2, 4, 4, 6), key, cur)
    got_key, got_cur = net.received[0]
    assert got_key.shape == got_cur.shape == (2, 3, 32, 48)
    torch.testing.assert_close(got_key, F.avg_pool2d(key_centred, 2) / 255.0)
    torch.testing.assert_close(got_cur, F.avg_pool2d(cur_centred, 2) / 255.0)


def test_odd_frame_size_gives_the_feature_grid():
    net = ConstantFlowNet()
    prop = FeaturePropagation(net, flow_input_scale=0.5)
    key, _ = frames(1, 50, 70)
    flow, scale = prop.flow_and_scale(key, key, (4, 5))  # ceil(50 / 16), ceil(70 / 16)
    assert net.received[0][0].shape[2:] == (25, 35)
    assert flow.shape == (1, 2, 4, 5) and scale.shape == (1, 4, 4, 5)
    assert torch.equal(flow, torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 4, 5))


def test_fields_on_another_grid_are_resized_to_the_features():
    net = ConstantFlowNet(flow=(1.0, 1.0), scale_value=2.0, grid=(2, 3))
    prop = FeaturePropagation(net)
    key, _ = frames()
    flow, scale = prop.flow_and_scale(key, key, (4, 6))
    # one pixel of the 2 x 3 grid (stride 2x the 4 x 6 grid) is 6 / 3 = 2 columns, 4 / 2 = 2 rows
    torch.testing.assert_close(flow[:, 0], torch.full((2, 4, 6), 2.0))
    torch.testing.assert_close(flow[:, 1], torch.full((2, 4, 6), 2.0))
    torch.testing.assert_close(scale, torch.full((2, 4, 4, 6), 2.0))
    f_key = torch.randn(2, 4, 4, 6)
    assert torch.equal(prop(f_key, key, key), warp(f_key, flow, scale))


def test_resize_flow_keeps_the_same_image_motion():
    """Grids of one image at different strides: pixel j of an axis of n covers [j, j + 1) / n.

    A constant motion of D image pixels is D / s pixels of a stride-s grid, exactly; an affine
    motion u(x) (image fractions, at the pixel centres (j + 0.5) / n) is reproduced exactly
    wherever bilinear interpolation stays inside the old grid (downsizing by 2, the interior
    of an upsizing).
    """
    image_motion = torch.tensor([12.0, -8.0]).view(1, 2, 1, 1)  # image pixels
    for old_stride, new_stride in ((16, 4), (16, 8), (4, 16), (8, 8)):
        old = (image_motion / old_stride).expand(1, 2, 64 // old_stride, 96 // old_stride)
        expected = (image_motion / new_stride).expand(1, 2, 64 // new_stride, 96 // new_stride)
        torch.testing.assert_close(resize_flow(old, expected.shape[2:]), expected)

    def affine_flow(h, w):
        ys, xs = torch.meshgrid(
            (torch.arange(h, dtype=torch.float64) + 0.5) / h,
            (torch.arange(w, dtype=torch.float64) + 0.5) / w,
            indexing="ij",
        )
        motion = torch.stack([0.1 + 0.2 * xs - 0.1 * ys, -0.05 + 0.3 * ys])  # image fractions
        return (motion * torch.tensor([float(w), float(h)]).view(2, 1, 1)).unsqueeze(0)

    torch.testing.assert_close(resize_flow(affine_flow(8, 12), (4, 6)), affine_flow(4, 6))
    upsized = resize_flow(affine_flow(4, 6), (16, 24))  # x4: pixels 2..13 / 2..21 are inside
    torch.testing.assert_close(upsized[..., 2:14, 2:22], affine_flow(16, 24)[..., 2:14, 2:22])
    flow = affine_flow(4, 6)
    assert resize_flow(flow, (4, 6)) is flow
    with pytest.raises(ValueError, match="flow must be"):
        resize_flow(torch.zeros(1, 3, 4, 6), (2, 3))


def test_gradients_reach_the_flow_net_and_key_features():
    prop = FeaturePropagation(TinyFlowNet())
    f_key = torch.randn(2, 4, 4, 6, requires_grad=True)
    key, _ = frames()
    cur, _ = frames()
    prop(f_key, key, cur, same_frame=torch.tensor([False, True])).square().sum().backward()
    for name, param in prop.named_parameters():
        assert param.grad is not None, f"No gradient for {name}"
        assert param.grad.abs().sum() > 0, f"Zero gradient for {name}"
    assert f_key.grad is not None and f_key.grad.abs().sum() > 0
    assert torch.equal(f_key.grad[1], 2 * f_key[1].detach())  # d(f^2)/df through same_frame


def test_normalisation_factor_follows_the_module_dtype():
    prop = FeaturePropagation(ConstantFlowNet(), image_std=IMAGE_STD).double()
    key, key_centred = frames(1)
    flow, _ = prop.flow_and_scale(key.double(), key.double(), (4, 6))
    assert flow.dtype == torch.float64
    assert "input_factor" not in prop.state_dict()
    assert "flow_input_scale=0.5" in repr(prop)


@pytest.mark.parametrize(
    "key_shape, cur_shape, f_key_shape, message",
    [
        ((2, 3, 64, 96), (2, 3, 64, 80), (2, 4, 4, 6), "frames of different sizes"),
        ((2, 1, 64, 96), (2, 3, 64, 96), (2, 4, 4, 6), "key_images must be"),
        ((2, 3, 64, 96), (2, 4, 64, 96), (2, 4, 4, 6), "cur_images must be"),
        ((1, 3, 64, 96), (2, 3, 64, 96), (2, 4, 4, 6), "batch mismatch"),
        ((2, 3, 64, 96), (2, 3, 64, 96), (3, 4, 4, 6), "f_key must be"),
    ],
)
def test_bad_inputs_raise(key_shape, cur_shape, f_key_shape, message):
    prop = FeaturePropagation(ConstantFlowNet())
    with pytest.raises(ValueError, match=message):
        prop(torch.zeros(f_key_shape), torch.zeros(key_shape), torch.zeros(cur_shape))


def test_bad_same_frame_and_arguments_raise():
    prop = FeaturePropagation(ConstantFlowNet())
    key, _ = frames()
    with pytest.raises(ValueError, match="same_frame must be"):
        prop(torch.zeros(2, 4, 4, 6), key, key, same_frame=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="flow_input_scale"):
        FeaturePropagation(ConstantFlowNet(), flow_input_scale=0)
    with pytest.raises(ValueError, match="image_std"):
        FeaturePropagation(ConstantFlowNet(), image_std=(1.0, 1.0))


def test_levels_are_warped_each_at_its_own_stride():
    """An image motion of (-16, 32) pixels, given at stride 16 (the flow grid of 64 x 96 frames),
    is (-4, 8) pixels of a stride-4 level and (-1, 2) of a stride-16 level: each level is shifted
    exactly, with its own slice of the scale field; a None level is not computed."""
    key, _ = frames()
    too_few = FeaturePropagation(ConstantFlowNet(channels=8), level_channels=(3, 5, 2))
    levels = (torch.randn(2, 3, 16, 24), torch.randn(2, 5, 4, 6), None)
    with pytest.raises(ValueError, match="scale field has 8 channels"):
        too_few(levels, key, key)
    prop = FeaturePropagation(
        ConstantFlowNet(flow=(-1.0, 2.0), channels=10, scale_value=3.0), level_channels=(3, 5, 2)
    )
    stride4, stride16, absent = prop(levels, key, key)
    assert absent is None
    expected4 = torch.zeros_like(levels[0])
    expected4[:, :, :-8, 4:] = levels[0][:, :, 8:, :-4]  # p reads f_k(x - 4, y + 8)
    expected16 = torch.zeros_like(levels[1])
    expected16[:, :, :-2, 1:] = levels[1][:, :, 2:, :-1]
    assert torch.equal(stride4, 3.0 * expected4)
    assert torch.equal(stride16, 3.0 * expected16)
    same = prop(levels, key, key, same_frame=torch.tensor([True, False]))
    assert torch.equal(same[0][0], levels[0][0]) and torch.equal(same[1][1], stride16[1])
    with pytest.raises(ValueError, match="got 2 feature levels"):
        prop(levels[:2], key, key)
