"""flow_error_by_distance against flows whose error is known exactly."""

import numpy as np
import pytest
import torch

from analysis_tools.flow_error import ExactFlow, exact_feature_flow, flow_error_by_distance
from dff_common.synthetic.scenes import render_video


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(0)
    return [
        render_video(7, 48, 64, rng, object_classes=[1], camera_speed=3.0, object_speed=2.0)
        for _ in range(2)
    ]


def test_exact_feature_flow_is_the_pixel_flow_averaged_per_cell_in_cells(videos):
    video = videos[0]
    pixels = video.backward_flow(3, 1)  # (48, 64, 2)
    cells = exact_feature_flow(video, 3, 1, stride=16)
    assert cells.shape == (2, 3, 4)
    expected = pixels[16:32, 32:48].reshape(-1, 2).mean(0) / 16  # cell (row 1, column 2)
    assert torch.allclose(cells[:, 1, 2], torch.from_numpy(expected), atol=1e-6)


def test_errors_of_the_exact_a_shifted_and_the_zero_flow(videos):
    frames = {f.tobytes(): (v, t) for v in videos for t, f in enumerate(v.frames)}
    assert len(frames) == 14  # every frame differs: a frame finds its video and index

    def exact(key, cur, offset=0.0):
        (video, k), (_, i) = frames[key.tobytes()], frames[cur.tobytes()]
        flow = exact_feature_flow(video, i, k, 16)
        flow[0] += offset
        return flow

    errors = flow_error_by_distance(exact, videos, [1, 3], interval=3)
    assert errors == {1: 0.0, 3: 0.0}
    shifted = flow_error_by_distance(lambda k, c: exact(k, c, 0.5), videos, [1, 3], interval=3)
    assert shifted[1] == pytest.approx(0.5) and shifted[3] == pytest.approx(0.5)
    zero = flow_error_by_distance(lambda k, c: torch.zeros(2, 3, 4), videos, [1, 3], interval=3)
    # pairs: keys 0 and 3 for d = 1 (then 6 + 1 is past the 7 frames), keys 0 and 3 for d = 3
    expected = {
        d: np.mean(
            [
                exact_feature_flow(v, k + d, k, 16).norm(dim=0).mean().item()
                for v in videos
                for k in (0, 3)
            ]
        )
        for d in (1, 3)
    }
    assert zero[1] == pytest.approx(expected[1]) and zero[3] == pytest.approx(expected[3])
    assert 0 < zero[1] < zero[3]  # the scene moves: the further the key, the more


def test_bad_arguments_are_refused(videos):
    with pytest.raises(ValueError, match="distances must be >= 1"):
        flow_error_by_distance(lambda k, c: torch.zeros(2, 3, 4), videos, [0], interval=3)
    with pytest.raises(
        ValueError, match=r"returned shape \(2, 6, 8\), the stride-16 grid is \(2, 3, 4\)"
    ):
        flow_error_by_distance(lambda k, c: torch.zeros(2, 6, 8), videos, [1], interval=3)
    assert np.isnan(flow_error_by_distance(lambda k, c: torch.zeros(2, 3, 4), videos, [9], 3)[9])


def test_exact_flow_is_an_oracle_flow_function_for_the_selected_pair(videos):
    oracle = ExactFlow({"a": videos[0], "b": videos[1]}, stride=16)
    half = torch.zeros(1, 3, 24, 32)  # what F gets: the frames do not matter
    oracle.select("b", 5, 2)
    flow, scale = oracle(half, half)
    assert scale is None and torch.equal(flow, exact_feature_flow(videos[1], 5, 2, 16)[None])
    with pytest.raises(RuntimeError, match="select\\(\\) one pair before each call"):
        oracle(half, half)  # the pair is used once
    oracle.select("b", 5, 2)
    with pytest.raises(RuntimeError, match="a batch of 2"):
        oracle(half.expand(2, -1, -1, -1), half.expand(2, -1, -1, -1))
    with pytest.raises(KeyError, match="video 'c' is not among its 2"):
        oracle.select("c", 1, 0)
    rounded = ExactFlow({"b": videos[1]}, stride=1, round_to_cells=True)  # cells of a pixel
    rounded.select("b", 5, 2)
    cells, _ = rounded(half, half)
    pixels = exact_feature_flow(videos[1], 5, 2, 1)
    assert torch.equal(cells[0], pixels.round()) and cells.abs().max() >= 1
    assert not torch.equal(pixels, pixels.round())
