"""Export of the key path and the propagation path; Algorithm 1 over the exported graphs.

Toy N_feat / N_task around the real FlowNet (deconvolutions) and the real warp (gathers).
"""

import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dff_common.engine import DFFInferenceEngine
from dff_common.export import (
    DeployParts,
    ExportedDFFRunner,
    KeyFramePath,
    PropagationPath,
    export_onnx,
    export_paths,
    onnxruntime_path,
)
from dff_common.flow_nets import build_flow_net
from dff_common.propagation import FeaturePropagation
from dff_common.scheduler import AdaptiveScheduler, FixedIntervalScheduler

H, W = 64, 96  # frames; features 4 x 6 at stride 16
TOLERANCE = 1e-4


class FeatureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=4, padding=1)
        self.conv2 = nn.Conv2d(16, 8, 3, stride=4, padding=1)

    def forward(self, images):
        return self.conv2(F.relu(self.conv1(images)))


class TwoHeads(nn.Module):
    """N_task with two outputs, as a detection head's score and box maps."""

    def __init__(self):
        super().__init__()
        self.scores = nn.Conv2d(8, 5, 1)
        self.boxes = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, features):
        return self.scores(features), self.boxes(features)


def make_parts(task_net=None):
    torch.manual_seed(0)
    flow_net = build_flow_net("flownet", feat_channels=8)
    with torch.no_grad():
        flow_net.scale_field.weight.normal_(std=0.05)
    propagation = FeaturePropagation(flow_net).eval()
    return DeployParts(FeatureNet().eval(), propagation, task_net)


def video(length=12, seed=1):
    return torch.randn(length, 3, H, W, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Parts with a 2-output N_task, their programs and ONNX files."""
    parts = make_parts(TwoHeads().eval())
    programs = export_paths(parts, video(1))
    folder = tmp_path_factory.mktemp("onnx")
    files = [export_onnx(p, folder / f"{n}.onnx") for p, n in zip(programs, ("key", "prop"))]
    return parts, programs, files


def reference(parts, key, cur):
    with torch.no_grad():
        key_out = KeyFramePath(parts.feature_net, parts.task_net)(key)
        prop_out = PropagationPath(parts.propagation, parts.task_net)(key_out[0], key, cur)
    return key_out, prop_out


def assert_outputs_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        torch.testing.assert_close(a, e, rtol=0, atol=TOLERANCE)


def test_paths_compute_algorithm_1():
    parts = make_parts(TwoHeads().eval())
    key, cur = video(2).split(1)
    (f_key, *y_key), (f_cur, *y_cur) = reference(parts, key, cur)
    with torch.no_grad():
        assert torch.equal(f_key, parts.feature_net(key))
        assert torch.equal(f_cur, parts.propagation(f_key, key, cur))
        assert all(torch.equal(a, b) for a, b in zip(y_cur, parts.task_net(f_cur)))
    assert len(y_key) == 2 and not torch.allclose(f_cur, f_key)  # a real warp


def test_torch_export_reproduces_eager(exported):
    parts, (key_program, prop_program), _ = exported
    key, cur = video(2, seed=5).split(1)
    key_out, prop_out = reference(parts, key, cur)
    assert_outputs_close(key_program.module()(key), key_out)
    assert_outputs_close(prop_program.module()(key_out[0], key, cur), prop_out)


def test_onnxruntime_reproduces_eager_at_any_batch(exported):
    parts, _, (key_file, prop_file) = exported
    key, cur = video(6, seed=7).split(3)
    key_out, prop_out = reference(parts, key, cur)
    assert_outputs_close(onnxruntime_path(key_file, threads=1)(key), key_out)
    assert_outputs_close(onnxruntime_path(prop_file)(key_out[0], key, cur), prop_out)


def test_onnx_graph_holds_the_warp_gathers_and_the_deconvolutions(exported):
    _, _, (key_file, prop_file) = exported
    graph = onnx.load(prop_file).graph
    ops = {node.op_type for node in graph.node}
    assert {"GatherElements", "ConvTranspose"} <= ops
    assert [i.name for i in graph.input] == ["key_features", "key_images", "images"]
    assert [o.name for o in graph.output] == ["features", "y0", "y1"]
    assert [i.name for i in onnx.load(key_file).graph.input] == ["images"]


@pytest.mark.parametrize("backend", ["torch.export", "onnxruntime"])
def test_runner_gives_the_engines_outputs_on_a_12_frame_video(exported, backend):
    parts, programs, files = exported
    scheduler = FixedIntervalScheduler(5)
    engine = DFFInferenceEngine(
        parts.feature_net, lambda f, _: parts.task_net(f), parts.propagation, scheduler
    )
    frames = video(12, seed=3)
    expected = list(engine.run_video(frames))
    paths = [p.module() for p in programs]
    if backend == "onnxruntime":
        paths = [onnxruntime_path(f, threads=1) for f in files]
    actual = list(ExportedDFFRunner(*paths, scheduler).run_video(frames))
    assert [o.is_key for o in actual] == [o.is_key for o in expected]
    assert [o.key_index for o in actual] == [0] * 5 + [5] * 5 + [10] * 2
    for a, e in zip(actual, expected):
        assert isinstance(a.result, tuple) and len(a.result) == 2
        # the engine returns results[0] of a tuple-valued N_task: the scores of the one frame
        torch.testing.assert_close(a.result[0], e.result[0], rtol=0, atol=TOLERANCE)


def test_paths_without_task_network_end_at_the_features(tmp_path):
    parts = make_parts(None)
    frames = video(4, seed=2)
    key_program, prop_program = export_paths(parts, frames[:1])
    names = ("key", "prop")
    files = [
        export_onnx(p, tmp_path / f"{n}.onnx") for p, n in zip((key_program, prop_program), names)
    ]
    runner = ExportedDFFRunner(*(onnxruntime_path(f) for f in files), FixedIntervalScheduler(2))
    outputs = list(runner.run_video(frames))
    with torch.no_grad():
        f_key = parts.feature_net(frames[:1])
        expected = parts.propagation(f_key, frames[:1], frames[1:2])
    assert [o.is_key for o in outputs] == [True, False, True, False]
    torch.testing.assert_close(outputs[0].result, f_key[0], rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(outputs[1].result, expected[0], rtol=0, atol=TOLERANCE)
    assert [o.name for o in onnx.load(files[1]).graph.output] == ["features"]


def test_export_onnx_keeps_an_existing_file(exported, tmp_path):
    _, (key_program, _), _ = exported
    path = tmp_path / "key.onnx"
    path.write_bytes(b"earlier")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_onnx(key_program, path)
    assert path.read_bytes() == b"earlier"


def test_runner_rejects_flow_schedulers_bad_frames_and_empty_videos():
    with pytest.raises(ValueError, match="needs the flow field"):
        ExportedDFFRunner(None, None, AdaptiveScheduler())
    runner = ExportedDFFRunner(lambda x: (x,), None, FixedIntervalScheduler(2))
    with pytest.raises(ValueError, match="empty video"):
        list(runner.run_video([]))
    with pytest.raises(ValueError, match=r"frame 0: expected \(3, H, W\)"):
        list(runner.run_video([torch.zeros(2, 3, 4, 4)]))


def test_export_rejects_bad_example_frames():
    with pytest.raises(ValueError, match=r"images must be \(N, 3, H, W\)"):
        export_paths(make_parts(), torch.zeros(3, H, W))
