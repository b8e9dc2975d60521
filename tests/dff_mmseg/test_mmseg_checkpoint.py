"""Trained checkpoints through mmengine: bad files named, saves that survive a kill, configs."""

import glob
import os
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmseg.registry import RUNNERS

from dff_mmseg import load_model
from dff_mmseg.checkpoint import DFFRunner
from train_net import train_mmseg as train_main

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "configs" / "dff_mmseg" / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"


def write_config(folder: Path, data_root: Path, max_iters: int) -> Path:
    """The synthetic DFF config shrunk (8-channel features, no pre-trained flow), saving a
    checkpoint every iteration and keeping only the last one."""
    path = folder / f"tiny_{max_iters}.py"
    path.write_text(
        f"""
_base_ = [{str(BASE)!r}]
model = dict(
    data_preprocessor=dict(size=(32, 64)),
    backbone=dict(out_channels=8, norm="FrozenBN"),
    decode_head=dict(in_channels=8, channels=8),
    flow_net=dict(type="FlowNetHalf", norm=None, init_cfg=None),
)
train_dataloader = dict(batch_size=1, dataset=dict(data_root={str(data_root)!r}))
val_dataloader = dict(dataset=dict(data_root={str(data_root)!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={max_iters}, val_interval=1000)
param_scheduler = [dict(type="ConstantLR", by_epoch=False, factor=1.0)]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
"""
    )
    return path


@pytest.fixture(scope="module")
def trained(synthetic_root, tmp_path_factory):
    """``(config, checkpoint)``: one iteration of the tiny config through dff_mmseg.train."""
    folder = tmp_path_factory.mktemp("mmseg_checkpoint")
    config = write_config(folder, synthetic_root, max_iters=1)
    train_main([str(config), "--work-dir", str(folder / "work")])
    return config, folder / "work" / "iter_1.pth"


def test_a_good_checkpoint_loads(trained):
    config, path = trained
    saved = torch.load(path, weights_only=True)["state_dict"]
    loaded = load_model(str(config), str(path)).state_dict()
    assert loaded.keys() == saved.keys()
    for key, value in saved.items():
        assert torch.equal(loaded[key], value), key


def test_truncated_or_empty_checkpoint_is_named(trained, tmp_path):
    config, path = trained
    data = path.read_bytes()
    for name, content in (("cut.pth", data[: len(data) // 2]), ("empty.pth", b"")):
        bad = tmp_path / name
        bad.write_bytes(content)
        message = rf"checkpoint {bad}: the file is truncated or corrupt"
        with pytest.raises(ValueError, match=message):
            load_model(str(config), str(bad))
        with pytest.raises(ValueError, match=message):  # the Runner's load (DFFRunner)
            train_main([str(config), "--eval-only", "--checkpoint", str(bad)])


def test_detectron2_checkpoint_is_refused(trained, detectron2_checkpoint):
    message = rf"checkpoint {detectron2_checkpoint} was written by detectron2 .*not by mmengine"
    with pytest.raises(ValueError, match=message):
        load_model(str(trained[0]), str(detectron2_checkpoint))


def test_checkpoint_of_another_model_is_refused(trained, mmengine_checkpoint, resnet50_file):
    config = str(trained[0])
    # another model's mmengine checkpoint; ImageNet ResNet weights passed as trained weights
    for path in (mmengine_checkpoint, resnet50_file[1]):
        message = rf"checkpoint {path} holds none of the \d+ parameters of DFFSegmentor"
        with pytest.raises(ValueError, match=message):
            load_model(config, str(path))
    message = rf"checkpoint {mmengine_checkpoint} holds none of the \d+ parameters"
    with pytest.raises(ValueError, match=message):  # the Runner's load_from, before training
        train_main([config, "--cfg-options", f"load_from={mmengine_checkpoint}"])


def test_every_config_runs_the_dff_runner_with_atomic_checkpoints():
    configs = sorted(glob.glob(str(REPO / "configs" / "dff_mmseg" / "*.py")))
    assert configs
    for path in configs:
        cfg = Config.fromfile(path)
        assert cfg.runner_type == "DFFRunner", path
        assert cfg.default_hooks.checkpoint.type == "AtomicCheckpointHook", path
    assert RUNNERS.get("DFFRunner") is DFFRunner


class RecordStartHook(Hook):
    """Remember the iteration and the weights the training loop starts from."""

    def before_train(self, runner):
        self.iter = runner.iter
        self.state = {k: v.clone() for k, v in runner.model.state_dict().items()}


RESUME_AND_DIE = """
import sys

from train_net import train_mmseg as main

config, work_dir, size = sys.argv[1:]
die_when_a_file_reaches(int(size))
main([config, "--work-dir", work_dir, "--resume"])  # killed while writing iter_2.pth
"""


def test_kill_while_saving_leaves_the_previous_checkpoint(
    synthetic_root, tmp_path, run_killed_in_a_write
):
    work_dir = tmp_path / "work"
    train_main([str(write_config(tmp_path, synthetic_root, 1)), "--work-dir", str(work_dir)])
    first = work_dir / "iter_1.pth"
    saved = torch.load(first, weights_only=True)
    size = first.stat().st_size

    # iteration 2 saves iter_2.pth and, with max_keep_ckpts=1, drops iter_1.pth (mmengine's
    # own CheckpointHook drops it first); the process dies halfway through the write
    config = write_config(tmp_path, synthetic_root, 2)
    run_killed_in_a_write(RESUME_AND_DIE, config, work_dir, size // 2)
    (partial,) = work_dir.glob(".iter_2.pth.*.tmp")
    assert partial.stat().st_size == size // 2  # killed in the middle of the checkpoint
    assert not (work_dir / "iter_2.pth").exists() and first.stat().st_size == size
    assert (work_dir / "last_checkpoint").read_text() == str(first)

    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.resume = str(work_dir), True
    runner = RUNNERS.build(cfg)
    record = RecordStartHook()
    runner.register_hook(record)
    runner.train()
    assert record.iter == 1
    for key, value in saved["state_dict"].items():
        assert torch.equal(record.state[key], value), key
    assert (work_dir / "last_checkpoint").read_text() == str(work_dir / "iter_2.pth")
    # iter_1.pth dropped once iter_2.pth was complete; the killed write's partial file
    # removed by the next write of iter_2.pth
    assert (work_dir / "iter_2.pth").is_file() and not first.exists() and not partial.exists()


def test_previous_best_checkpoint_is_dropped_only_after_the_new_one_is_written(tmp_path):
    from types import SimpleNamespace

    from mmengine.fileio import get_file_backend
    from mmengine.logging import MessageHub, MMLogger

    from dff_mmseg.checkpoint import AtomicCheckpointHook, AtomicLocalBackend

    def save_checkpoint(out_dir, filename, *args, backend_args=None, **kwargs):
        if runner.fail:
            raise OSError("disk full")
        path = os.path.join(out_dir, filename)
        backend = get_file_backend(path, backend_args=backend_args)
        assert isinstance(backend, AtomicLocalBackend)
        backend.put(filename.encode(), path)

    runner = SimpleNamespace(
        work_dir=str(tmp_path), epoch=0, iter=1, fail=False, save_checkpoint=save_checkpoint,
        message_hub=MessageHub.get_instance("best_checkpoint_test"),
        logger=MMLogger.get_instance("best_checkpoint_test"),
    )  # fmt: skip
    hook = AtomicCheckpointHook(interval=1, by_epoch=False, save_best="mIoU", rule="greater")
    hook.before_train(runner)
    hook._save_best_checkpoint(runner, {"mIoU": 0.5})
    assert os.listdir(tmp_path) == ["best_mIoU_iter_1.pth"]
    runner.iter = 2
    hook._save_best_checkpoint(runner, {"mIoU": 0.6})
    assert os.listdir(tmp_path) == ["best_mIoU_iter_2.pth"]  # the previous best dropped after
    runner.iter, runner.fail = 3, True
    with pytest.raises(OSError, match="disk full"):
        hook._save_best_checkpoint(runner, {"mIoU": 0.7})
    assert os.listdir(tmp_path) == ["best_mIoU_iter_2.pth"]  # mmengine's hook deletes it first


def test_a_checkpoint_of_too_little_of_the_model_or_not_finite_is_refused(trained, tmp_path):
    config, path = trained
    checkpoint = torch.load(path, weights_only=True)
    weights = checkpoint["state_dict"]
    no_flow = {k: v for k, v in weights.items() if not k.startswith("propagation.flow_net.")}
    torch.save({**checkpoint, "state_dict": no_flow}, tmp_path / "no_flow.pth")
    message = r"no_flow.pth holds \d+ of the \d+ parameter tensors of DFFSegmentor .*all of "
    missing = r"them to evaluate\): missing propagation\.flow_net"
    with pytest.raises(ValueError, match=message + missing):
        load_model(str(config), str(tmp_path / "no_flow.pth"))
    with pytest.raises(ValueError, match=message):  # --eval-only through DFFRunner.test
        train_main([str(config), "--eval-only", "--checkpoint", str(tmp_path / "no_flow.pth")])
    weights["decode_head.conv_seg.weight"].view(-1)[0] = float("nan")
    torch.save(checkpoint, tmp_path / "nan.pth")
    with pytest.raises(ValueError, match=r"nan.pth holds NaN or infinite values in 1 entries"):
        load_model(str(config), str(tmp_path / "nan.pth"))
