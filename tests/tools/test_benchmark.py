"""tools/benchmark.py: its options (one Timer for every part), a tiny run of each timed part
through dff_common.timing with the Eq. 5 / Eq. 7 tables printed, the wrapped models of both
plugins, and the deploy part end to end on tiny random models, segmentation (mmseg) and
detection (detectron2), with its argument checks and kept outputs. The onnxruntime row is
tested in tests/dff_common/test_deploy_benchmark.py (exporting a ResNet-50 here would take
long)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from dff_common.complexity import feature_maps, speedup
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes
from dff_common.synthetic.vid import make_synthetic_vid
from dff_common.timing import Timer

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_benchmark", REPO / "tools" / "benchmark.py")
benchmark = sys.modules["dff_benchmark"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(benchmark)

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
COMMON = ["--engine-rounds", "1", "--threads", "1", "--cpu-time", "--device", "cpu"]


def test_options_make_one_timer_and_check_eq7s_frames():
    args = benchmark.parse_args(["--quick", "--device", "cpu", "--cpu-time"])
    assert isinstance(args.timer, Timer) and args.timer.cpu_time
    assert args.flow_nets == ("flownet", "flownet_half", "flownet_inception")
    assert (args.size, args.repeats, args.intervals) == ((128, 224), 3, (1, 2, 5, 10))
    with pytest.raises(SystemExit):  # 20 frames are no multiple of l = 3
        benchmark.parse_args(["--quick", "--device", "cpu", "--intervals", "3"])
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--flow-nets", "pwcnet"])


def test_tiny_latency_and_engine_run(capsys):
    benchmark.main(
        [
            "--latency", "--engine", "--device", "cpu", "--threads", "1", "--repeats", "1",
            "--warmup", "0", "--size", "32", "48", "--depths", "50", "--flow-nets",
            "flownet_half", "--frames", "4", "--intervals", "1", "2", "--engine-rounds", "1",
            "--engine-depth", "50", "--engine-flow-net", "flownet_half", "--streams", "2", "1",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    (row,) = [line.split() for line in out.splitlines() if line.strip().startswith("ResNet-50")]
    assert row[1] == "flownet_half" and len(row) == 13 and float(row[-3]) > 0  # r time
    engine = out[out.index("Engine (Algorithm 1)") :].splitlines()
    assert "r inside" in engine[2] and [line.split()[0] for line in engine[3:5]] == ["1", "2"]
    assert engine[3].split()[3:6] == ["1", "1", "+0.0%"]  # l = 1 is the reference
    streams = out[out.index("Throughput: N concurrent videos") :].splitlines()
    assert "l = 2" in streams[0] and streams[1].split()[0] == "videos"
    one, two = (line.split() for line in streams[2:4])
    assert (one[:2], two[:2]) == (["1", "4"], ["2", "8"])  # videos, frames
    assert one[-1] == "1" and float(two[3]) == pytest.approx(2 * float(two[4]), rel=1e-3)


def test_wrapped_options(capsys):
    args = benchmark.parse_args(["--config", str(SEG_CONFIG), str(DET_CONFIG), "--device", "cpu"])
    assert args.config == [str(SEG_CONFIG), str(DET_CONFIG)]
    assert (args.frames, args.intervals) == (10, (1, 5, 10))  # the l = 5 and 10
    engine = benchmark.parse_args(["--config", str(SEG_CONFIG), "--engine", "--device", "cpu"])
    assert (engine.frames, engine.intervals) == (40, (1, 2, 5, 10, 20))
    for argv, message in [
        (["--config", "model.txt"], "--config: cannot tell the framework of model.txt"),
        (["--config", "missing.py"], "--config missing.py: no such file"),
        (["--config", str(SEG_CONFIG), "--intervals", "1"], "needs an l > 1"),
    ]:
        with pytest.raises(SystemExit):
            benchmark.parse_args([*argv, "--device", "cpu"])
        assert message in capsys.readouterr().err


def test_wrapped_clip_gives_the_feature_maps_unit_magnitude():
    args = benchmark.parse_args(
        ["--config", str(DET_CONFIG), "--size", "48", "64", "--frames", "5", "--intervals",
         "1", "5", "--device", "cpu"]
    )  # fmt: skip
    (feature_net, _, _), clip, proposals, interval = benchmark.load_wrapped(str(DET_CONFIG), args)
    assert interval == 10  # the config's l
    assert clip.shape == (5, 3, 48, 64) and proposals == []
    with torch.no_grad():
        maps = feature_maps(feature_net(clip[:1]))
    assert torch.stack([m.abs().mean() for m in maps]).mean().item() == pytest.approx(1, rel=1e-3)
    (again, _, _), same_clip, _, _ = benchmark.load_wrapped(str(DET_CONFIG), args)
    with torch.no_grad():  # seeded: the same random weights in every run
        assert torch.equal(same_clip, clip) and torch.equal(
            feature_maps(again(clip[:1]))[0], maps[0]
        )


def test_tiny_wrapped_run_of_both_plugins(capsys):
    argv = ["--config", str(SEG_CONFIG), str(DET_CONFIG), "--size", "32", "64", "--frames",
            "4", "--intervals", "1", "2", "4", *COMMON]  # fmt: skip
    benchmark.main(argv)
    out = capsys.readouterr().out
    table = out[out.index("Wrapped models (random weights)") :].splitlines()
    assert table[2].split()[:4] == ["model", "RoIs", "N_feat", "ms"]
    seg, det = (line.split() for line in table[3:5])
    assert seg[0] == SEG_CONFIG.stem and det[0] == DET_CONFIG.stem
    assert seg[1] == "-" and int(det[1]) > 0  # proposals per frame of the detector only
    for row in (seg, det):
        parts = [float(v) for v in row[2:10]]  # N_feat, F+S, W, N_task: ms, then GMACs
        r_time, r_macs, limit = (float(v) for v in row[10:13])
        assert all(v > 0 for v in parts) and r_macs > 0
        assert limit == pytest.approx(1 / r_time, rel=1e-3)  # Eq. 7's limit
        for l, (measured, predicted, diff) in zip((2, 4), (row[13:16], row[16:19])):  # noqa: E741
            assert float(predicted) == pytest.approx(speedup(r_time, l), rel=1e-3)
            assert float(diff.rstrip("%")) == pytest.approx(
                100 * (float(measured) / float(predicted) - 1), abs=0.2
            )


def test_deploy_segmentation_rows_and_files(tmp_path, capsys):
    data = tmp_path / "cityscapes"
    make_synthetic_cityscapes(data, {"train": 1, "val": 2, "test": 1}, height=32, width=64)
    work = tmp_path / "work"
    argv = [
        "--deploy", str(SEG_CONFIG), "--data", str(data), "--deploy-options", "channels_last",
        "--no-onnx", "--max-clips", "1", "--deploy-interval", "4", "--work-dir", str(work),
        *COMMON, "--opts", *SEG_OPTS,
    ]  # fmt: skip
    benchmark.main(argv)
    rows = json.loads((work / "results.json").read_text())
    assert [r["name"] for r in rows] == ["eager fp32", "channels_last"]
    assert all(r["max_abs_diff"] < 1e-4 and r["score_delta"] == pytest.approx(0) for r in rows)
    out = capsys.readouterr().out
    assert "parts: deploy;" in out  # the deploy part alone
    assert "1 clips, 20 frames of (32, 64), l = 4, 1 threads, CPU time, weights: random" in out
    assert "mIoU" in out and any(line.startswith("channels_last ") for line in out.splitlines())
    with pytest.raises(SystemExit):  # an earlier run's results are kept
        benchmark.main(argv)
    assert "--overwrite" in capsys.readouterr().err


def test_deploy_detection_rows(tmp_path, capsys):
    data = tmp_path / "ILSVRC2015"
    make_synthetic_vid(
        data, num_train_videos=1, num_val_videos=2, num_test_videos=0, num_frames=4,
        height=48, width=64, num_det_images=1, seed=3,
    )  # fmt: skip
    work = tmp_path / "work"
    argv = ["--deploy", str(DET_CONFIG), "--data", str(data), "--deploy-options", "autocast",
            "--no-onnx", "--work-dir", str(work), *COMMON, "--opts", *DET_OPTS]  # fmt: skip
    benchmark.main(argv)
    rows = json.loads((work / "results.json").read_text())
    assert [r["name"] for r in rows] == ["eager fp32", "autocast"]
    assert 0 < rows[1]["max_abs_diff"] and rows[0]["score_delta"] == 0
    out = capsys.readouterr().out
    assert "2 clips, 8 frames of (48, 64), l = 10" in out and "VID mAP" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--deploy", "x.txt", "--data", "d"], "cannot tell the framework"),
        (["--deploy", str(DET_CONFIG), "--data", "d", "--max-clips", "2"], "segmentation only"),
        (["--deploy", str(SEG_CONFIG), "--data", "d", "--engine-rounds", "0"], "must be >= 1"),
        (["--deploy", str(SEG_CONFIG)], "--deploy needs --data"),
        (["--engine", "--streams", "1", "0"], "--streams [1, 0]: each must be >= 1"),
    ],
)
def test_bad_deploy_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args([*argv, "--device", "cpu"])
    assert message in capsys.readouterr().err
