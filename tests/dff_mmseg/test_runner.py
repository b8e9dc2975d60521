"""Training through mmengine's Runner: checkpoint + resume on torch 2.14, 2-process gloo DDP."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from mmseg.registry import METRICS
from PIL import Image

from dff_mmseg.evaluation.key_distance_iou_metric import KeyDistanceIoUMetric
from train_net import train_mmseg as train_main

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "configs" / "dff_mmseg" / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"


def write_config(tmp_path: Path, data_root: Path, max_iters: int, extra: str = "") -> Path:
    """A tiny variant of the synthetic DFF config: 8-channel features, no pre-trained flow."""
    path = tmp_path / f"tiny_{max_iters}.py"
    path.write_text(
        f"""
_base_ = [{str(BASE)!r}]
data_root = {str(data_root)!r}
model = dict(
    data_preprocessor=dict(size=(32, 64)),
    backbone=dict(out_channels=8, norm="FrozenBN"),
    decode_head=dict(in_channels=8, channels=8),
    flow_net=dict(type="FlowNetHalf", norm=None, init_cfg=None),
)
pipeline = [
    dict(type="LoadVideoFrames"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs", meta_keys={{{{_base_.meta_keys}}}}),
]
train_dataloader = dict(batch_size=1, dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={max_iters}, val_interval=1000)
param_scheduler = [dict(type="ConstantLR", by_epoch=False, factor=1.0)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2, max_keep_ckpts=3))
randomness = dict(seed=0)
{extra}
"""
    )
    return path


class RecordStartHook(Hook):
    """Remember the iteration and the weights the training loop starts from."""

    def before_train(self, runner):
        self.iter = runner.iter
        self.state = {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_checkpoint_then_resume_continues_at_the_same_iteration(synthetic_root, tmp_path):
    work_dir = tmp_path / "work"
    first = Config.fromfile(write_config(tmp_path, synthetic_root, max_iters=2))
    first.work_dir = str(work_dir)
    Runner.from_cfg(first).train()
    checkpoint = work_dir / "iter_2.pth"
    assert checkpoint.is_file()
    # torch 2.14 loads with weights_only=True by default: mmengine's checkpoint (message hub,
    # numpy scalars) fails without dff_mmseg.compat.allow_mmengine_checkpoints ...
    plain = subprocess.run(
        [sys.executable, "-c", f"import torch; torch.load({str(checkpoint)!r})"],
        capture_output=True,
        text=True,
    )
    assert plain.returncode != 0 and "weights_only" in plain.stderr
    # ... and loads with it (applied by `import dff_mmseg`), still with weights_only=True
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["meta"]["iter"] == 2

    second = Config.fromfile(write_config(tmp_path, synthetic_root, max_iters=4))
    second.work_dir = str(work_dir)
    second.resume = True
    runner = Runner.from_cfg(second)
    record = RecordStartHook()
    runner.register_hook(record)
    runner.train()
    assert record.iter == 2
    assert record.state.keys() == saved["state_dict"].keys()
    for key, value in saved["state_dict"].items():
        assert torch.equal(record.state[key], value), key
    assert runner.iter == 4 and (work_dir / "iter_4.pth").is_file()
    resumed = torch.load(work_dir / "iter_4.pth", weights_only=True)
    changed = [
        k for k, v in resumed["state_dict"].items() if not torch.equal(v, saved["state_dict"][k])
    ]
    assert "decode_head.conv_seg.weight" in changed  # training went on from the restored weights


@HOOKS.register_module(force=True)
class SaveRankParamsHook(Hook):
    """Every rank writes its parameters before (``start{r}.pth``) and after (``rank{r}.pth``)
    training."""

    def _save(self, runner, name):
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        torch.save(params, Path(runner.work_dir) / f"{name}{runner.rank}.pth")

    def before_train(self, runner):
        self._save(runner, "start")

    def after_train(self, runner):
        self._save(runner, "rank")


def _worker(rank: int, config: str, work_dir: str, port: int) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    train_main([config, "--launcher", "pytorch", "--work-dir", work_dir])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs gloo")
def test_two_process_gloo_training_keeps_ranks_in_sync(synthetic_root, tmp_path):
    extra = "custom_hooks = [dict(type='SaveRankParamsHook')]"
    config = write_config(tmp_path, synthetic_root, max_iters=2, extra=extra)
    work_dir = tmp_path / "ddp"
    mp.spawn(_worker, args=(str(config), str(work_dir), free_port()), nprocs=2, join=True)
    rank0 = torch.load(work_dir / "rank0.pth", weights_only=True)
    rank1 = torch.load(work_dir / "rank1.pth", weights_only=True)
    assert rank0.keys() == rank1.keys() and "propagation.flow_net.conv1.conv.weight" in rank0
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    start = torch.load(work_dir / "start1.pth", weights_only=True)
    assert not torch.equal(
        start["decode_head.conv_seg.weight"], rank1["decode_head.conv_seg.weight"]
    )  # it trained
    final = torch.load(work_dir / "iter_2.pth", weights_only=True)["state_dict"]
    assert torch.equal(
        final["decode_head.conv_seg.weight"], rank1["decode_head.conv_seg.weight"]
    )  # rank 0 saved it


def write_eval_config(tmp_path: Path, data_root: Path, base: str, extra: str) -> Path:
    """A tiny variant of an evaluation config of the paper (R-50, 8 channels), which keeps its
    initial-weight files (absent here): evaluating a trained checkpoint must not need them."""
    path = tmp_path / f"eval_{base}"
    path.write_text(
        f"""
_base_ = [{str(REPO / "configs" / "dff_mmseg" / base)!r}]
model = dict(
    data_preprocessor=dict(size=(32, 64)),
    backbone=dict(depth=50, out_channels=8),
    decode_head=dict(in_channels=8, channels=8),
    flow_net=dict(type="FlowNetHalf"),
)
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    data_root={str(data_root)!r}, pipeline=[
        dict(type="LoadVideoFrames", with_label={"test" not in base}),
        dict(type="PackSegInputs", meta_keys={{{{_base_.meta_keys}}}}),
    ]))
{extra}
"""
    )
    return path


def save_weights(config: Path, tmp_path: Path) -> Path:
    from mmseg.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def test_eval_only_writes_the_cityscapes_submission(synthetic_root, tmp_path):
    from cityscapesscripts.helpers.labels import id2label

    out = tmp_path / "submission"
    config = write_eval_config(
        tmp_path,
        synthetic_root,
        "dff_r101-flownet_8xb1-20k_cityscapes-video-test.py",
        f"test_evaluator = dict(output_dir={str(out)!r})",
    )
    weights = save_weights(config, tmp_path)
    train_main(
        [
            str(config),
            "--eval-only",
            "--checkpoint",
            str(weights),
            "--work-dir",
            str(tmp_path / "w"),
        ]
    )
    written = sorted(p.name for p in out.iterdir())
    expected = sorted(p.name for p in (synthetic_root / "leftImg8bit" / "test").rglob("*.png"))
    assert written == expected == ["berlin_000000_000019_leftImg8bit.png"]
    label_ids = np.array(Image.open(out / written[0]))  # palette PNG of label ids
    assert label_ids.shape == (32, 64)
    assert all(0 <= id2label[int(i)].trainId < 255 for i in set(label_ids.ravel().tolist()))


def test_eval_only_streams_algorithm_1_through_the_snippets(synthetic_root, tmp_path):
    config = write_eval_config(
        tmp_path, synthetic_root, "dff_r101-flownet_8xb1-20k_cityscapes-video-stream.py", ""
    )
    weights = save_weights(config, tmp_path)
    metrics = train_main(
        [
            str(config),
            "--eval-only",
            "--checkpoint",
            str(weights),
            "--work-dir",
            str(tmp_path / "w"),
        ]
    )
    # the annotated 20th frame is 19 % 5 = 4 frames after its key frame under Algorithm 1
    assert (
        set(metrics) == {"aAcc", "mIoU", "mAcc", "mIoU_d4"}
        and metrics["mIoU"] == metrics["mIoU_d4"]
    )
    with pytest.raises(SystemExit, match="needs weights"):
        train_main([str(config), "--eval-only"])


@METRICS.register_module()
class RecordingKeyDistanceIoUMetric(KeyDistanceIoUMetric):
    """The plugin's metric, remembering (annotated frame, key distance) of every sample."""

    seen: list = []

    def process(self, data_batch, data_samples):
        super().process(data_batch, data_samples)
        RecordingKeyDistanceIoUMetric.seen += [
            (Path(s["img_path"]).name, s["key_distance"]) for s in data_samples
        ]


def test_eval_only_scores_the_l_pairs_of_every_annotated_frame(synthetic_root, tmp_path):
    """Sec. 5.2 through the Runner: the l = 5 pairs (k, i), k = i-4 .. i, of each annotated
    frame i, scored overall and per key distance."""
    extra = "test_evaluator = dict(type='RecordingKeyDistanceIoUMetric')"
    config = write_eval_config(
        tmp_path, synthetic_root, "dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py", extra
    )
    weights = save_weights(config, tmp_path)
    model = Config.fromfile(config).model  # initial weights the config names, absent here
    for part in (model.backbone, model.flow_net):
        assert part.init_cfg.type == "Pretrained" and not Path(part.init_cfg.checkpoint).exists()
    RecordingKeyDistanceIoUMetric.seen = []
    metrics = train_main(
        [str(config), "--eval-only", "--checkpoint", str(weights), "--work-dir", str(tmp_path)]
    )
    assert set(metrics) == {"aAcc", "mIoU", "mAcc"} | {f"mIoU_d{d}" for d in range(5)}
    annotated = sorted(
        p.name
        for p in (synthetic_root / "leftImg8bit_sequence" / "val").rglob("*_000019_leftImg8bit.png")
    )
    assert len(annotated) == 2
    assert sorted(RecordingKeyDistanceIoUMetric.seen) == [
        (a, d) for a in annotated for d in range(5)
    ]


def test_initial_weights_are_read_only_when_training_starts_from_them(synthetic_root, tmp_path):
    """``init_cfg`` Pretrained files: an error naming the file when training starts from them,
    not read (nor needed) when the starting checkpoint holds those weights."""
    missing = tmp_path / "absent" / "resnet50-0676ba61.pth"
    config = write_config(tmp_path, synthetic_root, max_iters=1)
    initial = [
        "model.backbone.init_cfg.type=Pretrained",
        f"model.backbone.init_cfg.checkpoint={missing}",
    ]
    with pytest.raises(FileNotFoundError, match=r"DilatedResNet.*resnet50-0676ba61.pth"):
        train_main([str(config), "--work-dir", str(tmp_path / "a"), "--cfg-options", *initial])
    weights = save_weights(config, tmp_path)  # a whole-model checkpoint: backbone included
    options = [*initial, f"load_from={weights}"]
    train_main([str(config), "--work-dir", str(tmp_path / "b"), "--cfg-options", *options])
    assert (tmp_path / "b" / "iter_1.pth").is_file() and not missing.exists()


def test_training_refuses_a_work_dir_with_checkpoints_unless_resumed_or_overwritten(
    synthetic_root, tmp_path
):
    work_dir = tmp_path / "work"
    config = write_config(tmp_path, synthetic_root, max_iters=2)
    train_main([str(config), "--work-dir", str(work_dir)])
    checkpoint = work_dir / "iter_2.pth"
    before = checkpoint.read_bytes()
    with pytest.raises(FileExistsError, match=rf"{work_dir} holds checkpoints .*iter_2\.pth"):
        train_main([str(config), "--work-dir", str(work_dir)])  # the same command again
    # another model (4-channel features, its backbone dict replaced) resumed into the folder
    other = write_config(
        tmp_path,
        synthetic_root,
        2,
        "model.update(backbone=dict(out_channels=4), decode_head=dict(in_channels=4, channels=4))",
    )
    other = other.rename(tmp_path / "other.py")
    with pytest.raises(
        ValueError,
        match=r"another model: backbone\.norm, backbone\.out_channels, .* differ from .*tiny_2\.py",
    ):
        train_main([str(other), "--work-dir", str(work_dir), "--resume"])
    assert checkpoint.read_bytes() == before  # nothing written was lost
    train_main([str(other), "--work-dir", str(work_dir), "--overwrite"])
    assert (
        torch.load(checkpoint, weights_only=True)["state_dict"][
            "decode_head.conv_seg.weight"
        ].shape[1]
        == 4
    )


def test_a_model_interval_other_than_the_training_pairs_is_warned_about(
    synthetic_root, tmp_path, monkeypatch
):
    import mmengine.logging

    from dff_mmseg.train import build_config

    said = []
    monkeypatch.setattr(
        mmengine.logging, "print_log", lambda message, *a, **k: said.append(message)
    )
    config = str(write_config(tmp_path, synthetic_root, max_iters=1))
    build_config(config, cfg_options={"model.interval": 3})
    assert any(
        "train_dataloader.dataset.interval=5 and model.interval=3: training pairs up to 4 frames"
        " apart, while inference propagates over at most 2 (l - 1)" in m
        for m in said
    ), said
    said.clear()
    build_config(config, cfg_options={"model.interval": 3, "train_dataloader.dataset.interval": 3})
    assert not any("model.interval" in m for m in said)


def test_a_config_syntax_error_and_a_mistyped_option_are_named(synthetic_root, tmp_path):
    from dff_mmseg.train import build_config

    broken = tmp_path / "broken.py"
    broken.write_text("model = dict(type='DFFSegmentor'\nx = 1\n")
    with pytest.raises(SystemExit, match=rf"syntax error in {broken}, line 1: '\(' was never"):
        build_config(str(broken))
    child = tmp_path / "child.py"
    child.write_text(f"_base_ = [{str(broken)!r}]\n")
    with pytest.raises(SystemExit, match=rf"syntax error in a _base_ file of {child}, line 1"):
        build_config(str(child))
    config = str(write_config(tmp_path, synthetic_root, max_iters=1))
    message = (
        rf"--cfg-options optim_wrapper.optimizer.lr=fast: optim_wrapper.optimizer.lr is a "
        rf"number \(0.01 in {config}\), not the word 'fast'"
    )
    with pytest.raises(SystemExit, match=message):
        build_config(config, cfg_options={"optim_wrapper.optimizer.lr": "fast"})
    cfg = build_config(config, cfg_options={"optim_wrapper.optimizer.lr": 0.5})
    assert cfg.optim_wrapper.optimizer.lr == 0.5
