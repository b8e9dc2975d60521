"""Trained checkpoints through mmengine: checked loads and saves that survive a kill.

Loading (``load_from``, ``--resume``, ``--eval-only --checkpoint``, :func:`dff_mmseg.load_model`)
names the file when it is truncated or corrupt, was written by detectron2, holds NaN or infinite
values, or too few of the model's parameters (all of them for a model to evaluate); mmengine
alone raises the zip reader's message naming no file, or only warns about missing keys and keeps
the initial weights.

Saving: mmengine's ``CheckpointHook`` writes ``iter_N.pth`` in place and, with
``max_keep_ckpts``, deletes the oldest checkpoint *before* writing the new one, so a process
killed during the write leaves a truncated file and, with ``max_keep_ckpts=1``, no checkpoint
at all (``last_checkpoint`` names the deleted one). :class:`AtomicCheckpointHook` writes through
:class:`AtomicLocalBackend` (``os.replace`` of a complete temporary file) and deletes outdated
checkpoints only after the new one and ``last_checkpoint`` are written.
"""

from __future__ import annotations

import contextlib
import os
import re

from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader, Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.utils import mkdir_or_exist
from mmseg.registry import HOOKS, RUNNERS
from torch import nn

from dff_common.checkpoint_files import (
    atomic_open,
    check_finite,
    check_framework,
    check_keys_match,
    read_errors,
)

__all__ = [
    "AtomicCheckpointHook",
    "AtomicLocalBackend",
    "DFFRunner",
    "load_checkpoint",
    "read_checkpoint",
]

REVISE_KEYS = [(r"^module\.", "")]  # mmengine's default: strip DataParallel's prefix


def read_checkpoint(filename: str, map_location="cpu") -> dict:
    """Read a checkpoint with mmengine's ``CheckpointLoader`` (local files, URLs, schemes).

    Raises:
        FileNotFoundError: if a local file does not exist.
        ValueError: naming the file, if it is truncated or corrupt or a detectron2 checkpoint.
    """
    with read_errors(filename):
        checkpoint = CheckpointLoader.load_checkpoint(filename, map_location, logger="current")
    check_framework(checkpoint, filename, "mmengine")
    return checkpoint


def _check_matches(
    model: nn.Module, checkpoint: dict, filename: str, revise_keys, complete: bool = False
) -> None:
    """Raise unless ``checkpoint`` holds finite values and enough of the parameters of
    ``model`` (after ``revise_keys``; all of them if ``complete``)."""
    state_dict = checkpoint.get("state_dict", checkpoint)
    check_finite(state_dict, filename)
    keys = list(state_dict)
    for pattern, replacement in revise_keys:
        keys = [re.sub(pattern, replacement, k) for k in keys]
    check_keys_match(model, keys, filename, complete=complete)


def load_checkpoint(
    model: nn.Module,
    filename: str,
    map_location="cpu",
    strict: bool = False,
    revise_keys=None,
    complete: bool = False,
) -> dict:
    """mmengine's ``load_checkpoint`` with :func:`read_checkpoint`'s checks, refusing a file
    with NaN or infinite values or too few of the parameters of ``model``.

    Args:
        model (nn.Module): the model to load into.
        filename (str): checkpoint file (or URL).
        map_location (str): as in ``torch.load``. Defaults to "cpu".
        strict (bool): refuse any missing or unexpected key. Defaults to False.
        revise_keys (list, optional): ``(pattern, replacement)`` applied to the checkpoint's
            keys. Defaults to stripping ``module.``.
        complete (bool): the file must hold every parameter (a model about to be
            evaluated). Defaults to False.

    Returns:
        dict: the checkpoint.
    """
    revise_keys = REVISE_KEYS if revise_keys is None else revise_keys
    checkpoint = read_checkpoint(filename, map_location)
    _check_matches(model, checkpoint, filename, revise_keys, complete)
    return _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)


@RUNNERS.register_module()
class DFFRunner(Runner):
    """mmengine's ``Runner`` whose :meth:`load_checkpoint` (``load_from``, ``resume``) reads
    through :func:`read_checkpoint` and refuses a checkpoint with NaN or infinite values or too
    few of the model's parameters (any missing one for :meth:`test`).

    Selected by ``runner_type = "DFFRunner"`` (the configs' ``default_runtime.py``).
    """

    _testing = False

    def test(self) -> dict:
        """``Runner.test``, its weights required to cover the whole model."""
        self._testing = True
        try:
            return super().test()
        finally:
            self._testing = False

    def load_checkpoint(
        self, filename: str, map_location="cpu", strict: bool = False, revise_keys=REVISE_KEYS
    ) -> dict:
        """``Runner.load_checkpoint``, the file read and matched by this module's checks."""
        checkpoint = read_checkpoint(filename, map_location)
        self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        _check_matches(model, checkpoint, filename, revise_keys, complete=self._testing)
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f"Load checkpoint from {filename}")
        return checkpoint


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose writes appear only once complete (``atomic_open``).

    Selected by ``backend_args=dict(backend="atomic_local")``.
    """

    def put(self, obj: bytes, filepath) -> None:
        mkdir_or_exist(os.path.dirname(os.fspath(filepath)))
        with atomic_open(filepath, "wb") as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = "utf-8") -> None:
        self.put(obj.encode(encoding), filepath)


register_backend("atomic_local", AtomicLocalBackend)


class _DeferRemovals:
    """A file backend whose ``remove`` / ``rmtree`` are recorded instead of done."""

    def __init__(self, backend, removals: list):
        self._backend, self._removals = backend, removals

    def __getattr__(self, name: str):
        return getattr(self._backend, name)

    def remove(self, path) -> None:
        self._removals.append((self._backend.remove, path))

    def rmtree(self, path) -> None:
        self._removals.append((self._backend.rmtree, path))


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose checkpoints survive a process killed while saving.

    Checkpoints go through :class:`AtomicLocalBackend` unless ``backend_args`` (or
    ``file_client_args``) choose another backend, and the checkpoints beyond
    ``max_keep_ckpts`` (and a previous ``save_best`` checkpoint) are deleted after the new one
    and ``last_checkpoint`` are written.

    Args: those of ``CheckpointHook``.
    """

    def __init__(self, *args, backend_args=None, file_client_args=None, **kwargs):
        if backend_args is None and file_client_args is None:
            backend_args = dict(backend="atomic_local")
        super().__init__(
            *args, backend_args=backend_args, file_client_args=file_client_args, **kwargs
        )

    @contextlib.contextmanager
    def _removals_after_the_save(self):
        """Defer the block's deletions of outdated checkpoints until it has completed."""
        backend, removals = self.file_backend, []
        self.file_backend = _DeferRemovals(backend, removals)
        try:
            yield
        finally:
            self.file_backend = backend
        for remove, path in removals:  # reached only when the new checkpoint is written
            remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        with self._removals_after_the_save():
            super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._removals_after_the_save():
            super()._save_best_checkpoint(runner, metrics)
