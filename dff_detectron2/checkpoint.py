"""``DetectionCheckpointer`` that saves atomically and refuses checkpoints it cannot use.

fvcore's ``Checkpointer.save`` writes ``NAME.pth`` and then ``last_checkpoint`` in place: a
process killed while writing leaves a truncated file under the checkpoint's name (the next
``--resume`` fails on it, or picks it up). Here every file the checkpointer writes goes
through :func:`dff_common.checkpoint_files.atomic_open`. Loading names the file when it is
truncated or corrupt, was written by mmengine, or holds no parameter of the model.
"""

from __future__ import annotations

import os

from detectron2.checkpoint import DetectionCheckpointer

from dff_common.checkpoint_files import (
    atomic_open,
    check_framework,
    check_keys_match,
    read_errors,
)

__all__ = ["DFFCheckpointer"]


class _AtomicWrites:
    """A path manager (iopath's ``PathManager``) whose local writes go through ``atomic_open``."""

    def __init__(self, path_manager):
        self._path_manager = path_manager

    def __getattr__(self, name: str):
        return getattr(self._path_manager, name)

    def open(self, path: str, mode: str = "r", **kwargs):
        if mode in ("w", "wb") and "://" not in path:
            return atomic_open(path, mode)
        return self._path_manager.open(path, mode, **kwargs)


class DFFCheckpointer(DetectionCheckpointer):
    """detectron2's ``DetectionCheckpointer`` with atomic writes and checked loads.

    Args: those of ``DetectionCheckpointer`` (``model``, ``save_dir``, ``save_to_disk``,
    checkpointables such as ``trainer``).
    """

    def __init__(self, model, save_dir: str = "", **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.path_manager = _AtomicWrites(self.path_manager)

    def _load_file(self, filename: str) -> dict:
        """``DetectionCheckpointer._load_file``, raising ``ValueError`` naming ``filename`` when
        it cannot be read, holds an mmengine checkpoint, or no parameter of the model."""
        with read_errors(filename):
            loaded = super()._load_file(filename)
        check_framework(loaded["model"], filename, "detectron2")  # whole file if no "model"
        if not loaded.get("matching_heuristics"):  # caffe2 / pycls names are converted later
            keys = [k.removeprefix("module.") for k in loaded["model"]]
            check_keys_match(self.model, keys, os.fspath(filename))
        return loaded
