"""Whether a feature network's maps move with the image: the premise of propagation (Sec. 3).

DFF reuses the key frame's features at frame i moved along the flow, ``W(f_k, M_{i->k})``
(Eq. 1-2), in place of ``N_feat(I_i)``. That beats reusing them unchanged (feature copying)
only as far as N_feat is equivariant to the motion: the features of a moved image close to
the features of the image, moved. With a known motion, an affine map A of the image, both
sides can be computed exactly. For each motion this module gives, over the cells at least
``border`` cells inside the map,

    warp error = |W(N_feat(I), M_A) - N_feat(A I)| / |N_feat(A I)|
    copy error = |N_feat(I) - N_feat(A I)| / |N_feat(A I)|

(per cell, L2 over channels, then averaged), ``M_A`` the exact flow of A on the feature grid
(:func:`affine_feature_flow`). A warp error near 0 at a shift of whole cells means the
features move with the content; a warp error near the copy error means warping along even
the exact motion buys little over copying (e.g. when the receptive field spans the frame and
the features encode where in the frame they are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import cv2
import numpy as np
import torch

from dff_common.warp import warp

__all__ = ["MOTIONS", "affine_feature_flow", "affine_motion", "equivariance_errors"]

# motions of the kinds the synthetic videos have, at about 1 to 5 frames of their speeds:
# name -> keyword arguments of affine_motion
MOTIONS = {
    "shift 16 px": {"shift": (16, 0)},
    "shift 8 px": {"shift": (8, 0)},
    "shift 4 px": {"shift": (4, 0)},
    "rotate 2 deg": {"rotation": 2.0},
    "rotate 5 deg": {"rotation": 5.0},
    "zoom 1.05": {"zoom": 1.05},
}


def affine_motion(
    height: int, width: int, shift=(0.0, 0.0), rotation: float = 0.0, zoom: float = 1.0
) -> np.ndarray:
    """``(2, 3)`` affine map of an image (OpenCV's ``warpAffine`` convention, source -> moved):
    ``rotation`` degrees counter-clockwise and ``zoom`` about the image centre, then ``shift``
    ``(dx, dy)`` pixels."""
    centre = ((width - 1) / 2, (height - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, float(rotation), float(zoom))
    matrix[:, 2] += np.asarray(shift, dtype=np.float64)
    return matrix


def affine_feature_flow(matrix: np.ndarray, grid: tuple, stride: int) -> torch.Tensor:
    """Exact flow ``M`` (Eq. 1) from the moved image to the image, on a feature grid.

    Feature cell ``(y, x)`` covers pixels ``stride * (y, x)`` to ``stride * (y, x) + stride - 1``;
    its centre ``c`` in the moved image shows what ``A^-1 c`` shows in the image, so
    ``M = (A^-1 c - c) / stride`` cells.

    Returns:
        Tensor: ``(1, 2, h, w)`` float32, channel 0 = x, for ``grid = (h, w)``.
    """
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    ys, xs = np.mgrid[0 : grid[0], 0 : grid[1]] * stride + (stride - 1) / 2
    qx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    qy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    return torch.from_numpy(np.stack([qx - xs, qy - ys]) / stride).float()[None]


def _interior_cells(level: str, grid, strides: Mapping[str, int], border: int) -> torch.Tensor:
    """``(h, w)`` mask of the cells ``border`` or more inside the level's map."""
    if level not in strides:
        raise ValueError(f"feature level {level!r} has no stride in {dict(strides)}")
    h, w = grid
    mask = torch.zeros((h, w), dtype=torch.bool)
    mask[border : h - border, border : w - border] = True
    if not mask.any():
        raise ValueError(
            f"level {level!r}: its {h}x{w} map has no cell {border} cells inside it (use a "
            "smaller border or larger images)"
        )
    return mask


def _relative_error(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    target = target[0][:, mask]
    error = (prediction[0][:, mask] - target).norm(dim=0)
    return (error / target.norm(dim=0).clamp_min(1e-12)).mean().item()


@torch.no_grad()
def equivariance_errors(
    feature_fn: Callable[[np.ndarray], Mapping[str, torch.Tensor]],
    images: Iterable[np.ndarray],
    strides: Mapping[str, int],
    motions: Mapping[str, dict] = MOTIONS,
    border: int = 2,
) -> dict[str, dict[str, dict[str, float]]]:
    """Warp and copy errors (module docstring) of each feature level, per motion.

    The moved image is the image through :func:`affine_motion` with bilinear interpolation and
    mirrored borders (no black corners).

    Args:
        feature_fn (callable): ``(H, W, 3)`` uint8 RGB image -> ``{level: (1, C, h, w)}``.
        images (Iterable[ndarray]): ``(H, W, 3)`` uint8 RGB images.
        strides (Mapping[str, int]): the stride of each level of ``feature_fn``.
        motions (Mapping[str, dict]): name -> :func:`affine_motion` keyword arguments.
            Defaults to :data:`MOTIONS`.
        border (int): cells left out at each edge of the map. Defaults to 2.

    Returns:
        dict: ``{level: {motion: {"copy": error, "warp": error}}}``, mean over the images.

    Raises:
        ValueError: when no image is given, a level has no stride, or a map has no cell
            ``border`` cells inside it (naming the level and its size).
    """
    sums: dict = {}
    count = 0
    for image in images:
        height, width = image.shape[:2]
        features = feature_fn(image)
        masks = {
            level: _interior_cells(level, f.shape[2:], strides, border)
            for level, f in features.items()
        }
        for name, kwargs in motions.items():
            matrix = affine_motion(height, width, **kwargs)
            moved = cv2.warpAffine(
                image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )  # fmt: skip
            moved_features = feature_fn(moved)
            for level, f_image in features.items():
                mask = masks[level]
                flow = affine_feature_flow(matrix, mask.shape, strides[level]).to(f_image.device)
                target = moved_features[level]
                pair = sums.setdefault(level, {}).setdefault(name, {"copy": 0.0, "warp": 0.0})
                pair["copy"] += _relative_error(f_image, target, mask)
                pair["warp"] += _relative_error(warp(f_image, flow), target, mask)
        count += 1
    if count == 0:
        raise ValueError("equivariance_errors: no image given")
    return {
        level: {name: {k: v / count for k, v in pair.items()} for name, pair in by_motion.items()}
        for level, by_motion in sums.items()
    }
