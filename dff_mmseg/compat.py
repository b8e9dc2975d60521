"""What the installable stack needs so that mmseg 1.2.2 / mmengine 0.10.7 run (CPU machines).

* **mmcv-lite instead of full mmcv** (full mmcv 2.1 does not compile against torch 2.14):
  ``import mmseg.models`` imports ``mmcv.ops``, which loads the compiled ``mmcv._ext``. The
  placeholder for it is in :mod:`dff_compat` (installed with the package, applied before the
  first mmcv import of every process); a full mmcv (with ``_ext``) is used untouched.
* **torch >= 2.6 loads with ``weights_only=True`` by default**, and mmengine 0.10.7 calls
  ``torch.load`` without the argument, so loading or resuming a checkpoint of mmengine's own
  ``Runner``/``CheckpointHook`` fails: besides tensors it pickles the message hub's
  ``HistoryBuffer`` objects, numpy arrays, scalars and dtypes, and, through
  ``HistoryBuffer.__getstate__``, its statistics methods as ``getattr(HistoryBuffer, "min")``.
  :func:`allow_mmengine_checkpoints` marks exactly these as safe globals
  (``torch.serialization.add_safe_globals``) instead of turning ``weights_only`` off, so
  untrusted files still cannot run code; ``getattr`` is replaced by a stand-in that only
  returns ``HistoryBuffer``'s own statistics methods.

:func:`apply` is idempotent and runs on ``import dff_mmseg``, before the first mmseg import.
"""

import importlib.util
import pickle

import dff_compat

__all__ = ["allow_mmengine_checkpoints", "apply"]

_SAFE_GLOBALS = "torch.serialization.add_safe_globals[mmengine checkpoints]"
_HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")
_APPLIED: list[str] = []


def _history_buffer_getattr(owner, name: str):
    """Stand-in for ``builtins.getattr`` while unpickling: HistoryBuffer's statistics only."""
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f"refusing getattr({owner!r}, {name!r}) while loading with weights_only=True: only "
        f"HistoryBuffer.{{{', '.join(_HISTORY_BUFFER_STATISTICS)}}} are allowed "
        "(dff_mmseg.compat.allow_mmengine_checkpoints)"
    )


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read checkpoints written by mmengine's Runner.

    Registers as safe globals mmengine's ``HistoryBuffer``, numpy's array/scalar
    reconstructors and dtype classes (under their numpy 1 and numpy 2 module paths), and the
    restricted ``getattr`` stand-in. Applies only when mmengine is installed and torch has
    ``add_safe_globals``; idempotent.
    """
    import torch.serialization

    if _SAFE_GLOBALS in _APPLIED or not hasattr(torch.serialization, "add_safe_globals"):
        return
    if importlib.util.find_spec("mmengine") is None:
        return
    import numpy as np
    from mmengine.logging import HistoryBuffer

    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(0).__reduce__()[0]
    safe: list = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        (_history_buffer_getattr, "builtins.getattr"),
    ]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        safe += [(reconstruct, f"{module}._reconstruct"), (scalar, f"{module}.scalar")]
    safe += sorted({type(np.dtype(code)) for code in np.typecodes["All"]}, key=str)
    torch.serialization.add_safe_globals(safe)
    _APPLIED.append(_SAFE_GLOBALS)


def apply() -> list[str]:
    """Apply the shims mmseg / mmengine need here; returns the names applied so far."""
    dff_compat.install()
    allow_mmengine_checkpoints()
    return dff_compat.applied_shims() + _APPLIED
