"""python tools/flow_error.py: a detector's flow against zero flow and DIS."""

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from analysis_tools import detection_flow_error as flow_error
from analysis_tools.flow_error import exact_feature_flow
from dff_common.synthetic.vid import render_vid_snippet


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(3)
    return [render_vid_snippet(rng, 6, 64, 96, [0, 2]) for _ in range(2)]


@pytest.mark.parametrize("input_format", ["RGB", "BGR"])
def test_a_dis_model_measures_as_the_dis_row_and_zero_flow_as_the_motion(
    tiny_cfg, videos, input_format
):
    cfg = tiny_cfg("MODEL.DFF.FLOW.NAME", "DISFlow", "INPUT.FORMAT", input_format)
    torch.manual_seed(0)
    model = build_model(cfg)
    results, spreads = flow_error.flow_errors(cfg, {"model": model.propagation}, videos, 3)
    assert spreads == {"model": None}  # DIS has no scale field
    assert list(results) == ["zero flow", "DIS", "model"] and list(results["DIS"]) == [1, 2]
    assert results["model"] == results["DIS"]  # the frames reach DIS in the model's colours
    motion = np.mean(
        [
            exact_feature_flow(v, k + 1, k, 16).norm(dim=0).mean().item()
            for v in videos
            for k in (0, 3)
        ]
    )
    assert results["zero flow"][1] == pytest.approx(motion)
    assert 0 < results["DIS"][2] < results["zero flow"][2]  # DIS follows the motion


def test_a_trained_flow_network_is_measured_on_the_feature_grid(tiny_cfg, videos):
    cfg = tiny_cfg()
    torch.manual_seed(0)
    propagation = build_model(cfg).propagation.eval()
    flow_fn = flow_error.model_flow_function(cfg, propagation)
    flow = flow_fn(videos[0].frames[0], videos[0].frames[2])
    assert flow.shape == (2, 4, 6)  # 64x96 frames, stride 16
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1)
    frames = [
        (torch.from_numpy(videos[0].frames[t]).permute(2, 0, 1)[None].float() - mean) / std
        for t in (0, 2)
    ]
    with torch.no_grad():
        expected, _ = propagation.flow_and_scale(*frames, feat_size=(4, 6))
    assert torch.equal(flow, expected[0])


def test_command_line():
    args = flow_error.parse_args(["--weights", "a.pth", "b.pth", "--videos", "4"])
    assert args.weights == ["a.pth", "b.pth"] and args.videos == 4 and args.interval is None
    with pytest.raises(SystemExit):
        flow_error.parse_args(["--weights", "a.pth", "--classes", "unicorn"])
    with pytest.raises(SystemExit):
        flow_error.parse_args(["--weights", "a.pth", "--frames", "1"])


def test_the_scale_field_spread_is_that_of_its_values(tiny_cfg, videos):
    """S's spread over the pairs whose flow error is measured, from the same pass."""
    cfg = tiny_cfg()
    torch.manual_seed(0)
    propagation = build_model(cfg).propagation

    def spread():
        return flow_error.flow_errors(cfg, {"m": propagation}, videos, interval=3)[1]["m"]

    assert spread() == {"mean": 1.0, "std": 0.0, "min": 1.0, "max": 1.0}  # ones: not learned
    head = propagation.flow_net.scale_field  # S = its bias where its weights are zero
    bias = torch.linspace(0.5, 2.0, head.out_channels)
    with torch.no_grad():
        head.bias.copy_(bias)
    learned = spread()
    # 64x96 frames: the stride-16 grid is 4x6; 2 videos of 6 frames, keys 0 and 3, distances
    # 1 and 2: 8 pairs
    expected = bias.repeat_interleave(4 * 6 * 8)
    assert learned["mean"] == pytest.approx(expected.mean().item(), abs=1e-5)
    assert learned["std"] == pytest.approx(expected.std().item(), abs=1e-5)
    assert (learned["min"], learned["max"]) == pytest.approx((0.5, 2.0))
    assert flow_error.scale_field_spread([]) is None
