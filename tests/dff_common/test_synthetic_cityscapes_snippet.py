"""render_cityscapes_snippet: labels, hood, and the distinct-colour palette."""

import numpy as np

from dff_common.synthetic.cityscapes import (
    EGO_VEHICLE_ID,
    STUFF_LABEL_IDS,
    THING_LABEL_IDS,
    render_cityscapes_snippet,
)
from dff_common.synthetic.scenes import class_color


def test_distinct_colors_change_the_colours_not_the_labels():
    plain = render_cityscapes_snippet(np.random.default_rng(5), 32, 64)
    distinct = render_cityscapes_snippet(np.random.default_rng(5), 32, 64, distinct_colors=True)
    np.testing.assert_array_equal(plain[1], distinct[1])
    assert set(np.unique(plain[1])) <= {*STUFF_LABEL_IDS, *THING_LABEL_IDS, EGO_VEHICLE_ID}
    assert (plain[1][:, -3:] == EGO_VEHICLE_ID).all()  # the hood: 8 % of 32 rows
    assert not np.array_equal(plain[0], distinct[0])
    # the sky band (top rows, label 23) takes the colour of class 0 with the palette
    sky = (distinct[1][0] == 23) & (distinct[2].instance_maps[0] == 0)
    mean = distinct[0][0][sky].mean(0) / 255
    hue_of = lambda rgb: np.angle(  # noqa: E731
        rgb[0] - 0.5 * (rgb[1] + rgb[2]) + 1j * np.sqrt(3) / 2 * (rgb[1] - rgb[2])
    )
    assert abs(np.angle(np.exp(1j * (hue_of(mean) - hue_of(class_color(0)))))) < 0.6


def test_snippet_video_flow_matches_its_labels():
    """The returned video's exact flow carries the key frame's labels onto the current one's."""
    frames, labels, video = render_cityscapes_snippet(
        np.random.default_rng(2), 32, 64, camera_speed=3.0, camera_zoom=(-0.03, -0.02)
    )
    flow = video.backward_flow(19, 16)
    ys, xs = np.mgrid[0:32, 0:64]
    qx, qy = np.rint(xs + flow[..., 0]).astype(int), np.rint(ys + flow[..., 1]).astype(int)
    seen = video.co_visible(19, 16)
    seen[-3:] = False  # the static hood is painted over the rendered frames
    warped = labels[16][qy.clip(0, 31), qx.clip(0, 63)]
    assert (warped == labels[19])[seen].mean() > 0.95
    assert (labels[16] == labels[19])[seen].mean() < (warped == labels[19])[seen].mean()
    assert frames.shape == (30, 32, 64, 3) and labels.shape == (30, 32, 64)
