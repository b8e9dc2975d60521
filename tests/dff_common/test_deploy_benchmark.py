"""compare_deploy: rows, ratios, output differences and score changes (a counting clock)."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis_tools.deploy_benchmark import EAGER, ONNXRUNTIME, compare_deploy, max_abs_diff
from dff_common.export import DeployParts
from dff_common.flow_nets import build_flow_net
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import FixedIntervalScheduler

H, W = 64, 96


class FeatureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=16, padding=1)

    def forward(self, images):
        return F.relu(self.conv(images))


def make_parts():
    torch.manual_seed(0)
    propagation = FeaturePropagation(build_flow_net("flownet_inception", feat_channels=8))
    return DeployParts(FeatureNet().eval(), propagation.eval(), nn.Conv2d(8, 3, 1).eval())


def clips():
    generator = torch.Generator().manual_seed(4)
    return [torch.randn(5, 3, H, W, generator=generator) for _ in range(2)]


class StepClock:
    """Advances by one second per reading: every pass over the clips takes one second."""

    def __init__(self):
        self.ticks = itertools.count()

    def __call__(self) -> float:
        return float(next(self.ticks))


def test_rows_compare_each_variant_with_eager(tmp_path):
    parts, videos = make_parts(), clips()
    scores = []

    eager_outputs = []

    def score(results):  # mean score of the last frames: a stand-in for mIoU
        assert [len(clip) for clip in results] == [5, 5]
        eager_outputs.extend([] if eager_outputs else results)  # the first call is eager's
        scores.append(torch.stack([clip[-1] for clip in results]).mean().item())
        return scores[-1]

    messages = []
    rows = compare_deploy(
        parts,
        FixedIntervalScheduler(2),
        videos,
        options={"channels_last": dict(channels_last=True), "autocast": dict(autocast=True)},
        onnx_dir=tmp_path,
        rounds=2,
        score=score,
        clock=StepClock(),
        log=messages.append,
    )
    assert [r.name for r in rows] == [EAGER, "channels_last", "autocast", ONNXRUNTIME]
    for row, value in zip(rows, scores):
        assert row.ms_per_frame == pytest.approx(1000 / 10)  # one second for 10 frames
        assert row.speedup == pytest.approx(1.0)
        assert row.score == value and row.score_delta == pytest.approx(value - scores[0])
    eager, channels_last, autocast, onnxruntime = rows
    assert eager.max_abs_diff == 0.0 and eager.score_delta == 0.0
    assert channels_last.max_abs_diff < 1e-5 and onnxruntime.max_abs_diff < 1e-4
    assert 1e-4 < autocast.max_abs_diff < 0.1  # bfloat16 networks
    magnitude = max(y.abs().max().item() for clip in eager_outputs for y in clip)
    for row in rows:
        assert row.relative_diff == pytest.approx(row.max_abs_diff / magnitude)
    assert (tmp_path / "key.onnx").is_file() and (tmp_path / "propagation.onnx").is_file()
    assert "round 2/2 onnxruntime: 1.00 s" in messages
    # the options ran on copies: the given networks are unchanged (NCHW weights)
    assert parts.feature_net.conv.weight.is_contiguous()


def test_onnx_files_of_an_earlier_run_are_kept(tmp_path):
    (tmp_path / "key.onnx").write_bytes(b"earlier")
    with pytest.raises(FileExistsError, match="key.onnx exists"):
        compare_deploy(make_parts(), FixedIntervalScheduler(2), clips(), options={},
                       onnx_dir=tmp_path)  # fmt: skip
    assert (tmp_path / "key.onnx").read_bytes() == b"earlier"


def test_no_clips_raise():
    with pytest.raises(ValueError, match="at least one clip"):
        compare_deploy(make_parts(), FixedIntervalScheduler(2), [])


def test_max_abs_diff_of_nested_outputs():
    a = (torch.zeros(2), [torch.ones(3)])
    b = (torch.zeros(2), [torch.tensor([1.0, 1.5, 0.75])])
    assert max_abs_diff(a, b) == 0.5
    assert max_abs_diff(torch.zeros(0), torch.zeros(0)) == 0.0
