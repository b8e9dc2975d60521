"""analysis_tools.segmentation_table4 and its steps (analysis_tools.segmentation): the synthetic
set and the flow
pre-training command, the options of a run, the command line, the wrapped zoo model's rows."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import mmseg
import pytest
from mmengine.config import Config

from analysis_tools import segmentation as experiment
from analysis_tools import segmentation_table4 as table4

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "dff_pretrain_flow", REPO / "tools" / "pretrain_flow.py"
)
pretrain_flow = sys.modules["dff_pretrain_flow"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pretrain_flow)
ZOO_SEGFORMER = "segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py"


def test_prepare_runs_a_pretraining_command_that_parses(tmp_path, monkeypatch):
    data = tmp_path / "city"
    data.mkdir()  # present: not written again
    args = table4.parse_args(
        [
            "--data",
            str(data),
            "--flow-checkpoint",
            str(tmp_path / "f.pth"),
            "--flow-net",
            "flownet_half",
        ]
    )
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))
    experiment.prepare(args.data, args.flow_checkpoint, args.flow_net, args.quick)
    (command,) = commands
    assert command[1] == str(REPO / "tools" / "pretrain_flow.py")
    parsed = pretrain_flow.parse_args(command[2:])  # the tool accepts what table4 passes
    assert parsed.synthetic_size == [64, 128] and parsed.make_synthetic == 2000
    assert (parsed.flow_net, parsed.iters, parsed.output) == (
        "flownet_half",
        300,
        str(tmp_path / "f.pth"),
    )
    commands.clear()
    (tmp_path / "f.pth").write_bytes(b"")  # an existing checkpoint is reused
    experiment.prepare(args.data, args.flow_checkpoint, args.flow_net, args.quick)
    assert commands == []


def test_quick_uses_its_own_set_and_flow_nets_come_from_flow_nets():
    quick = table4.parse_args(["--quick"])
    assert quick.data == "datasets/synthetic_cityscapes_quick_seed0"
    assert quick.work_dir == "work_dirs/table4_quick_seed0" and quick.threads == 1
    seeded = table4.parse_args(["--seed", "2"])  # each seed its own data and runs
    assert (seeded.data, seeded.work_dir) == (
        "datasets/synthetic_cityscapes_seed2",
        "work_dirs/table4_seed2",
    )
    assert table4.parse_args(["--quick", "--data", "d"]).data == "d"
    assert table4.parse_args([]).flow_net == "flownet"
    with pytest.raises(SystemExit):
        table4.parse_args(["--flow-net", "pwcnet"])


def test_run_options_give_f_only_to_learned_flows():
    roots = {
        f"{loader}.dataset.data_root": "d"
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
    }
    dff, _, _ = experiment.TRAININGS["dff-ft"]
    assert experiment.run_options(dff, "d", "flownet_half", "f.pth") == {
        **roots,
        "model.flow_net.type": "FlowNetHalf",
        "model.flow_net.init_cfg.type": "Pretrained",
        "model.flow_net.init_cfg.checkpoint": "f.pth",
        "randomness.seed": 0,
    }
    assert experiment.run_options(dff, "d", "flownet_half") == {
        **roots, "model.flow_net.type": "FlowNetHalf", "randomness.seed": 0
    }  # fmt: skip
    for method in ("Frame", "Copy (zero flow)", "SFF (DIS flow)"):
        config = experiment.METHODS[method][0]
        assert experiment.run_options(config, "d", "flownet", "f.pth") == {
            **roots, "randomness.seed": 0
        }  # fmt: skip
    assert experiment.learns_flow(dff)
    assert not experiment.learns_flow(experiment.METHODS["SFF (DIS flow)"][0])


def test_a_run_trains_from_its_initialising_run_unless_done(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(experiment, "train", lambda *args, **kw: trained.append((*args, kw)))
    checkpoint = experiment.train_run("dff-fixn", str(tmp_path), "d", "flownet", "f.pth")
    assert checkpoint == tmp_path / "dff-fixn" / "iter_200.pth"
    ((config, work_dir, options, keywords),) = trained
    assert keywords == {"overwrite": False}
    assert (config, work_dir) == (experiment.TRAININGS["dff-fixn"][0], checkpoint.parent)
    assert options["load_from"] == str(tmp_path / "frame" / "iter_400.pth")
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    experiment.train_run("dff-fixn", str(tmp_path), "d", "flownet", "f.pth")
    assert len(trained) == 1  # reused
    experiment.train_run("dff-fixn", str(tmp_path), "d", "flownet", "f.pth", retrain=True)
    assert len(trained) == 2 and trained[1][-1] == {"overwrite": True}  # replaces its checkpoints


def test_zoo_rows_are_the_segformer_zoo_model_trained_frame_then_dff():
    assert table4.parse_args(["--zoo"]).zoo and not table4.parse_args([]).zoo
    zoo = Config.fromfile(
        str(Path(mmseg.__file__).parent / ".mim" / "configs" / "segformer" / ZOO_SEGFORMER)
    ).model
    for config, run in experiment.ZOO_METHODS.values():
        assert run in table4.ZOO_RUNS
        model = Config.fromfile(str(experiment.CONFIGS / config)).model
        assert model.decode_head == zoo.decode_head
        assert model.backbone == dict(zoo.backbone, init_cfg=None)  # no ImageNet MiT here
    frame, dff = (experiment.TRAININGS[run] for run in table4.ZOO_RUNS)
    assert dff[2] == "frame-segformer" and frame[2] is None  # DFF starts from Frame
    assert not experiment.learns_flow(frame[0]) and experiment.learns_flow(dff[0])


def test_quick_frame_control_is_trained_as_dff_and_copying_uses_it():
    """The demo's Frame (+100 it): Frame's model trained on single frames with DFF's
    fine-tuning schedule (same start, iterations, lr and milestones), and the N that copying
    and SFF propagate with."""
    control, dff = (experiment.TRAININGS[run] for run in ("frame-ft-quick", "dff-ft-quick"))
    assert control[1:] == dff[1:] == (100, "frame-quick")
    assert {"frame-ft-quick", "dff-ft-quick", "frame-quick"} == set(table4.QUICK_RUNS)
    schedules = [Config.fromfile(str(experiment.CONFIGS / c[0])) for c in (control, dff)]
    for key in ("param_scheduler", "train_cfg"):
        assert schedules[0][key] == schedules[1][key], key
    assert schedules[0].optim_wrapper.optimizer == schedules[1].optim_wrapper.optimizer
    assert schedules[0].param_scheduler[0]["milestones"] == [75]
    assert not experiment.learns_flow(control[0])
    for method in ("Copy (zero flow)", "SFF (DIS flow)"):
        assert experiment.QUICK_METHODS[method][1] == "frame-ft-quick"
    for _, run in experiment.QUICK_METHODS.values():
        assert run in table4.QUICK_RUNS


def test_full_table_propagates_the_controls_n():
    """The full table's Frame (+200 it) has DFF (N from Frame)'s start and iterations; the
    rows with an untrained or separately trained F (separate, copying, SFF) use its N."""
    control, dff = (experiment.TRAININGS[run] for run in ("frame-ft", "dff-ft"))
    assert control[1:] == dff[1:] == (200, "frame")
    for method in ("DFF separate", "Copy (zero flow)", "SFF (DIS flow)"):
        assert experiment.METHODS[method][1] == "frame-ft", method
    for _, run in experiment.METHODS.values():
        assert run in table4.RUNS


def test_figure3_runs_edit_the_config_options_of_table4s_runs(tmp_path, monkeypatch):
    from analysis_tools import segmentation_figure3 as figure3

    calls = []
    monkeypatch.setattr(figure3, "train", lambda *args: calls.append(("train", *args)))
    monkeypatch.setattr(figure3, "evaluate", lambda *args: calls.append(("evaluate", *args)))
    figure3.finetune_dff("flownet_half", "f.pth", "d", str(tmp_path), tmp_path / "out")
    figure3.evaluate_intervals(experiment.METHODS["DFF (N from Frame)"][0], "c.pth",
                               ("flownet_half", "f.pth"), 7, "d", tmp_path)  # fmt: skip
    (_, config, output, options), (_, _, checkpoint, _, evaluated) = calls
    assert config == experiment.TRAININGS["dff-ft"][0] and output == tmp_path / "out"
    assert options["load_from"] == str(tmp_path / "frame" / "iter_400.pth")
    assert options["model.flow_net.type"] == "FlowNetHalf"
    assert options["model.flow_net.init_cfg.checkpoint"] == "f.pth"
    assert checkpoint == "c.pth" and evaluated["model.interval"] == 7
    assert evaluated["test_dataloader.dataset.interval"] == 7
    assert evaluated["test_evaluator.type"] == "IntervalIoUMetric"
    assert evaluated["model.flow_net.type"] == "FlowNetHalf"
