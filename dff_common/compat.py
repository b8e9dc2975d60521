"""Compatibility with the dependency stack that installs on CPU-only machines.

The one documented place where this project adapts to its stack (see ENVIRONMENT.md of the
team checkout and the README):

* **detectron2 0.6 without its C++ extension.** Only third-party sdists of detectron2 0.6 are
  installable from PyPI and they lack the C++ sources, so ``detectron2._C`` is missing and
  ``import detectron2.layers`` fails. :func:`apply` registers a placeholder ``detectron2._C``
  whose operators raise :class:`MissingExtensionError` naming the op (deformable conv,
  rotated boxes, the C++ COCO evaluation); DFF uses none of them.
* **mmcv-lite instead of full mmcv.** ``import mmseg.models`` imports ``mmcv.ops``, which loads
  ``mmcv._ext``; a placeholder with the same behaviour is registered.
* **Pillow >= 10** removed ``Image.LINEAR`` (a default argument in detectron2 0.6's
  ``data/transforms/transform.py``): aliased to ``Image.BILINEAR``, its old meaning.
* **numpy >= 1.24** removed ``np.int``, ``np.float``, ``np.bool`` which detectron2 0.6 still
  uses (data/build.py, evaluation/sem_seg_evaluation.py, structures/masks.py, ...): aliased to
  the builtins they always meant.
* **torch >= 2.6 loads with ``weights_only=True`` by default**, and mmengine 0.10.7 calls
  ``torch.load`` without the argument, so loading or resuming a checkpoint written by mmengine's
  own ``Runner``/``CheckpointHook`` fails: besides tensors it pickles the message hub's
  ``HistoryBuffer`` objects, numpy arrays, scalars and dtypes, and, through
  ``HistoryBuffer.__getstate__``, its statistics methods as ``getattr(HistoryBuffer, "min")``.
  :func:`allow_mmengine_checkpoints` marks exactly these as safe globals
  (``torch.serialization.add_safe_globals``) instead of turning ``weights_only`` off, so
  untrusted files still cannot run code; ``getattr`` is replaced by a stand-in that only
  returns ``HistoryBuffer``'s own statistics methods.

Every shim applies only when the real thing is missing: a source build of detectron2 (with
``_C``) or a full mmcv (with ``_ext``) is used untouched. :func:`apply` is idempotent and is
called by ``dff_detectron2`` and ``dff_mmseg`` on import.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pickle
import sys
import types

__all__ = [
    "MissingExtensionError",
    "allow_mmengine_checkpoints",
    "apply",
    "applied_shims",
    "placeholder_extension",
]

_APPLIED: list[str] = []

_HOW_TO_BUILD = {
    "detectron2._C": "build detectron2 from source with its C++/CUDA extension "
    "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html)",
    "mmcv._ext": "install the full mmcv with compiled ops instead of mmcv-lite "
    "(`pip install mmcv` with a matching compiler, see the mmcv installation guide)",
}


class MissingExtensionError(RuntimeError):
    """Raised when an operator of a compiled extension that is not installed is called."""


class _PlaceholderExtension(types.ModuleType):
    """A module standing in for a missing compiled extension.

    Any attribute is a callable that raises :class:`MissingExtensionError` naming the op, so
    that modules which merely *import* the extension work, and calling an op fails clearly.
    """

    def __init__(self, name: str, info: dict | None = None):
        super().__init__(name)
        self.__dict__["_dff_placeholder"] = True
        for key, value in (info or {}).items():
            self.__dict__[key] = value

    def __getattr__(self, op: str):
        if op.startswith("__"):
            raise AttributeError(op)
        ext = self.__name__

        def missing(*args, **kwargs):
            raise MissingExtensionError(
                f"`{ext}.{op}` needs the compiled extension `{ext}`, which is not installed "
                f"(a pure-Python build is in use; placeholder from dff_common.compat). "
                f"To use this op, {_HOW_TO_BUILD.get(ext, 'install a compiled build')}."
            )

        missing.__name__ = op
        return missing


def placeholder_extension(name: str, info: dict | None = None) -> types.ModuleType:
    """Build (without registering) a placeholder module for the extension ``name``."""
    return _PlaceholderExtension(name, info)


def _extension_missing(name: str) -> bool:
    """True when ``name`` (e.g. ``detectron2._C``) cannot be imported but its package can."""
    package = name.rpartition(".")[0]
    if importlib.util.find_spec(package) is None:
        return False  # the framework itself is not installed: nothing to patch
    if name in sys.modules:
        return False
    return importlib.util.find_spec(name) is None


def _register(name: str, info: dict | None = None) -> None:
    module = placeholder_extension(name, info)
    # a spec without a loader: importlib.util.find_spec(name) works (mmengine's Runner calls
    # pkgutil.find_loader("mmcv._ext"), which raises on a module whose __spec__ is None) and
    # reports no loadable extension
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = module
    parent = sys.modules.get(name.rpartition(".")[0])
    if parent is not None:
        setattr(parent, name.rpartition(".")[2], module)
    _APPLIED.append(name)


def _patch_detectron2_extension() -> None:
    if _extension_missing("detectron2._C"):
        # detectron2.utils.collect_env reads these three from a real build
        _register(
            "detectron2._C",
            {
                "get_compiler_version": lambda: "none (pure-Python detectron2 build)",
                "get_cuda_version": lambda: "none (pure-Python detectron2 build)",
                "has_cuda": lambda: False,
            },
        )


def _patch_mmcv_extension() -> None:
    if _extension_missing("mmcv._ext"):
        _register("mmcv._ext")


def _patch_pillow() -> None:
    from PIL import Image

    if not hasattr(Image, "LINEAR"):
        Image.LINEAR = Image.BILINEAR  # the meaning it had before Pillow 10
        _APPLIED.append("PIL.Image.LINEAR")


def _patch_numpy_aliases() -> None:
    import numpy as np

    for alias, builtin in (("int", int), ("float", float), ("bool", bool)):
        if alias not in np.__dict__:
            try:
                getattr(np, alias)
            except AttributeError:
                setattr(np, alias, builtin)
                _APPLIED.append(f"numpy.{alias}")


_HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")


def _history_buffer_getattr(owner, name: str):
    """Stand-in for ``builtins.getattr`` while unpickling: HistoryBuffer's statistics only."""
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f"refusing getattr({owner!r}, {name!r}) while loading with weights_only=True: only "
        f"HistoryBuffer.{{{', '.join(_HISTORY_BUFFER_STATISTICS)}}} are allowed "
        "(dff_common.compat.allow_mmengine_checkpoints)"
    )


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read checkpoints written by mmengine's Runner.

    Registers as safe globals mmengine's ``HistoryBuffer``, numpy's array/scalar
    reconstructors and dtype classes (under their numpy 1 and numpy 2 module paths), and the
    restricted ``getattr`` stand-in. Applies only when mmengine is installed and torch has
    ``add_safe_globals``; idempotent.
    """
    import torch.serialization

    name = "torch.serialization.add_safe_globals[mmengine checkpoints]"
    if name in _APPLIED or not hasattr(torch.serialization, "add_safe_globals"):
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
    _APPLIED.append(name)


def apply() -> list[str]:
    """Apply every shim that is needed here; returns the names of those applied so far."""
    _patch_detectron2_extension()
    _patch_mmcv_extension()
    _patch_pillow()
    _patch_numpy_aliases()
    allow_mmengine_checkpoints()
    return applied_shims()


def applied_shims() -> list[str]:
    """Names of the shims applied in this process (for logs and environment reports)."""
    return list(dict.fromkeys(_APPLIED))
