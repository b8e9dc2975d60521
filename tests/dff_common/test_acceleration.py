"""Engine options (compile, channels_last, autocast) against eager float32 Algorithm 1.

Tolerances, relative to the largest eager output:
- channels_last: 1e-5. Not bit-exact: oneDNN's NHWC convolution kernels sum in another order
  than the NCHW ones (measured differences ~5e-7 on outputs of magnitude 1, fp32 rounding).
- compile: 1e-5, for the same reason (inductor's fused kernels and pre-packed weights).
- autocast: 3e-2. The networks compute in bfloat16 (8-bit mantissa, 2^-8 = 0.4% per rounding)
  through a few layers; the warp stays float32 (checked separately, exactly).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dff_common.propagation as propagation_module
from dff_common.acceleration import AcceleratedNetwork, accelerate
from dff_common.engine import DFFInferenceEngine
from dff_common.flow_nets import build_flow_net
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import FixedIntervalScheduler

H, W = 64, 96  # frames; features 4 x 6 at stride 16


class FeatureNet(nn.Module):
    """Two convs to stride 16, 8 channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=4, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=4, padding=1)

    def forward(self, images):
        return self.conv2(F.relu(self.conv1(images)))


class TaskNet(nn.Module):
    """1x1 conv to 5 scores; ignores the images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 5, 1)

    def forward(self, features, images):
        return self.conv(features)


def parts(seed=0):
    torch.manual_seed(seed)
    flow_net = build_flow_net("flownet_half", feat_channels=8)
    with torch.no_grad():  # a non-trivial scale field (its init is exactly 1)
        flow_net.scale_field.weight.normal_(std=0.05)
    return FeatureNet().eval(), TaskNet().eval(), FeaturePropagation(flow_net).eval()


def clip(length=7, seed=1):
    return torch.randn(length, 3, H, W, generator=torch.Generator().manual_seed(seed))


def run(**options):
    engine = DFFInferenceEngine(*parts(), FixedIntervalScheduler(3), **options)
    outputs = list(engine.run_video(clip()))
    return torch.stack([o.result for o in outputs]), [o.is_key for o in outputs]


def assert_close_relative(actual, expected, tolerance):
    scale = expected.abs().max().item()
    assert actual.dtype == expected.dtype == torch.float32
    assert (actual - expected).abs().max().item() <= tolerance * scale


@pytest.fixture(scope="module")
def eager():
    return run()


def test_options_are_off_by_default():
    feature_net, task_net, propagation = parts()
    engine = DFFInferenceEngine(feature_net, task_net, propagation, FixedIntervalScheduler(3))
    assert engine.feature_net is feature_net and engine.task_net is task_net
    assert engine.propagation is propagation
    assert accelerate(feature_net, task_net, propagation) == (feature_net, task_net, propagation)


def test_channels_last_matches_eager(eager):
    scores, keys = run(channels_last=True)
    assert keys == eager[1] == [True, False, False, True, False, False, True]
    assert_close_relative(scores, eager[0], 1e-5)


def test_channels_last_converts_the_weights_and_returns_nchw():
    feature_net = FeatureNet().eval()
    fast = AcceleratedNetwork(feature_net, channels_last=True)
    assert feature_net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    out = fast(clip(2))
    assert out.is_contiguous() and out.shape == (2, 8, 4, 6)
    assert "channels_last=True" in repr(fast)


def test_autocast_matches_eager_within_bf16(eager):
    scores, keys = run(autocast=True)
    assert keys == eager[1]
    assert_close_relative(scores, eager[0], 3e-2)
    assert not torch.equal(scores, eager[0])  # the networks did run in bfloat16


def test_warp_stays_fp32_under_autocast(monkeypatch):
    """The engine's warp gets float32 features, flow and scale and returns float32."""
    seen = []

    def spy(features, flow, scale=None):
        seen.append((features.dtype, flow.dtype, scale.dtype))
        out = warp(features, flow, scale)
        seen.append(out.dtype)
        return out

    warp = propagation_module.warp
    monkeypatch.setattr(propagation_module, "warp", spy)
    scores, _ = run(autocast=True)
    assert len(seen) == 8  # 4 non-key frames, inputs and output
    assert set(seen) == {(torch.float32,) * 3, torch.float32}


def test_flow_and_scale_are_fp32_under_global_autocast():
    """A flow net under the caller's autocast returns bfloat16: the fields still reach the
    resize and the warp in float32, within bfloat16 error of the float32 fields."""
    _, _, propagation = parts()
    key, cur = clip(2).split(1)
    with torch.no_grad():
        flow, scale = propagation.flow_and_scale(key, cur, (4, 6))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            raw_flow, _ = propagation.flow_net(key[:, :, ::2, ::2], cur[:, :, ::2, ::2])
            flow_bf16, scale_bf16 = propagation.flow_and_scale(key, cur, (4, 6))
    assert raw_flow.dtype == torch.bfloat16
    assert flow_bf16.dtype == scale_bf16.dtype == torch.float32
    assert_close_relative(flow_bf16, flow, 3e-2)
    assert_close_relative(scale_bf16, scale, 3e-2)


def test_compile_matches_eager(eager):
    scores, keys = run(compile=True)
    assert keys == eager[1]
    assert_close_relative(scores, eager[0], 1e-5)


def test_autocast_outputs_are_float32_and_tuples_are_kept():
    weight = torch.ones(2, 3, 1, 1)
    net = AcceleratedNetwork(lambda x: (F.conv2d(x, weight), x.long()), autocast=True)
    images = torch.randn(1, 3, 2, 2)
    conv, integer = net(images)
    assert conv.dtype == torch.float32 and integer.dtype == torch.int64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = F.conv2d(images, weight)  # what the network computed
    assert expected.dtype == torch.bfloat16 and torch.equal(conv, expected.float())
