"""Files of trained checkpoints, shared by the detectron2 and mmengine plugins.

- :func:`atomic_open`: a checkpoint (or its ``last_checkpoint`` tag) appears under its name
  only once completely written, so a process killed during a save leaves the previous file.
- :func:`read_errors`: ``torch.load``'s errors on a truncated or corrupt file (which name no
  file) turned into errors naming it.
- :func:`checkpoint_framework` / :func:`check_framework`: which framework wrote a loaded
  checkpoint, from its top-level keys, so that one is not read as the other's.
- :func:`check_keys_match`: a checkpoint of another model, which holds none or too few of the
  model's parameters (the frameworks only warn about missing keys and keep the initial
  weights); :func:`check_finite`: one that holds NaN or infinite values.
- :func:`check_output_dir`: a training run refuses a folder holding an earlier run's
  checkpoints unless asked to resume it (of the same model) or to replace them.
- :func:`load_pickle`: a ``.pkl`` checkpoint (detectron2's and Detectron's model zoos: numpy
  arrays in plain containers) read without running code: ``pickle.load`` would call whatever
  the file names.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import glob
import logging
import os
import pickle
import secrets
import shutil
from collections.abc import Iterable, Iterator

from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "atomic_open",
    "check_finite",
    "check_framework",
    "check_keys_match",
    "check_output_dir",
    "checkpoint_framework",
    "differing_keys",
    "load_pickle",
    "read_errors",
]

# top-level keys of a training checkpoint of each framework
_MMENGINE_KEYS = ("meta", "message_hub", "optimizer", "param_schedulers")
_DETECTRON2_KEYS = ("iteration", "trainer", "scheduler", "optimizer", "__author__")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open ``path`` for writing; it appears under its name only when the block completes.

    The data go to ``.NAME.XXXXXXXX.tmp`` in the same folder, which is flushed to disk and
    renamed over ``path`` (``os.replace``, atomic on POSIX and Windows) after the block. An
    exception removes the temporary file; a killed process leaves it, and ``path`` as it was,
    and the next write of ``path`` removes it. A failed write (a full disk: ``OSError``, or
    the ``RuntimeError`` "unexpected pos" of ``torch.save``'s zip writer) is an ``OSError``
    naming ``path`` and the free space of its folder.

    Args:
        path (str | os.PathLike): the file to write.
        mode (str): ``"wb"`` or ``"w"`` (text). Defaults to "wb".

    Yields:
        file: the open temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    for stale in glob.glob(
        os.path.join(glob.escape(folder), f".{glob.escape(name)}.{'[0-9a-f]' * 8}.tmp")
    ):
        logger.info("removing %s, left by a process killed while writing %s", stale, path)
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, mode.replace("w", "x")) as f:  # "x": never an existing file
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        if isinstance(err, OSError) or (
            isinstance(err, RuntimeError) and "unexpected pos" in str(err)
        ):
            free = shutil.disk_usage(folder).free / 2**20
            first_line = str(err).strip().split("\n")[0]
            raise OSError(
                f"cannot write {path}: {first_line} ({free:.1f} MiB free in {folder}; is the "
                "disk full?)"
            ) from err
        raise


@contextlib.contextmanager
def read_errors(path: str) -> Iterator[None]:
    """Re-raise ``torch.load``'s errors inside the block as ``ValueError`` naming ``path``.

    Raises:
        ValueError: for a truncated or corrupt local file (``EOFError``, the zip reader's
            ``RuntimeError`` or its ``OSError`` naming no file), or one that
            ``torch.load(weights_only=True)`` refuses. Errors naming the file (not found, no
            permission) and errors on a path that is no local file (a URL) pass unchanged.
    """
    try:
        yield
    except (EOFError, RuntimeError, OSError, pickle.UnpicklingError) as err:
        if not os.path.isfile(path) or (isinstance(err, OSError) and err.filename is not None):
            raise
        size = os.path.getsize(path)
        first_line = str(err).strip().split("\n")[0] or type(err).__name__
        if "weights only" in first_line.lower() and "mmengine." in str(err):
            reason = (
                "it was written by mmengine's Runner (it pickles mmengine objects, which only "
                "mmengine reads): load it with mmengine (the mmseg plugin, dff_mmseg)"
            )
        elif "weights only" in first_line.lower():
            reason = (
                "torch.load(weights_only=True) refused it: the file is corrupt or holds "
                f"objects other than tensors and plain containers ({first_line})"
            )
        else:
            reason = f"the file is truncated or corrupt ({size} bytes; {first_line})"
        raise ValueError(f"cannot read checkpoint {path}: {reason}") from err


def checkpoint_framework(checkpoint) -> str | None:
    """The framework whose trainer wrote a loaded checkpoint, from its top-level keys.

    Args:
        checkpoint: what ``torch.load`` returned.

    Returns:
        str | None: ``"mmengine"`` (``state_dict`` with ``meta``, ``message_hub``, ...: mmengine's
        Runner, mmcv), ``"detectron2"`` (``model`` with ``iteration``, ``trainer``, ...: fvcore's
        Checkpointer, the detectron2 model zoo), or None (a plain state dict, or unknown).
    """
    if not isinstance(checkpoint, dict):
        return None
    if isinstance(checkpoint.get("state_dict"), dict) and any(
        k in checkpoint for k in _MMENGINE_KEYS
    ):
        return "mmengine"
    if isinstance(checkpoint.get("model"), dict) and any(k in checkpoint for k in _DETECTRON2_KEYS):
        return "detectron2"
    return None


def check_framework(checkpoint, path: str, expected: str) -> None:
    """Raise if ``checkpoint`` (read from ``path``) was written by a framework other than
    ``expected`` ("mmengine" or "detectron2")."""
    framework = checkpoint_framework(checkpoint)
    if framework is None or framework == expected:
        return
    version = ""
    if framework == "mmengine" and isinstance(checkpoint.get("meta"), dict):
        version = f" {checkpoint['meta'].get('mmengine_version', '')}".rstrip()
    keys = ", ".join(sorted(map(str, checkpoint)))
    raise ValueError(
        f"checkpoint {path} was written by {framework}{version} (top-level keys: {keys}), "
        f"not by {expected}: load it with {framework}"
    )


# a checkpoint must hold at least this share of a model's parameter tensors
MIN_PARAMETER_SHARE = 0.5


def _subnetworks(names: Iterable[str], depth: int = 2) -> str:
    """``a.b (n tensors), ...``: the first ``depth`` parts of the names, with their counts."""
    counts: dict[str, int] = {}
    for name in names:
        prefix = ".".join(name.split(".")[:depth])
        counts[prefix] = counts.get(prefix, 0) + 1
    return ", ".join(f"{prefix} ({n})" for prefix, n in list(counts.items())[:6]) + (
        ", ..." if len(counts) > 6 else ""
    )


def check_keys_match(
    model: nn.Module, checkpoint_keys: Iterable[str], path: str, complete: bool = False
) -> None:
    """Raise if a checkpoint read from ``path`` holds too few of a model's parameters: none, or
    less than :data:`MIN_PARAMETER_SHARE` of them (a checkpoint of another architecture, which
    the frameworks load with a warning about missing keys), or, if ``complete`` (a model about
    to be evaluated), any.

    Buffers are left out: a checkpoint of another model may share a few (e.g. a data
    preprocessor's mean and std) and still load no weight.

    Args:
        model (nn.Module): the model about to be loaded.
        checkpoint_keys (Iterable[str]): the checkpoint's keys, with the prefixes the loader
            strips already stripped.
        path (str): the file, for the message.
        complete (bool): every parameter must be in the checkpoint. Defaults to False.
    """
    names = sorted(name for name, _ in model.named_parameters())
    checkpoint_keys = sorted(checkpoint_keys)
    present = set(checkpoint_keys)
    missing = [name for name in names if name not in present]
    if not names or not missing:
        return
    if len(missing) == len(names):
        raise ValueError(
            f"checkpoint {path} holds none of the {len(names)} parameters of "
            f"{type(model).__name__}: its {len(checkpoint_keys)} entries are named like "
            f"{checkpoint_keys[:3]}, the model's parameters like {names[:3]}; is it a checkpoint "
            "of another model?"
        )
    found = len(names) - len(missing)
    if complete or found < MIN_PARAMETER_SHARE * len(names):
        need = "all of them to evaluate" if complete else f"at least {MIN_PARAMETER_SHARE:.0%}"
        raise ValueError(
            f"checkpoint {path} holds {found} of the {len(names)} parameter tensors of "
            f"{type(model).__name__} ({found / len(names):.0%}; {need}): missing "
            f"{_subnetworks(missing)}; is it a checkpoint of another architecture, or of a model "
            "without that part?"
        )


def check_finite(state_dict: dict, path: str) -> None:
    """Raise ``ValueError`` naming ``path`` and the entries if any tensor or array of a loaded
    checkpoint holds a NaN or an infinite value."""
    import numpy as np
    import torch

    bad = []
    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            finite = bool(torch.isfinite(value).all())
        elif isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
            finite = bool(np.isfinite(value).all())
        else:
            continue
        if not finite:
            bad.append(key)
    if bad:
        raise ValueError(
            f"checkpoint {path} holds NaN or infinite values in {len(bad)} entries "
            f"({', '.join(bad[:4])}{', ...' if len(bad) > 4 else ''}): the run that wrote it "
            "diverged, or the file is damaged; load an earlier checkpoint"
        )


def _numpy_globals() -> dict[tuple[str, str], object]:
    """What pickled numpy arrays, scalars and dtypes reference, under numpy 1 and 2 paths."""
    import numpy as np

    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    for dtype in {type(np.dtype(code)) for code in np.typecodes["All"]}:
        allowed[("numpy.dtypes", dtype.__name__)] = dtype
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("_codecs", "encode")] = codecs.encode  # bytes in protocol-2 pickles of Python 3
    return allowed


class _Refused(ValueError):
    """A ``.pkl`` that names an object other than numpy arrays and plain containers."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy arrays, scalars and dtypes, ``OrderedDict`` and ``codecs.encode``
    (to bytes); anything else a file names (a function to call, a class to build) is
    refused."""

    def __init__(self, file, path: str):
        super().__init__(file, encoding="latin1")  # Python 2 pickles of the Caffe2 zoo
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise _Refused(
            f"refusing to load {self.path}: it references {module}.{name}, and a .pkl "
            "checkpoint may hold only numpy arrays in plain containers (a file that names "
            "other objects can run code when unpickled). If you trust it, convert it to a "
            ".pth of tensors (torch.save) yourself"
        )


def load_pickle(path: str):
    """Read a ``.pkl`` checkpoint that holds numpy arrays in dicts, lists and tuples (the
    detectron2 and Detectron model-zoo formats) without running any code from it.

    Raises:
        ValueError: naming ``path``, if it references any other object, or is truncated or
            not a pickle.
    """
    with open(path, "rb") as f:
        try:
            return _ArraysOnlyUnpickler(f, path).load()
        except _Refused:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError) as err:  # fmt: skip
            raise ValueError(
                f"cannot read checkpoint {path}: not a pickle or truncated ({err})"
            ) from err


def differing_keys(recorded, current, prefix: str = "", ignore: tuple[str, ...] = ()) -> list:
    """The dotted keys whose values differ between two nested mappings (a key missing on one
    side counts), leaving out keys named in ``ignore`` at any depth."""
    if not (isinstance(recorded, dict) and isinstance(current, dict)):
        same = recorded == current or (
            isinstance(recorded, (list, tuple))
            and isinstance(current, (list, tuple))
            and list(recorded) == list(current)
        )
        return [] if same else [prefix.rstrip(".")]
    keys = sorted(set(recorded) | set(current), key=str)
    return [
        found
        for key in keys
        if key not in ignore
        for found in differing_keys(recorded.get(key), current.get(key), f"{prefix}{key}.", ignore)
    ]


def check_output_dir(
    folder: str,
    patterns: Iterable[str],
    *,
    resume: bool,
    overwrite: bool,
    recorded: tuple[str, dict] | None = None,
    current: dict | None = None,
    ignore: tuple[str, ...] = (),
) -> None:
    """Before a training run writes checkpoints into ``folder``: refuse when it holds an
    earlier run's, unless ``resume`` (and ``recorded`` is the same model as ``current``) or
    ``overwrite`` (the earlier checkpoints are then removed, so that two runs never mix).

    Args:
        folder (str): the run's output folder.
        patterns (Iterable[str]): glob patterns of the framework's checkpoint files.
        resume (bool): the run continues the folder's latest checkpoint.
        overwrite (bool): the run replaces the folder's checkpoints.
        recorded (tuple[str, dict], optional): ``(file, model config)`` that the folder's run
            recorded; compared with ``current`` when resuming.
        current (dict, optional): this run's model config.
        ignore (tuple[str, ...]): keys of the model config that may differ (e.g. the initial
            weights, which a resumed run does not read).

    Raises:
        FileExistsError: checkpoints there and neither ``resume`` nor ``overwrite``.
        ValueError: resuming checkpoints of another model config (naming the keys).
    """
    found = sorted(
        {path for pattern in patterns for path in glob.glob(os.path.join(folder, pattern))}
    )
    if not found:
        return
    names = ", ".join(os.path.basename(path) for path in found[:4]) + (", ..." * (len(found) > 4))
    if overwrite:
        logger.warning("--overwrite: removing the %d earlier checkpoint files of %s: %s",
                       len(found), folder, names)  # fmt: skip
        for path in found:
            os.remove(path)
        return
    if not resume:
        raise FileExistsError(
            f"{folder} holds checkpoints of an earlier run ({names}): pass --resume to continue "
            "it, --overwrite to replace them, or give another output folder"
        )
    if recorded is not None and current is not None:
        keys = differing_keys(recorded[1], current, ignore=ignore)
        if keys:
            raise ValueError(
                f"{folder} holds checkpoints of another model: {', '.join(keys[:5])} differ from "
                f"{recorded[0]}; pass --overwrite to replace them, or give another output folder"
            )
