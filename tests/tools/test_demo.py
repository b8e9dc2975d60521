"""tools/demo.py: its options, the dispatch by config suffix and Algorithm 1 end to end on tiny
random models, segmentation (mmseg) and detection (detectron2)."""

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dff_common.video_io import FrameReader

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_demo", REPO / "tools" / "demo.py")
demo = sys.modules["dff_demo"] = importlib.util.module_from_spec(SPEC)  # before exec: dataclasses
SPEC.loader.exec_module(demo)

SEG_CONFIG = REPO / "configs" / "dff_mmseg" / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"
SEG_OVERRIDES = {  # 8-channel maps, FlowNet Half (its pre-trained weights are not read)
    "model.backbone.out_channels": 8,
    "model.backbone.norm": "FrozenBN",
    "model.decode_head.in_channels": 8,
    "model.decode_head.channels": 8,
    "model.flow_net.type": "FlowNetHalf",
    "model.flow_net.norm": None,
}
SEG_OPTS = [f"{key}={value}" for key, value in SEG_OVERRIDES.items()]  # the demo's KEY=VALUE
DET_CONFIG = REPO / "configs" / "dff_detectron2" / "Synthetic_DFF_RFCN_R50_FlowNetHalf.yaml"
DET_OPTS = [  # as tests/dff_detectron2/conftest.py: 64-channel maps, 3 classes, 64-pixel frames
    "MODEL.DFF.FEATURE.OUT_CHANNELS", "64",
    "MODEL.DFF.FLOW.NORM", "",
    "MODEL.ROI_HEADS.NUM_CLASSES", "3",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "20",
    "MODEL.ANCHOR_GENERATOR.SIZES", "[[16, 32, 64]]",
    "INPUT.MIN_SIZE_TEST", "64",
]  # fmt: skip


def test_scheduler_options():
    base = ["--config", "c.py", "--checkpoint", "m.pth", "--input", "v.mp4", "--output", "o.mp4"]
    assert demo.parse_args([*base, "--adaptive", "--max-flow", "2"]).adaptive_cfg == {
        "max_flow": 2.0
    }
    with pytest.raises(SystemExit):  # adaptive settings without --adaptive
        demo.parse_args([*base, "--max-flow", "2"])
    with pytest.raises(SystemExit):  # one scheduler at a time
        demo.parse_args([*base, "--adaptive", "--interval", "3"])


def test_the_config_suffix_picks_the_plugin_and_its_opts(monkeypatch, tmp_path):
    import dff_detectron2.demo
    import dff_mmseg.demo

    calls = {}
    monkeypatch.setattr(
        dff_mmseg.demo, "build_segmentation_demo", lambda *a: calls.setdefault("seg", a)
    )
    monkeypatch.setattr(
        dff_detectron2.demo, "build_detection_demo", lambda *a: calls.setdefault("det", a)
    )
    base = ["--checkpoint", "m.pth", "--input", "v.mp4", "--output", "o.mp4", "--device", "cpu"]
    args = demo.parse_args(["--config", "c.py", *base, "--opacity", "0.3", "model.interval=7"])
    demo.build_demo(args, "scheduler")
    assert calls["seg"] == ("c.py", "m.pth", "cpu", {"model.interval": 7}, "scheduler", 0.3)
    args = demo.parse_args(["--config", "c.yaml", *base, "MODEL.DFF.KEY_FRAME_INTERVAL", "7"])
    demo.build_demo(args, None)
    assert calls["det"] == (
        "c.yaml", "m.pth", "cpu", ["MODEL.DFF.KEY_FRAME_INTERVAL", "7"], None, 0.5
    )  # fmt: skip
    (tmp_path / "c.txt").write_text("")
    with pytest.raises(SystemExit, match="cannot tell the framework of .*c.txt"):
        demo.main(["--config", str(tmp_path / "c.txt"), *base])


# ---------------------------------------------------------------------- end to end
def run_demo_on_six_frames(tmp_path, config, checkpoint, opts, size=(64, 96)):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        assert cv2.imwrite(str(folder / f"{i}.png"), np.full((*size, 3), 128, np.uint8))
    output = tmp_path / "out.mp4"
    argv = ["--config", str(config), "--checkpoint", str(checkpoint), "--input", str(folder)]
    summary = demo.main(
        [*argv, "--output", str(output), "--interval", "3", "--device", "cpu", *opts]
    )
    assert summary.num_frames == 6 and summary.key_frames == [0, 3] and summary.fps > 0
    written = [frame for _, frame in FrameReader(output)]
    assert len(written) == 6 and written[0].shape == (*size, 3)
    with pytest.raises(SystemExit, match="exists"):
        demo.main([*argv, "--output", str(output), *opts])
    return written


def test_segmentation_end_to_end(tmp_path):
    import dff_mmseg  # noqa: F401

    # isort: split
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from mmseg.utils import get_palette

    cfg = Config.fromfile(SEG_CONFIG)
    cfg.merge_from_dict(SEG_OVERRIDES)
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # every pixel class 2: shows that the checkpoint was loaded
        model.decode_head.conv_seg.weight.zero_()
        model.decode_head.conv_seg.bias.copy_(10 * torch.eye(model.num_classes)[2])
    checkpoint = tmp_path / "seg.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)

    written = run_demo_on_six_frames(tmp_path, SEG_CONFIG, checkpoint, SEG_OPTS)
    colour = np.array(get_palette("cityscapes")[2][::-1], float)  # BGR
    expected = 0.5 * 128 + 0.5 * colour  # --opacity 0.5 over the grey frames
    for frame in written:  # below the text box, inside the key-frame border
        assert np.abs(frame[40:56, 8:88].reshape(-1, 3).mean(0) - expected).max() < 8


def test_detection_end_to_end(tmp_path):
    import dff_detectron2  # noqa: F401

    # isort: split
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from dff_detectron2.config import add_dff_config

    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(str(DET_CONFIG))
    cfg.merge_from_list(DET_OPTS)
    checkpoint = tmp_path / "det.pth"
    torch.save({"model": build_model(cfg).state_dict()}, checkpoint)

    run_demo_on_six_frames(tmp_path, DET_CONFIG, checkpoint, ["--score-threshold", "0", *DET_OPTS])
