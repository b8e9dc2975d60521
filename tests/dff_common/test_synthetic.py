"""Synthetic videos: exact flow (warping reproduces frames), boxes, maps, determinism."""

import cv2
import numpy as np
import pytest

from dff_common.synthetic.scenes import make_background, render_video

MOTION = dict(
    camera_speed=3.0,
    camera_rotation=1.0,
    camera_zoom=0.02,
    object_speed=3.0,
    object_rotation=4.0,
    object_scale=0.03,
)


@pytest.fixture(scope="module")
def video():
    rng = np.random.default_rng(0)
    return render_video(8, 48, 80, rng, (1, 2, 3), background_classes=(7, 8, 9), **MOTION)


def test_shapes_and_dtypes(video):
    assert video.frames.shape == (8, 48, 80, 3) and video.frames.dtype == np.uint8
    assert video.instance_maps.shape == (8, 48, 80) and video.instance_maps.dtype == np.int32
    assert video.semantic_maps.shape == (8, 48, 80)
    assert video.boxes.shape == (8, 3, 4) and video.visible.shape == (8, 3)
    assert video.object_classes.tolist() == [1, 2, 3]
    assert video.backward_flow(3, 0).shape == (48, 80, 2)
    assert video.backward_flow(3, 0).dtype == np.float32


@pytest.mark.parametrize("t, s", [(4, 0), (0, 3), (7, 2)])
def test_warping_key_frame_with_flow_reproduces_current_frame(video, t, s):
    """f_t(p) = f_s(p + M_{t->s}(p)) on pixels seen in both frames (Eq. 1 with exact flow)."""
    flow = video.backward_flow(t, s)
    ys, xs = np.mgrid[0:48, 0:80].astype(np.float32)
    warped = cv2.remap(
        video.frames[s],
        xs + flow[..., 0],
        ys + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    both = video.co_visible(t, s)
    assert both.mean() > 0.5
    err = np.abs(warped.astype(int) - video.frames[t].astype(int)).max(-1)[both]
    no_motion = np.abs(video.frames[s].astype(int) - video.frames[t].astype(int)).max(-1)[both]
    assert (err <= 16).mean() > 0.95  # misses: aliased object edges only
    assert err.mean() < 3.0 and 5 * err.mean() < no_motion.mean()


def test_flow_of_pure_translation_is_the_camera_displacement():
    rng = np.random.default_rng(3)
    video = render_video(4, 20, 30, rng, (), camera_speed=5.0)
    expected = video.camera[1, :2, 2] - video.camera[3, :2, 2]  # o_t - o_s
    assert np.linalg.norm(expected) > 1.0
    flow = video.backward_flow(1, 3)
    np.testing.assert_allclose(flow.reshape(-1, 2), np.tile(expected, (600, 1)), atol=1e-5)
    np.testing.assert_array_equal(video.backward_flow(2, 2), 0.0)
    static = render_video(3, 20, 30, np.random.default_rng(4), (), camera_speed=0.0)
    np.testing.assert_array_equal(static.frames[0], static.frames[2])


def test_object_pixels_follow_the_object():
    rng = np.random.default_rng(5)
    video = render_video(3, 40, 60, rng, (4,), camera_speed=2.0, object_speed=4.0)
    on_object = video.instance_maps[0] == 1
    assert on_object.sum() > 20
    obj_shift = video.object_poses[2, 0, :2, 2] - video.object_poses[0, 0, :2, 2]
    cam_shift = video.camera[2, :2, 2] - video.camera[0, :2, 2]
    flow = video.backward_flow(0, 2)
    np.testing.assert_allclose(
        flow[on_object], np.tile(obj_shift - cam_shift, (on_object.sum(), 1)), atol=1e-5
    )
    np.testing.assert_allclose(
        flow[~on_object], np.tile(-cam_shift, ((~on_object).sum(), 1)), atol=1e-5
    )


def test_boxes_and_semantics_match_instance_maps(video):
    assert video.visible.any()
    for t in range(8):
        for j in range(3):
            rows, cols = np.nonzero(video.instance_maps[t] == j + 1)
            if rows.size == 0:
                assert not video.visible[t, j] and np.isnan(video.boxes[t, j]).all()
                continue
            assert video.visible[t, j]
            expected = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            assert video.boxes[t, j].tolist() == expected
    objects = video.instance_maps > 0
    np.testing.assert_array_equal(
        video.semantic_maps[objects], video.object_classes[video.instance_maps[objects] - 1]
    )
    assert set(np.unique(video.semantic_maps[~objects])) <= {7, 8, 9}


def test_semantic_background_moves_with_camera():
    """Background labels are sampled from the world at the camera's pixel positions."""
    rng = np.random.default_rng(6)
    video = render_video(2, 30, 40, rng, (), camera_speed=4.0, background_classes=(1, 2, 3))
    ys, xs = np.mgrid[0:30, 0:40]
    wx = video.camera[1, 0, 0] * xs + video.camera[1, 0, 1] * ys + video.camera[1, 0, 2]
    wy = video.camera[1, 1, 0] * xs + video.camera[1, 1, 1] * ys + video.camera[1, 1, 2]
    expected = video.background.labels[np.rint(wy).astype(int), np.rint(wx).astype(int)]
    np.testing.assert_array_equal(video.semantic_maps[1], expected)


def test_deterministic_with_seed():
    a = render_video(3, 24, 32, np.random.default_rng(11), (0, 5), **MOTION)
    b = render_video(3, 24, 32, np.random.default_rng(11), (0, 5), **MOTION)
    c = render_video(3, 24, 32, np.random.default_rng(12), (0, 5), **MOTION)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.instance_maps, b.instance_maps)
    np.testing.assert_array_equal(a.backward_flow(2, 0), b.backward_flow(2, 0))
    assert not np.array_equal(a.frames, c.frames)


def test_background_layouts():
    rng = np.random.default_rng(2)
    bands = make_background(60, 50, rng, (3, 4, 5), "bands")
    assert bands.texture.shape == (60, 50, 3) and bands.labels.shape == (60, 50)
    assert bands.labels[0].tolist() == [3] * 50 and bands.labels[-1].tolist() == [5] * 50
    cells = make_background(60, 50, rng, (3, 4), "voronoi")
    assert set(np.unique(cells.labels)) == {3, 4}
    with pytest.raises(ValueError, match="layout"):
        make_background(10, 10, rng, (1,), "stripes")


def test_bad_arguments(video):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="object_shapes"):
        render_video(2, 10, 10, rng, (1, 2), object_shapes=("ellipse",))
    with pytest.raises(ValueError, match="bad size"):
        render_video(0, 10, 10, rng)
    with pytest.raises(ValueError, match="frame s=8"):
        video.backward_flow(0, 8)


def test_camera_zoom_range_zooms_in_only():
    """A (low, high) zoom range below 0 narrows the view on every frame: the frame-to-world
    scale shrinks, so content leaves the frame and none enters."""
    rng = np.random.default_rng(3)
    video = render_video(6, 24, 32, rng, camera_speed=0.0, camera_zoom=(-0.05, -0.04))
    scale = np.sqrt(np.linalg.det(video.camera[:, :2, :2]))
    ratios = scale[1:] / scale[:-1]
    assert np.all(ratios > np.exp(-0.05) - 1e-9) and np.all(ratios < np.exp(-0.04) + 1e-9)
    # every pixel of a later frame is seen inside the earlier one: the flow stays in the frame
    flow = video.backward_flow(5, 0)
    ys, xs = np.mgrid[0:24, 0:32]
    assert (xs + flow[..., 0]).min() >= 0 and (xs + flow[..., 0]).max() <= 31
    assert (ys + flow[..., 1]).min() >= 0 and (ys + flow[..., 1]).max() <= 23
