"""equivariance_errors on feature functions whose equivariance is known exactly."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from analysis_tools.equivariance import (
    MOTIONS,
    affine_feature_flow,
    affine_motion,
    equivariance_errors,
)

SHIFT = {"shift one cell": {"shift": (16, 0)}}


def test_affine_motion_moves_pixels_as_asked():
    matrix = affine_motion(64, 96, shift=(5, -3))
    assert np.allclose(matrix, [[1, 0, 5], [0, 1, -3]])
    # a quarter turn counter-clockwise about the centre (47.5, 31.5), then 2x: in image
    # coordinates (y down) the point 10 px right of the centre goes 20 px up
    turn = affine_motion(64, 96, rotation=90, zoom=2.0)
    assert np.allclose(turn @ [57.5, 31.5, 1], [47.5, 11.5])


@pytest.mark.parametrize("kwargs", [{"shift": (16, 0)}, {"rotation": 7.0, "zoom": 1.1}])
def test_affine_feature_flow_points_each_cell_centre_at_its_source(kwargs):
    matrix = affine_motion(64, 96, **kwargs)
    flow = affine_feature_flow(matrix, (4, 6), stride=16)
    assert flow.shape == (1, 2, 4, 6) and flow.dtype == torch.float32
    homogeneous = np.vstack([matrix, [0, 0, 1]])
    for y, x in ((0, 0), (2, 3), (3, 5)):
        centre = np.array([16 * x + 7.5, 16 * y + 7.5])
        source = centre + 16 * flow[0, :, y, x].double().numpy()
        # the source, moved by A, lands on the centre (solved independently of the module)
        assert np.allclose((homogeneous @ [*source, 1])[:2], centre, atol=1e-4)
    if "shift" in kwargs:
        assert torch.equal(flow, torch.tensor([-1.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 4, 6))


def _images(count=2, size=(96, 128)):
    """Smooth random images: one random colour per 16x16 cell, interpolated between cells."""
    rng = np.random.default_rng(0)
    coarse = [rng.uniform(0, 255, (size[0] // 16, size[1] // 16, 3)) for _ in range(count)]
    return [cv2.resize(c, size[::-1]).astype(np.uint8) for c in coarse]  # bilinear


def _pooled(image):  # features of each 16x16 cell only: moves with the image by whole cells
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    return {"p": F.avg_pool2d(x, 16) + 1.0}


def test_cell_local_features_warp_exactly_at_whole_cell_shifts():
    results = equivariance_errors(_pooled, _images(), {"p": 16}, SHIFT, border=1)
    errors = results["p"]["shift one cell"]
    assert errors["warp"] == pytest.approx(0.0, abs=1e-6)
    assert errors["copy"] > 0.1  # the content moved a cell: copying is wrong


def test_position_only_features_are_best_copied():
    def position(image):  # (x, y, 1) of each cell, whatever the image shows
        h, w = image.shape[0] // 16, image.shape[1] // 16
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        return {"p": torch.stack([xs, ys, torch.ones_like(xs)]).float()[None]}

    results = equivariance_errors(position, _images(1), {"p": 16}, SHIFT, border=1)
    errors = results["p"]["shift one cell"]
    assert errors["copy"] == 0.0
    # the warp reads the cell on the left, (x - 1, y, 1), in place of (x, y, 1)
    expected = np.mean([1 / np.sqrt(x * x + y * y + 1) for y in range(1, 5) for x in range(1, 7)])
    assert errors["warp"] == pytest.approx(expected, rel=1e-5)


def test_every_default_motion_and_level_is_measured_on_the_moved_image():
    images = _images(1)

    def two_levels(image):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        return {"p4": F.avg_pool2d(x, 4) + 1.0, "p16": F.avg_pool2d(x, 16) + 1.0}

    results = equivariance_errors(two_levels, images, {"p4": 4, "p16": 16}, border=1)
    assert list(results) == ["p4", "p16"] and list(results["p4"]) == list(MOTIONS)
    # recompute one entry from its definition: the image moved with mirrored borders
    matrix = affine_motion(96, 128, rotation=5.0)
    moved = cv2.warpAffine(images[0], matrix, (128, 96), borderMode=cv2.BORDER_REFLECT)
    target, source = two_levels(moved)["p16"][0], two_levels(images[0])["p16"][0]
    inner = (slice(None), slice(1, -1), slice(1, -1))
    copy = ((source - target)[inner].norm(dim=0) / target[inner].norm(dim=0)).mean().item()
    assert results["p16"]["rotate 5 deg"]["copy"] == pytest.approx(copy, rel=1e-5)
    # at 4 px per cell the motions move the finer map's features by more cells, and it
    # follows them: its warp errors are below its copy errors for every motion
    assert all(e["warp"] < e["copy"] for e in results["p4"].values())


def test_bad_inputs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="no image given"):
        equivariance_errors(_pooled, [], {"p": 16}, SHIFT)
    with pytest.raises(ValueError, match="level 'p' has no stride"):
        equivariance_errors(_pooled, _images(1), {"q": 16}, SHIFT)
    with pytest.raises(ValueError, match="level 'p': its 2x2 map has no cell 1 cells inside"):
        equivariance_errors(_pooled, _images(1, (32, 32)), {"p": 16}, SHIFT, border=1)
