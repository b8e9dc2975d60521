"""Feature warping W (Eq. 1-4) against an independent float64 implementation of the equations."""

import numpy as np
import pytest
import torch

from dff_common.warp import FeatureWarp, warp


def g(a, b):
    """1-D bilinear kernel of Eq. (2)."""
    return np.maximum(0.0, 1.0 - np.abs(a - b))


def dg_db(a, b):
    """d g(a, b) / d b away from the kink at a == b."""
    return np.where(np.abs(a - b) < 1.0, np.sign(a - b), 0.0)


def kernel_matrices(flow):
    """G(q, p + dp) of Eq. (2) and its derivatives w.r.t. dp_x, dp_y, for every p (rows) and q.

    Args:
        flow (ndarray): (2, H, W) float64 flow of one sample.

    Returns:
        tuple of ndarray: three (H*W, H*W) matrices indexed [p, q].
    """
    _, h, w = flow.shape
    qy, qx = (c.reshape(1, -1) for c in np.mgrid[0:h, 0:w])
    py, px = (c.reshape(-1, 1) for c in np.mgrid[0:h, 0:w])
    tx = px + flow[0].reshape(-1, 1)
    ty = py + flow[1].reshape(-1, 1)
    kernel = g(qx, tx) * g(qy, ty)
    return kernel, dg_db(qx, tx) * g(qy, ty), g(qx, tx) * dg_db(qy, ty)


def reference_warp(features, flow, scale=None):
    """Eq. (1)-(3): a sum over all locations q of the key map, in float64 numpy."""
    f = features.detach().double().numpy()
    m = flow.detach().double().numpy()
    n, c, h, w = f.shape
    out = np.stack([f[i].reshape(c, h * w) @ kernel_matrices(m[i])[0].T for i in range(n)])
    out = out.reshape(n, c, h, w)
    if scale is not None:
        out = out * scale.detach().double().numpy()
    return torch.from_numpy(out)


def reference_flow_gradient(features, flow, scale, upstream):
    """Eq. (4): dL/dM(p) for L = sum(upstream * f_i), in float64 numpy. Returns (N, 2, H, W)."""
    f, m, s, u = (t.detach().double().numpy() for t in (features, flow, scale, upstream))
    n, c, h, w = f.shape
    grad = np.zeros((n, 2, h * w))
    for i in range(n):
        _, d_x, d_y = kernel_matrices(m[i])
        for axis, d_kernel in enumerate((d_x, d_y)):
            d_features = f[i].reshape(c, h * w) @ d_kernel.T  # sum_q dG/d(dp) f_k(q), (C, HW)
            grad[i, axis] = ((u[i] * s[i]).reshape(c, h * w) * d_features).sum(0)
    return torch.from_numpy(grad.reshape(n, 2, h, w))


def fractional_flow(n, h, w, low=-3, high=3, dtype=torch.float64):
    """Random flow whose targets p + dp stay >= 0.1 px away from integer positions (kinks)."""
    whole = torch.randint(low, high, (n, 2, h, w)).to(dtype)
    return whole + 0.1 + 0.8 * torch.rand(n, 2, h, w, dtype=dtype)


@pytest.mark.parametrize("scale_channels", [None, 1, 4])
def test_matches_reference_for_random_fractional_flow(scale_channels):
    features = torch.randn(2, 4, 5, 7)
    flow = (torch.rand(2, 2, 5, 7) - 0.5) * 8  # up to 4 px: many targets outside the map
    scale = None if scale_channels is None else torch.rand(2, scale_channels, 5, 7) + 0.5
    out = warp(features, flow, scale)
    assert out.shape == features.shape and out.dtype == torch.float32
    torch.testing.assert_close(
        out.double(), reference_warp(features, flow, scale), rtol=1e-5, atol=1e-5
    )
    out64 = warp(features.double(), flow.double(), None if scale is None else scale.double())
    torch.testing.assert_close(out64, reference_warp(features, flow, scale), rtol=0, atol=1e-12)


def test_flow_pointing_outside_reads_zeros():
    features = torch.randn(1, 3, 4, 5)
    far = torch.zeros(1, 2, 4, 5)
    far[:, 0] = 5.0  # every target lies at x >= 5 > W - 1
    assert torch.equal(warp(features, far), torch.zeros_like(features))
    half_out = torch.zeros(1, 2, 4, 5)
    half_out[:, 1] = -0.5  # row 0 reads half of row 0 and half of the zero row -1
    out = warp(features, half_out)
    torch.testing.assert_close(out[:, :, 0], 0.5 * features[:, :, 0])
    torch.testing.assert_close(out[:, :, 1:], 0.5 * (features[:, :, :-1] + features[:, :, 1:]))


@pytest.mark.parametrize("size", [(5, 7), (38, 63), (17, 33), (1, 9), (6, 1), (1, 1)])
def test_zero_flow_is_exact_identity(size):
    """Exact at every size, including 38 x 63 where grid_sample's [-1, 1] grid is off by an ulp."""
    features = torch.randn(2, 3, *size)
    scale = torch.rand(2, 3, *size)
    zero = torch.zeros(2, 2, *size)
    assert torch.equal(warp(features, zero), features)
    assert torch.equal(warp(features, zero, scale), features * scale)


def test_integer_flow_is_exact_shift():
    features = torch.randn(2, 3, 6, 8)
    flow = torch.zeros(2, 2, 6, 8)
    flow[0, 0], flow[0, 1] = 2.0, -1.0  # sample 0 reads f(x + 2, y - 1)
    flow[1, 0], flow[1, 1] = -3.0, 4.0
    expected = torch.zeros_like(features)
    expected[0, :, 1:, :6] = features[0, :, :5, 2:]
    expected[1, :, :2, 3:] = features[1, :, 4:, :5]
    assert torch.equal(warp(features, flow), expected)


@pytest.mark.parametrize("size", [(1, 6), (5, 1), (1, 1)])
def test_single_row_or_column(size):
    """Eq. (1)-(2) hold on degenerate maps: off-axis samples blend with the zeros outside."""
    features = torch.randn(2, 3, *size, dtype=torch.float64)
    flow = (torch.rand(2, 2, *size, dtype=torch.float64) - 0.5) * 3
    torch.testing.assert_close(warp(features, flow), reference_warp(features, flow))
    # a quarter-pixel shift along each length-1 axis keeps 0.75 of the value per such axis
    shift = torch.zeros(2, 2, *size, dtype=torch.float64)
    shift[:, 0] = 0.25 if size[1] == 1 else 0.0
    shift[:, 1] = 0.25 if size[0] == 1 else 0.0
    expected = features * 0.75 ** ((size[0] == 1) + (size[1] == 1))
    torch.testing.assert_close(warp(features, shift), expected, rtol=0, atol=1e-15)


def test_gradcheck_features_flow_scale():
    features = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    flow = fractional_flow(2, 4, 5).requires_grad_()
    scale = (torch.rand(2, 3, 4, 5, dtype=torch.float64) + 0.5).requires_grad_()
    scale_1 = (torch.rand(2, 1, 4, 5, dtype=torch.float64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(warp, (features, flow, scale))
    assert torch.autograd.gradcheck(warp, (features, flow, scale_1))
    assert torch.autograd.gradcheck(warp, (features, flow))


def test_inference_path_equals_the_autograd_path():
    """Without autograd the sum is accumulated in place: the same operations, the same bits."""
    generator = torch.Generator().manual_seed(3)
    features = torch.randn(2, 6, 7, 9, generator=generator)
    flow = (torch.rand(2, 2, 7, 9, generator=generator) - 0.5) * 6  # some samples leave the map
    for scale in (None, torch.rand(2, 6, 7, 9, generator=generator), torch.rand(2, 1, 7, 9)):
        expected = warp(features.requires_grad_(), flow, scale).detach()
        with torch.no_grad():
            assert torch.equal(warp(features, flow, scale), expected)
        with torch.inference_mode():
            assert torch.equal(warp(features, flow, scale), expected)


def test_flow_gradient_matches_eq4():
    features = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    flow = fractional_flow(2, 5, 6).requires_grad_()
    scale = torch.rand(2, 3, 5, 6, dtype=torch.float64) + 0.5
    upstream = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    (warp(features, flow, scale) * upstream).sum().backward()
    expected = reference_flow_gradient(features, flow, scale, upstream)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(flow.grad, expected, rtol=1e-10, atol=1e-10)


def test_gradients_reach_every_input_in_float32():
    features = torch.randn(1, 4, 5, 6, requires_grad=True)
    flow = fractional_flow(1, 5, 6, dtype=torch.float32).requires_grad_()
    scale = torch.rand(1, 4, 5, 6, requires_grad=True)
    warp(features, flow, scale).square().sum().backward()
    for name, tensor in (("features", features), ("flow", flow), ("scale", scale)):
        assert tensor.grad is not None, f"No gradient for {name}"
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_autocast_bf16_keeps_sampling_positions_fp32():
    """Targets near x = 150.3 need fp32: bf16 would round them to whole pixels."""
    features = torch.randn(1, 2, 2, 200).bfloat16()
    flow = torch.zeros(1, 2, 2, 200)
    flow[:, 0] = 0.3
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = warp(features, flow)
        out_bf16_flow = warp(features, flow.bfloat16())  # a flow net's output under autocast
    assert out.dtype == torch.bfloat16
    expected = reference_warp(features.double(), flow)
    torch.testing.assert_close(out.double(), expected, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(
        out_bf16_flow.double(), reference_warp(features, flow.bfloat16()), rtol=1e-2, atol=1e-2
    )
    assert warp(features.half(), flow).dtype == torch.float16


def test_batch_is_per_sample_and_any_size():
    features = torch.randn(3, 2, 4, 5)
    flow = (torch.rand(3, 2, 4, 5) - 0.5) * 4
    batched = warp(features, flow)
    for i in range(3):
        torch.testing.assert_close(batched[i : i + 1], warp(features[i : i + 1], flow[i : i + 1]))
    assert warp(features[:0], flow[:0]).shape == (0, 2, 4, 5)
    channels_last = features.to(memory_format=torch.channels_last)
    torch.testing.assert_close(warp(channels_last, flow), batched)


@pytest.mark.parametrize(
    "features_shape, flow_shape, scale_shape, message",
    [
        ((2, 3, 4), (2, 2, 4, 5), None, "features must be"),
        ((2, 3, 4, 5), (2, 3, 4, 5), None, "flow must be"),
        ((2, 3, 4, 5), (2, 2, 4), None, "flow must be"),
        ((2, 3, 4, 5), (1, 2, 4, 5), None, "batch or spatial"),
        ((2, 3, 4, 5), (2, 2, 5, 4), None, "batch or spatial"),
        ((2, 3, 4, 5), (2, 2, 4, 5), (2, 3, 4, 6), "scale must be"),
        ((2, 3, 4, 5), (2, 2, 4, 5), (1, 3, 4, 5), "scale must be"),
        ((2, 3, 4, 5), (2, 2, 4, 5), (2, 2, 4, 5), "scale has 2 channels"),
    ],
)
def test_bad_shapes_raise(features_shape, flow_shape, scale_shape, message):
    scale = None if scale_shape is None else torch.ones(scale_shape)
    with pytest.raises(ValueError, match=message):
        warp(torch.zeros(features_shape), torch.zeros(flow_shape), scale)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_flow_raises(bad):
    flow = torch.zeros(1, 2, 3, 4)
    flow[0, 1, 2, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        warp(torch.zeros(1, 2, 3, 4), flow)


def test_module_matches_function():
    module = FeatureWarp()
    features, flow, scale = torch.randn(2, 3, 4, 5), torch.randn(2, 2, 4, 5), torch.rand(2, 1, 4, 5)
    assert torch.equal(module(features, flow, scale), warp(features, flow, scale))
    assert list(module.parameters()) == []
    assert "zeros outside" in repr(module)
