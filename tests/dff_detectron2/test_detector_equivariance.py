"""python tools/equivariance.py: a detector's N_feat against the exact motion."""

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from analysis_tools import detection_equivariance as equivariance
from analysis_tools.equivariance import MOTIONS, equivariance_errors
from dff_common.data.imagenet_vid import VID_CLASS_NAMES
from dff_common.synthetic.vid import render_vid_snippet
from dff_detectron2.load import get_dff_cfg


def test_the_strides_are_those_of_the_propagated_maps(tiny_cfg):
    torch.manual_seed(0)
    rfcn = build_model(tiny_cfg())
    assert rfcn.propagation_strides() == {"dff_feat": 16}
    zoo = "configs/dff_detectron2/model_zoo/DFF_FasterRCNN_R50_FPN_FlowNet.yaml"
    fpn = build_model(get_dff_cfg(zoo, ["MODEL.DEVICE", "cpu"]))
    strides = fpn.propagation_strides()
    assert strides == {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}
    with torch.no_grad():
        maps = fpn.eval().feature_network(torch.zeros(1, 3, 128, 192))
    assert {k: (128 // v.shape[2], 192 // v.shape[3]) for k, v in maps.items()} == {
        k: (s, s) for k, s in strides.items()
    }


def test_the_command_measures_the_model_on_its_normalised_frames(tiny_cfg, tmp_path, capsys):
    cfg = tiny_cfg("MODEL.DEVICE", "cpu")
    config = tmp_path / "tiny.yaml"
    config.write_text(cfg.dump())
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("model")
    args = ["--config", str(config), "--weights", str(tmp_path / "model.pth")]
    results = equivariance.main([*args, "--size", "96", "128", "--videos", "1", "--border", "1"])
    assert list(results) == ["dff_feat"] and list(results["dff_feat"]) == list(MOTIONS)
    # the same numbers from the model's own feature network on the frames normalised by hand
    classes = [VID_CLASS_NAMES.index(c) for c in ("airplane", "bird", "dog")]
    video = render_vid_snippet(np.random.default_rng(0), 30, 96, 128, classes)
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1)

    def features(image):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            return model.feature_network((x - mean) / std)

    expected = equivariance_errors(
        features, [video.frames[0], video.frames[15]], {"dff_feat": 16}, border=1
    )
    for name, errors in expected["dff_feat"].items():
        assert results["dff_feat"][name] == pytest.approx(errors, rel=1e-5)
    out = capsys.readouterr().out
    assert "2 images of 96x128, cells 1 or more inside the map" in out
    assert "shift 16 px" in out


def test_command_line():
    args = equivariance.parse_args(["--weights", "m.pth", "--images", "a.jpg", "b.png"])
    assert args.images == ["a.jpg", "b.png"] and args.border == 2
    with pytest.raises(SystemExit):
        equivariance.parse_args(["--weights", "m.pth", "--border", "-1"])
