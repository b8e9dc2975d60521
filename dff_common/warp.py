"""Feature warping W of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 3, Eq. 1-4).

    f_i^c(p) = S_{i->k}^c(p) * sum_q G(q, p + dp) f_k^c(q),   dp = M_{i->k}(p)       (1), (3)
    G(q, p + dp) = g(q_x, p_x + dp_x) * g(q_y, p_y + dp_y),   g(a, b) = max(0, 1 - |a - b|)  (2)

``q`` runs over the locations of the key-frame map only, so samples outside it read zeros.

The sum has at most four non-zero terms, gathered directly at the pixel coordinates
``p + dp``. ``F.grid_sample`` is not used: it takes coordinates normalised to [-1, 1] and
undoes the normalisation in floating point, which moves integer positions by an ulp whenever
``W - 1`` is not a power of two. The sampling weights would then be ``1 - eps`` and ``eps``,
so a zero flow would not give the identity exactly. Working in pixels, a zero or integer flow
gives weights of exactly 1 and 0, hence an exact identity or shift. On CPU the forward pass
costs about as much as ``grid_sample`` and forward + backward less. Autograd differentiates
the gathers and the weights: w.r.t. f_k and S by the chain rule, w.r.t. M by Eq. (4)
(``d g(a, b) / d b = sign(a - b)`` inside the kernel's support; at the kink of an integer
position the one-sided derivative towards the next pixel, as ``grid_sample`` does).
"""

import torch
from torch import nn

__all__ = ["FeatureWarp", "warp"]


def _check_inputs(features: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None):
    if features.dim() != 4:
        raise ValueError(f"features must be (N, C, H, W), got shape {tuple(features.shape)}")
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"flow must be (N, 2, H, W), got shape {tuple(flow.shape)}")
    n, c, h, w = features.shape
    if flow.shape[0] != n or flow.shape[2:] != features.shape[2:]:
        raise ValueError(
            f"flow {tuple(flow.shape)} does not match features {tuple(features.shape)} in "
            "batch or spatial size (resize the flow to the feature grid first)"
        )
    if scale is not None:
        if scale.dim() != 4 or scale.shape[0] != n or scale.shape[2:] != features.shape[2:]:
            raise ValueError(
                f"scale must be (N, C, H, W) or (N, 1, H, W) matching features "
                f"{tuple(features.shape)}, got shape {tuple(scale.shape)}"
            )
        if scale.shape[1] not in (1, c):
            raise ValueError(
                f"scale has {scale.shape[1]} channels, features have {c} (expected {c} or 1)"
            )
    # a value check cannot be part of an exported graph (dff_common.export); eager calls check
    exporting = torch.compiler.is_exporting() or torch.jit.is_tracing()
    if not exporting and not torch.isfinite(flow).all():
        raise ValueError("flow contains NaN or infinite values")


def _axis_weights(pos: torch.Tensor, size: int):
    """1-D kernel g of Eq. (2) at the two integer neighbours of ``pos`` on an axis of ``size``.

    Returns the clamped indices ``(i0, i1)`` of ``floor(pos)`` and ``floor(pos) + 1`` and their
    weights ``(w0, w1)``, zeroed for neighbours outside ``[0, size - 1]`` (zeros outside the map).
    """
    floor = pos.floor()
    w1 = pos - floor  # g(floor + 1, pos); differentiable w.r.t. pos (Eq. 4)
    w0 = 1 - w1  # g(floor, pos)
    i0 = floor.long()
    i1 = i0 + 1
    w0 = w0 * ((i0 >= 0) & (i0 < size))
    w1 = w1 * ((i1 >= 0) & (i1 < size))
    return i0.clamp(0, size - 1), i1.clamp(0, size - 1), w0, w1


def warp(
    features: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None = None
) -> torch.Tensor:
    """Propagate key-frame features along a flow field: ``f_i = W(f_k, M_{i->k}, S_{i->k})``.

    Bilinear sampling (Eq. 1-2) with zeros outside the key-frame map, then the element-wise
    scale field (Eq. 3). A zero flow is the identity and an integer flow an exact shift.
    Differentiable w.r.t. ``features``, ``flow`` (Eq. 4) and ``scale``. Sampling positions and
    weights are computed in float32 (float64 for a float64 flow) whatever the autocast state;
    the result has the dtype of ``features``.

    Args:
        features (Tensor): ``(N, C, H, W)`` key-frame feature maps f_k.
        flow (Tensor): ``(N, 2, H, W)`` flow field M_{i->k} in feature-map pixels, channel 0 = x
            (columns), channel 1 = y (rows): location p of the output reads ``f_k(p + M(p))``.
        scale (Tensor, optional): ``(N, C, H, W)`` or ``(N, 1, H, W)`` scale field S_{i->k}.
            Defaults to None (no scaling, i.e. S = 1).

    Returns:
        Tensor: ``(N, C, H, W)`` propagated features f_i, dtype of ``features``.

    Raises:
        ValueError: on wrong shapes, mismatched sizes or a non-finite flow.
    """
    _check_inputs(features, flow, scale)
    n, c, h, w = features.shape
    pos_dtype = torch.promote_types(flow.dtype, torch.float32)
    flow = flow.to(pos_dtype)
    cols = torch.arange(w, device=flow.device, dtype=pos_dtype)
    rows = torch.arange(h, device=flow.device, dtype=pos_dtype).unsqueeze(1)
    x0, x1, wx0, wx1 = _axis_weights(flow[:, 0] + cols, w)  # each (N, H, W)
    y0, y1, wy0, wy1 = _axis_weights(flow[:, 1] + rows, h)

    source = features.reshape(n, c, h * w)
    # accumulate in place (the four (N, C, H, W) temporaries dominate on a CPU); under autograd
    # only into the sum, whose value no backward needs
    in_place = not torch.is_grad_enabled() and features.dtype == pos_dtype
    warped = None
    for y, wy in ((y0, wy0), (y1, wy1)):
        for x, wx in ((x0, wx0), (x1, wx1)):
            index = (y * w + x).view(n, 1, h * w).expand(n, c, h * w)
            weight = (wy * wx).view(n, 1, h * w)
            term = source.gather(2, index)
            if warped is None:
                warped = term.mul_(weight) if in_place else term * weight
            else:
                warped.addcmul_(term, weight)
    warped = warped.view(n, c, h, w)
    if scale is not None:
        warped = warped.mul_(scale) if in_place else warped * scale
    return warped.to(features.dtype)


class FeatureWarp(nn.Module):
    """Module form of :func:`warp` (parameter-free feature propagation W, Eq. 3)."""

    def forward(
        self, features: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """See :func:`warp`: ``(N, C, H, W), (N, 2, H, W), (N, C|1, H, W) -> (N, C, H, W)``."""
        return warp(features, flow, scale)

    def extra_repr(self) -> str:
        return "bilinear, zeros outside, flow in feature pixels from current to key frame"
