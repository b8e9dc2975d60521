"""The label-propagation measure of a synthetic set (copying vs the exact motion, no model)."""

import numpy as np
import pytest

from analysis_tools.label_propagation import label_propagation, propagate_labels


def test_copy_on_the_pixel_grid_is_the_identity():
    labels = np.random.default_rng(0).integers(0, 19, (12, 20)).astype(np.uint8)
    np.testing.assert_array_equal(propagate_labels(labels, None, stride=1), labels)


def test_exact_motion_by_whole_cells_moves_the_labels():
    """Content moved right by one cell (8 pixels): M_{i->k} = -8 px reads the key frame one
    cell to the left, which reproduces the moved labels; copying keeps the old boundary."""
    key = np.full((16, 64), 2, np.uint8)
    key[:, 24:] = 5
    current = np.full((16, 64), 2, np.uint8)
    current[:, 32:] = 5
    flow = np.zeros((16, 64, 2), np.float32)
    flow[..., 0] = -8.0
    warped = propagate_labels(key, flow, stride=8)
    inside = slice(12, None)  # the first cell reads outside the key frame (zeros)
    assert (warped[:, inside] == current[:, inside]).all()
    copied = propagate_labels(key, None, stride=8)
    assert (copied[:, 28:32] == 5).all() and (current[:, 28:32] == 2).all()


def test_static_scene_gains_nothing_and_moving_scene_gains():
    static = label_propagation(
        2, interval=3, stride=8, height=32, width=64, camera_speed=0.0, camera_zoom=0.0,
        object_speed=0.0,
    )  # fmt: skip
    assert static["copy"] == pytest.approx(static["exact motion"])
    assert static["copy"][0] == pytest.approx(static["copy"][2])
    moving = label_propagation(
        4, interval=5, stride=4, height=64, width=128, camera_speed=1.0,
        camera_zoom=(-0.06, -0.04), object_speed=3.0, object_size=(0.35, 0.7),
    )  # fmt: skip
    assert moving["copy"][0] == moving["exact motion"][0]  # d = 0: nothing to propagate
    assert moving["copy"][4] < moving["copy"][0] - 5
    assert moving["exact motion"][4] > moving["copy"][4] + 3


def test_interval_outside_the_snippet_is_refused():
    with pytest.raises(ValueError, match="interval"):
        label_propagation(1, interval=21)


def test_unknown_motion_key_is_named(capsys):
    import label_propagation as front_end

    with pytest.raises(SystemExit):
        front_end.main(["--motion", '{"camera_sped": 3}', "--snippets", "1"])
    assert "unknown keys ['camera_sped']" in capsys.readouterr().err
