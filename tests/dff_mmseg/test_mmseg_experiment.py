"""analysis_tools.segmentation: a trained segmentor loaded through dff_mmseg.load_model with its
flow
network swapped, and Algorithm 1 timed per part on it (dff_common.timing)."""

import pytest
import torch

from analysis_tools import segmentation as experiment
from dff_common.timing import Timer
from dff_mmseg import load_model

DFF, _ = experiment.METHODS["DFF (N from Frame)"]
FRAME, _ = experiment.METHODS["Frame"]


def saved_model(config, path, **options):
    model = load_model(str(experiment.CONFIGS / config), cfg_options=options)
    with torch.no_grad():
        model.decode_head.conv_seg.bias.fill_(0.5)  # not what a fresh build has: shows the loading
    torch.save({"state_dict": model.state_dict(), "meta": {}}, path)
    return model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """``{"dff": (model, file), "frame": (model, file)}``: DFF with FlowNet Half, and Frame."""
    folder = tmp_path_factory.mktemp("checkpoints")
    dff = saved_model(DFF, folder / "dff.pth", **{"model.flow_net.type": "FlowNetHalf"})
    return {
        "dff": (dff, folder / "dff.pth"),
        "frame": (saved_model(FRAME, folder / "frame.pth"), folder / "frame.pth"),
    }


def test_load_segmentor_swaps_the_flow_network_and_loads_every_weight(checkpoints):
    saved, path = checkpoints["dff"]
    loaded = experiment.load_segmentor(DFF, path, "flownet_half")
    assert not loaded.training
    assert loaded.state_dict().keys() == saved.state_dict().keys()
    for key, value in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    frame = experiment.load_segmentor(FRAME, checkpoints["frame"][1], "flownet_half")
    assert frame.propagation is None  # no learned flow: the name is not applied


def test_time_segmentor_runs_algorithm_1_on_every_frame(checkpoints):
    model = experiment.load_segmentor(DFF, checkpoints["dff"][1], "flownet_half")
    generator = torch.Generator().manual_seed(0)
    snippets = [torch.randint(0, 256, (3, 3, 32, 64), generator=generator, dtype=torch.uint8)] * 2
    run = experiment.time_segmentor(model, snippets, Timer(), interval=2)
    assert (run.frames, run.key_frames) == (6, 4)  # keys 0 and 2 of each snippet
    assert all(seconds > 0 for seconds in run.part_seconds.values()), run.part_seconds
    assert experiment.time_segmentor(model, snippets, Timer()).key_frames == 2  # the config's l = 5
    frame = experiment.load_segmentor(FRAME, checkpoints["frame"][1])
    per_frame = experiment.time_segmentor(frame, snippets, Timer(), interval=2)
    assert (per_frame.frames, per_frame.key_frames) == (6, 6)  # a per-frame model: l = 1
    assert per_frame.part_seconds["F+S"] == per_frame.part_seconds["W"] == 0.0
