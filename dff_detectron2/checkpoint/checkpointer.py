"""``DetectionCheckpointer`` that saves atomically and refuses checkpoints it cannot use.

fvcore's ``Checkpointer.save`` writes ``NAME.pth`` and then ``last_checkpoint`` in place: a
process killed while writing leaves a truncated file under the checkpoint's name (the next
``--resume`` fails on it, or picks it up). Here every file the checkpointer writes goes
through :func:`dff_common.checkpoint_files.atomic_open`. Loading names the file when it is
truncated or corrupt, was written by mmengine, holds NaN or infinite values, or too few of the
model's parameters (all of them for a model to evaluate). A ``.pkl``
(the model zoos' format), which ``DetectionCheckpointer`` reads with ``pickle.load`` (running
whatever code the file names), is read by :func:`~dff_common.checkpoint_files.load_pickle`,
which admits numpy arrays in plain containers only.
"""

from __future__ import annotations

import os

from detectron2.checkpoint import DetectionCheckpointer

from dff_common.checkpoint_files import (
    atomic_open,
    check_finite,
    check_framework,
    check_keys_match,
    load_pickle,
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
    checkpointables such as ``trainer``), and
        complete (bool): the file must hold every parameter of the model (a model about to
            be evaluated). Defaults to False.
    """

    def __init__(self, model, save_dir: str = "", complete: bool = False, **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.path_manager = _AtomicWrites(self.path_manager)
        self.complete = complete

    def _load_file(self, filename: str) -> dict:
        """``DetectionCheckpointer._load_file``, raising ``ValueError`` naming ``filename`` when
        it cannot be read, holds an mmengine checkpoint, NaN or infinite values, or too few of
        the model's parameters."""
        if filename.endswith(".pkl"):
            loaded = self._load_pickle(filename)
        else:
            with read_errors(filename):
                loaded = super()._load_file(filename)
        check_framework(loaded["model"], filename, "detectron2")  # whole file if no "model"
        check_finite(loaded["model"], os.fspath(filename))
        if not loaded.get("matching_heuristics"):  # caffe2 / pycls names are converted later
            keys = [k.removeprefix("module.") for k in loaded["model"]]
            check_keys_match(self.model, keys, os.fspath(filename), complete=self.complete)
        return loaded

    def _load_pickle(self, filename: str) -> dict:
        """A model-zoo ``.pkl`` as ``DetectionCheckpointer._load_file`` returns it, read safely:
        detectron2's format (``model`` + ``__author__``) as it is, Detectron's (``blobs``, or
        bare ImageNet weights) without momenta and marked for detectron2's name matching."""
        data = load_pickle(self.path_manager.get_local_path(filename))
        if not isinstance(data, dict):
            raise ValueError(f"checkpoint {filename} holds a {type(data).__name__}, not a dict")
        if "model" in data and "__author__" in data:
            self.logger.info(f"Reading a file from '{data['__author__']}'")
            return data
        data = data.get("blobs", data)
        data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
        return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
