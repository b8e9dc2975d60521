"""Train or evaluate an mmseg DFF config with mmengine's Runner (mmseg's tools/train.py + test.py).

:func:`argument_parser` gives mmseg's train/test flags plus ``--eval-only [--checkpoint FILE]``
and ``--overwrite``; :func:`build_config` the ``Config`` with those settings applied and
checked; :func:`check_work_dir` refuses a work dir holding another run's checkpoints;
:func:`run` trains, or tests with ``eval_only``.

``launcher="pytorch"`` expects the environment of ``torchrun`` (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT``, ``LOCAL_RANK``). On a machine without CUDA, mmengine 0.10.7
cannot run it as is: its pytorch launcher calls ``torch.cuda.set_device`` and it wraps the
model in DDP with ``device_ids=[LOCAL_RANK]``, which DDP rejects for a CPU module. There,
:func:`run` starts the gloo process group itself (mmengine then skips its own
initialisation) and :func:`build_config` sets ``model_wrapper_cfg`` to
``MMDistributedDataParallel`` with ``device_ids=None``; everything else is mmengine's Runner.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import os.path as osp
from pathlib import Path

__all__ = ["argument_parser", "build_config", "check_work_dir", "run"]

CHECKPOINTS = ("iter_*.pth", "epoch_*.pth", "best_*.pth", "last_checkpoint")  # mmengine's


def argument_parser() -> argparse.ArgumentParser:
    """mmseg's train/test flags plus ``--eval-only [--checkpoint FILE]`` and ``--overwrite``."""
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description="Train or evaluate a DFF segmentor (mmseg)")
    parser.add_argument("config", help="mmseg Python config file")
    parser.add_argument("--work-dir", help="folder for logs and checkpoints")
    parser.add_argument(
        "--resume", action="store_true", help="resume from the latest checkpoint in the work dir"
    )
    parser.add_argument("--amp", action="store_true", help="automatic mixed precision")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config entries, e.g. train_cfg.max_iters=100 model.interval=10",
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    parser.add_argument(
        "--eval-only", action="store_true", help="evaluate (test loop) instead of training"
    )
    parser.add_argument("--checkpoint", help="weights to evaluate with --eval-only")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="train into a work dir that holds checkpoints, removing them first",
    )
    return parser


def build_config(
    config: str,
    work_dir: str | None = None,
    cfg_options: dict | None = None,
    launcher: str = "none",
    amp: bool = False,
    resume: bool = False,
    eval_only: bool = False,
    checkpoint: str | None = None,
):
    """The mmengine ``Config`` of the file ``config`` with these settings applied (the
    command-line flags of :func:`argument_parser`) and checked."""
    import torch

    cfg = _load_config(config)
    cfg.launcher = launcher
    if cfg_options:
        _check_option_types(cfg, cfg_options, config)
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = str(work_dir)
    elif cfg.get("work_dir") is None:
        cfg.work_dir = osp.join("work_dirs", osp.splitext(osp.basename(config))[0])
    if amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.setdefault("loss_scale", "dynamic")
    if resume:
        cfg.resume = True
    if launcher != "none" and not torch.cuda.is_available():
        cfg.env_cfg.setdefault("dist_cfg", {})["backend"] = "gloo"
        cfg.model_wrapper_cfg = dict(
            type="MMDistributedDataParallel",
            device_ids=None,  # a CPU module: DDP rejects device ids
            broadcast_buffers=False,
            find_unused_parameters=cfg.get("find_unused_parameters", False),
        )
    if not eval_only:  # testing loads the whole model and never reads initial weights
        _skip_replaced_initial_weights(cfg)
        _check_training_pairs(cfg)
    if eval_only:
        if checkpoint:
            cfg.load_from = str(checkpoint)
        if not cfg.get("load_from"):
            raise SystemExit(
                f"--eval-only needs weights: --checkpoint FILE or load_from in {config}"
            )
        if not osp.isfile(cfg.load_from):
            raise SystemExit(f"checkpoint not found: {cfg.load_from}")
    return cfg


def _load_config(path: str):
    """``Config.fromfile``, a syntax error named with its file and line (mmengine's names
    ``<unknown>``)."""
    import ast

    from mmengine.config import Config

    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        try:
            ast.parse(Path(path).read_text(), filename=path)
            where = f"a _base_ file of {path}"
        except SyntaxError:
            where = path
        raise SystemExit(
            f"syntax error in {where}, line {err.lineno}: {err.msg}: {(err.text or '').strip()}"
        ) from err


def _check_option_types(cfg, options: dict, path: str) -> None:
    """Refuse a ``--cfg-options`` value whose type cannot replace the config's (a word where
    the config has a number or a boolean), naming the key."""
    values = cfg.to_dict()
    for key, value in options.items():
        original = values
        for part in key.split("."):
            if isinstance(original, dict) and part in original:
                original = original[part]
            elif (
                isinstance(original, (list, tuple)) and part.isdigit() and int(part) < len(original)
            ):
                original = original[int(part)]
            else:
                original = None
                break
        number = isinstance(original, (int, float)) and not isinstance(original, bool)
        if isinstance(value, str) and (number or isinstance(original, bool)):
            kind = "a boolean (True / False)" if isinstance(original, bool) else "a number"
            raise SystemExit(
                f"--cfg-options {key}={value}: {key} is {kind} ({original!r} in {path}), "
                f"not the word {value!r}"
            )


def _skip_replaced_initial_weights(cfg) -> None:
    """Initial weights that the starting checkpoint replaces are not read (nor needed)."""
    from mmengine.logging import print_log

    from dff_mmseg.models.pretrained import skip_initial_weights_in, starting_checkpoint

    checkpoint = starting_checkpoint(cfg)
    if checkpoint and osp.isfile(checkpoint):
        dropped = skip_initial_weights_in(cfg, checkpoint)
        if dropped:
            print_log(f"initial weights of {dropped} not read: {checkpoint} holds them", "current")


def check_work_dir(cfg, resume: bool, overwrite: bool) -> None:
    """Refuse to train into ``cfg.work_dir`` over an earlier run's checkpoints unless resuming
    the same model (the config the Runner dumped there, less initial weights) or overwriting
    (:func:`~dff_common.checkpoint_files.check_output_dir`)."""
    from mmengine.config import Config

    from dff_common.checkpoint_files import check_output_dir

    dumped = sorted(Path(cfg.work_dir).glob("*.py"), key=lambda p: p.stat().st_mtime)
    recorded = (str(dumped[-1]), Config.fromfile(dumped[-1]).model.to_dict()) if dumped else None
    check_output_dir(
        cfg.work_dir, CHECKPOINTS, resume=resume, overwrite=overwrite, recorded=recorded,
        current=cfg.model.to_dict(), ignore=("init_cfg", "pretrained"),
    )  # fmt: skip


def _check_training_pairs(cfg) -> None:
    """Warn when the training pairs (``train_dataloader.dataset.interval``: offsets in
    ``[-(l-1), 0]``) do not fit the model's key-frame interval ``model.interval``."""
    from mmengine.logging import print_log
    from mmseg.registry import DATASETS, MODELS

    from dff_common.data.pairs import offsets_mismatch

    def interval(section, registry):  # the section's, or its class's default
        if "interval" in section:
            return section["interval"]
        cls = registry.get(section.get("type", ""))
        parameter = inspect.signature(cls).parameters.get("interval") if cls else None
        return None if parameter is None else parameter.default

    dataset = cfg.get("train_dataloader", {}).get("dataset", {})
    model_interval, pairs_interval = interval(cfg.model, MODELS), interval(dataset, DATASETS)
    if not isinstance(model_interval, int) or not isinstance(pairs_interval, int):
        return
    mismatch = offsets_mismatch(pairs_interval - 1, model_interval)
    if mismatch:
        print_log(
            f"train_dataloader.dataset.interval={pairs_interval} and model.interval="
            f"{model_interval}: {mismatch}; set both to the same l",
            "current",
            level=logging.WARNING,
        )


def _init_cpu_process_group(launcher: str) -> None:
    """Start gloo from the torchrun environment when CUDA is absent (see the module docstring)."""
    import torch
    import torch.distributed as dist

    if launcher == "none" or torch.cuda.is_available() or dist.is_initialized():
        return
    if launcher != "pytorch":
        raise SystemExit(f"--launcher {launcher} needs CUDA with mmengine; use pytorch on CPU")
    dist.init_process_group(backend="gloo", init_method="env://")


def run(cfg, eval_only: bool = False, overwrite: bool = False):
    """Train ``cfg`` (of :func:`build_config`) with its runner, refusing a work dir with another
    run's checkpoints unless ``overwrite`` (:func:`check_work_dir`); or, with ``eval_only``,
    run the test loop and return its metrics."""
    import dff_mmseg  # noqa: F401  (compat shims and registration before mmseg/mmengine use)

    # isort: split
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS

    if not eval_only and int(os.environ.get("RANK", "0")) == 0:
        check_work_dir(cfg, cfg.get("resume", False), overwrite)
    _init_cpu_process_group(cfg.launcher)
    # the configs' runner_type: DFFRunner, whose checkpoint loading names a bad file
    runner = RUNNERS.build(cfg) if "runner_type" in cfg else Runner.from_cfg(cfg)
    if eval_only:
        return runner.test()
    runner.train()
    return None
