"""tools/train_net.py: --config FILE picks the framework by the file's type."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_train_net", REPO / "tools" / "train_net.py")
train_net = sys.modules["dff_train_net"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(train_net)


@pytest.mark.parametrize(
    "argv, config, rest",
    [
        (["--config", "a.yaml", "--eval-only"], "a.yaml", ["--eval-only"]),
        (
            ["--num-gpus", "8", "--config-file", "a.yaml", "K", "V"],
            "a.yaml",
            ["--num-gpus", "8", "K", "V"],
        ),
        (["--config=b.py", "--work-dir", "w"], "b.py", ["--work-dir", "w"]),
    ],
)
def test_split_config(argv, config, rest):
    assert train_net.split_config(argv) == (config, rest)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(SystemExit, match="no --config given"):
        train_net.split_config(["--eval-only"])
    with pytest.raises(SystemExit, match="--config needs a file"):
        train_net.split_config(["--config"])
    with pytest.raises(SystemExit, match="config file not found: nope.yaml"):
        train_net.main(["--config", "nope.yaml"])
    other = tmp_path / "model.json"
    other.write_text("{}")
    with pytest.raises(SystemExit, match="expected a detectron2 .yaml or an mmseg .py"):
        train_net.main(["--config", str(other)])


def test_dispatch_passes_the_rest_through(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(train_net, "train_detectron2", lambda argv: calls.append(("d2", argv)))
    monkeypatch.setattr(train_net, "train_mmseg", lambda argv: calls.append(("mmseg", argv)))
    yaml, py = tmp_path / "c.yaml", tmp_path / "c.py"
    yaml.write_text("")
    py.write_text("")
    train_net.main(["--config", str(yaml), "--eval-only", "MODEL.WEIGHTS", "m.pth"])
    train_net.main(["--resume", "--config", str(py), "--launcher", "pytorch"])
    assert calls == [
        ("d2", ["--config-file", str(yaml), "--eval-only", "MODEL.WEIGHTS", "m.pth"]),
        ("mmseg", [str(py), "--resume", "--launcher", "pytorch"]),
    ]


def test_help_without_a_config_prints_the_usage(capsys):
    train_net.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith(train_net.USAGE) and "--eval-only" in out and "--cfg-options" in out


def test_help_with_a_config_lists_that_frameworks_flags(capsys):
    config = str(REPO / "configs/dff_mmseg/dff_r50-flownet_1xb2-400it_synthcity-128x256.py")
    with pytest.raises(SystemExit) as exit_:
        train_net.main(["--config", config, "--help"])
    assert exit_.value.code == 0 and "--cfg-options" in capsys.readouterr().out


def test_training_warns_when_eq7_predicts_dff_under_1_5x_faster():
    segformer = "configs/dff_mmseg/dff_segformer-mit-b0-flownet_1xb2-100it_synthcity-128x256.py"
    advice = train_net.speed_advice(segformer)  # FlowNet costs more than MiT-B0's N_feat
    assert advice.startswith("DFF is predicted only 0.")
    assert "at l = 5" in advice and "F + S dominates" in advice
    resnet = "configs/dff_mmseg/dff_r50-flownet_1xb2-400it_synthcity-128x256.py"
    assert train_net.speed_advice(resnet) is None  # the paper's network: > 1.5x
    rfcn = "configs/dff_detectron2/Synthetic_DFF_RFCN_R50_FlowNetHalf_192.yaml"
    assert train_net.speed_advice(rfcn) is None
    slow = train_net.speed_advice(rfcn, ["MODEL.DFF.KEY_FRAME_INTERVAL", 1,
                                         "MODEL.DFF.KEY_OFFSET_RANGE", (0, 0)])  # fmt: skip
    assert "at l = 1" in slow  # every frame a key frame: nothing to gain
    assert train_net.speed_advice(resnet, cfg_options={"model.interval": 1}).startswith("DFF is")
