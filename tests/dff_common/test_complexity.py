"""Tests of the complexity analysis (Eq. 5-7, Table 2)."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import ResNet50_Weights

from dff_common.complexity import (
    PAPER_TABLE2,
    PartCosts,
    cost_ratio,
    count_flops,
    flop_counts,
    measure_complexity,
    speedup,
    table2,
    warp_macs,
)
from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.flow_nets import build_flow_net


def test_count_flops_of_convolutions_match_the_hand_formula():
    x = torch.randn(2, 4, 9, 11)
    # multiply-adds = N * H_out * W_out * C_out * C_in / groups * k * k
    assert count_flops(nn.Conv2d(4, 8, 3, padding=1), x) == 2 * 9 * 11 * 8 * 4 * 9
    # stride 2, dilation 2, padding 2: H_out = (9 + 4 - 4 - 1) // 2 + 1 = 5, W_out = 6
    assert (
        count_flops(nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2), x) == 2 * 5 * 6 * 6 * 4 * 9
    )
    assert count_flops(nn.Conv2d(4, 6, 1, groups=2), x) == 2 * 9 * 11 * 6 * 2
    assert count_flops(nn.Linear(11, 7), x) == 2 * 4 * 9 * 11 * 7
    assert count_flops(nn.ReLU(), x) == 0  # element-wise operations count 0


def test_flop_counts_per_submodule():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(4, 5, 1)))
    counts = flop_counts(net, torch.randn(1, 3, 8, 8))
    assert counts["0"] == 6 * 6 * 4 * 3 * 9
    assert counts["2"] == counts["2.0"] == 6 * 6 * 5 * 4
    assert counts[""] == counts["0"] + counts["2"]


def test_grid_sampler_counted_with_the_bilinear_formula():
    features = torch.randn(2, 3, 5, 6)
    grid = torch.rand(2, 4, 7, 2) * 2 - 1
    macs = count_flops(lambda f, g: F.grid_sample(f, g, align_corners=True), features, grid)
    assert macs == 4 * (2 * 3 * 4 * 7)  # 4 multiply-adds per output element (Eq. 1-2)
    assert warp_macs((2, 3, 4, 7)) == 5 * (2 * 3 * 4 * 7)  # + the scale multiplication
    assert warp_macs((2, 3, 4, 7), with_scale=False) == macs


def test_speedup_eq7():
    assert speedup(0.1, 1) == 1.0  # every frame a key frame: no speedup
    assert speedup(0.37, 1) == 1.0
    assert speedup(1e-12, 10) == pytest.approx(10.0)  # free propagation: s -> l
    assert speedup(1.0, 7) == pytest.approx(1.0)  # propagation as costly as N: no gain
    assert speedup(0.1, 10) == pytest.approx(10 / 1.9)
    assert speedup(1 / 12.71, 10) == pytest.approx(10 / (1 + 9 / 12.71))
    assert speedup(0.05, 1e9) == pytest.approx(20.0, rel=1e-6)  # limit 1 / r


@pytest.mark.parametrize("r, l", [(0.1, 0), (0.1, 0.5), (0.0, 5), (-0.2, 5)])
def test_speedup_rejects_bad_arguments(r, l):  # noqa: E741
    with pytest.raises(ValueError, match="must be"):
        speedup(r, l)


def test_cost_ratio_eq5_and_eq6():
    report = PartCosts(feature_net=100, flow=8, scale=1, warp=1, task_net=2)
    assert cost_ratio(report) == pytest.approx((8 + 1 + 1 + 2) / (100 + 2))
    assert cost_ratio(report, approximate=True) == pytest.approx(0.08)
    with pytest.raises(ValueError, match="O\\(N_feat\\)"):
        cost_ratio(PartCosts(0, 8, 1, 1, 2))


class TinyFlowNet(nn.Module):
    """Flow and scale at stride 2 of its input, with a ``scale_field`` sibling head."""

    def __init__(self, channels):
        super().__init__()
        self.encoder = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.predict_flow = nn.Conv2d(4, 2, 1)
        self.scale_field = nn.Conv2d(4, channels, 1)

    def forward(self, key, cur):
        x = self.encoder(torch.cat([cur, key], 1))
        return self.predict_flow(x), self.scale_field(x)


def test_measure_complexity_splits_flow_and_scale():
    feature_net = nn.Conv2d(3, 5, 3, stride=4, padding=1)  # 16x24 -> 4x6
    task_net = nn.Conv2d(5, 3, 1)
    report = measure_complexity(feature_net, TinyFlowNet(5), task_net, (16, 24))
    assert report.feature_net == 4 * 6 * 5 * 3 * 9
    # flow net on 8x12 frames: encoder 4x6 x 4 x 6 x 9, flow head 4x6 x 2 x 4
    assert report.flow == 4 * 6 * 4 * 6 * 9 + 4 * 6 * 2 * 4
    assert report.scale == 4 * 6 * 5 * 4
    assert report.warp == 5 * (5 * 4 * 6)
    assert report.task_net == 4 * 6 * 3 * 5
    with pytest.raises(ValueError, match="scale head"):
        measure_complexity(feature_net, TinyFlowNet(5), task_net, (16, 24), scale_head="nope")


def test_table2_rows_on_a_small_image():
    rows = table2(depths=(50,), flow_nets=("flownet_half",), image_size=(64, 96))
    assert len(rows) == 1
    row = rows[0]
    images, frames = torch.zeros(1, 3, 64, 96), torch.zeros(1, 3, 32, 48)
    assert row.feature_net_macs == count_flops(DilatedResNetFeatureNet(50), images)
    counts = flop_counts(build_flow_net("flownet_half"), frames, frames)
    assert row.scale_macs == counts["scale_field"] > 0
    assert row.flow_macs == counts[""] - counts["scale_field"]
    assert row.inverse_ratio == row.feature_net_macs / row.flow_macs
    assert row.inverse_ratio_with_scale == row.feature_net_macs / counts[""]
    assert row.paper == PAPER_TABLE2[(50, "flownet_half")] == 33.56
    assert row.relative_difference() == pytest.approx(row.inverse_ratio / 33.56 - 1)
    # conv_feat (3x3, 2048 -> 1024 on the 4x6 map) is part of N_feat
    assert row.feature_net_macs > 4 * 6 * 1024 * 2048 * 9


def test_resnet50_count_matches_torchvision_metadata():
    # torchvision publishes the operation count of its ResNet-50 at 224x224 (in GMACs)
    macs = count_flops(torchvision.models.resnet50(), torch.zeros(1, 3, 224, 224))
    assert macs / 1e9 == pytest.approx(ResNet50_Weights.IMAGENET1K_V1.meta["_ops"], abs=5e-4)


def test_speedup_advice_names_the_dominant_part_and_its_fix():
    from dff_common.complexity import PartCosts, speedup_advice

    assert speedup_advice(PartCosts(100, 8, 1, 1, 1), 10) is None  # the paper's regime: 4.5x
    light = PartCosts(feature_net=30, flow=70, scale=5, warp=1, task_net=2)  # BiSeNet-like
    advice = speedup_advice(light, 5)
    assert advice.startswith(
        "DFF is predicted only 0.47x faster than the image model at l = 5 (Eq. 7, r = 2.44"
    )
    assert "F + S dominates; use a cheaper flow network" in advice
    heavy_head = PartCosts(feature_net=40, flow=4, scale=0, warp=1, task_net=60)  # UPerNet-like
    assert "N_task dominates; use a later split point" in speedup_advice(heavy_head, 5)
