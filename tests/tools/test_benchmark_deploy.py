"""tools/benchmark_deploy.py end to end on tiny random models, segmentation (mmseg) and
detection (detectron2); its argument checks and kept outputs. The onnxruntime row is tested
in tests/dff_common/test_deploy_benchmark.py (exporting a ResNet-50 here would take long)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from dff_common.data.synthetic_cityscapes import make_synthetic_cityscapes
from dff_common.data.synthetic_vid import make_synthetic_vid

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "dff_benchmark_deploy", REPO / "tools" / "benchmark_deploy.py"
)
tool = sys.modules["dff_benchmark_deploy"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(tool)

SEG_CONFIG = REPO / "configs" / "dff_mmseg" / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"
SEG_OPTS = [  # 8-channel maps, FlowNet Half without pre-trained weights
    "model.backbone.out_channels=8",
    "model.backbone.norm=FrozenBN",
    "model.decode_head.in_channels=8",
    "model.decode_head.channels=8",
    "model.flow_net.type=FlowNetHalf",
    "model.flow_net.norm=None",
]
DET_CONFIG = REPO / "configs" / "dff_detectron2" / "Synthetic_DFF_RFCN_R50_FlowNetHalf.yaml"
DET_OPTS = [  # as tests/dff_detectron2/conftest.py: 64-channel maps, 3 classes, 48-pixel frames
    "MODEL.DFF.FEATURE.OUT_CHANNELS", "64",
    "MODEL.DFF.FLOW.NORM", "",
    "MODEL.ROI_HEADS.NUM_CLASSES", "3",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "20",
    "MODEL.ANCHOR_GENERATOR.SIZES", "[[16, 32, 64]]",
    "INPUT.MIN_SIZE_TEST", "48",
]  # fmt: skip
COMMON = ["--rounds", "1", "--threads", "1", "--cpu-time"]


def test_segmentation_rows_and_files(tmp_path, capsys):
    data = tmp_path / "cityscapes"
    make_synthetic_cityscapes(data, {"train": 1, "val": 2, "test": 1}, height=32, width=64)
    work = tmp_path / "work"
    argv = [
        "--config", str(SEG_CONFIG), "--data", str(data), "--options", "channels_last",
        "--no-onnx", "--max-clips", "1", "--interval", "4", "--work-dir", str(work),
        *COMMON, *SEG_OPTS,
    ]  # fmt: skip
    rows = tool.main(argv)
    assert [r.name for r in rows] == ["eager fp32", "channels_last"]
    assert all(r.max_abs_diff < 1e-4 and r.score_delta == pytest.approx(0) for r in rows)
    out = capsys.readouterr().out
    assert "1 clips, 20 frames of (32, 64), l = 4, 1 threads, CPU time, weights: random" in out
    assert "mIoU" in out
    assert json.loads((work / "results.json").read_text())[1]["name"] == "channels_last"
    with pytest.raises(SystemExit):  # an earlier run's results are kept
        tool.main(argv)
    assert "--overwrite" in capsys.readouterr().err


def test_detection_rows(tmp_path, capsys):
    data = tmp_path / "ILSVRC2015"
    make_synthetic_vid(
        data, num_train_videos=1, num_val_videos=2, num_test_videos=0, num_frames=4,
        height=48, width=64, num_det_images=1, seed=3,
    )  # fmt: skip
    argv = ["--config", str(DET_CONFIG), "--data", str(data), "--options", "autocast",
            "--no-onnx", "--work-dir", str(tmp_path / "work"), *COMMON, *DET_OPTS]  # fmt: skip
    rows = tool.main(argv)
    assert [r.name for r in rows] == ["eager fp32", "autocast"]
    assert 0 < rows[1].max_abs_diff and rows[0].score_delta == 0
    out = capsys.readouterr().out
    assert "2 clips, 8 frames of (48, 64), l = 10" in out and "VID mAP" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--config", "x.txt", "--data", "d"], "cannot tell the framework of x.txt"),
        (["--config", "x.yaml", "--data", "d", "--max-clips", "2"], "segmentation only"),
        (["--config", "x.py", "--data", "d", "--rounds", "0"], "must be >= 1"),
    ],
)
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        tool.parse_args(argv)
    assert message in capsys.readouterr().err
