"""Import shims that let the installable builds of detectron2 0.6 and mmcv-lite import and run.

Installed with the package as ``dff_compat.pth`` in site-packages, so that :func:`install` runs
at the start of every Python process of the environment: the shims are in place whatever is
imported first (a user's script that imports detectron2 before the plugin, the processes that
detectron2's ``launch`` spawns). ``import dff_detectron2`` / ``import dff_mmseg`` call
:func:`install` too, for environments without the ``.pth``.

:func:`install` only puts a finder first on ``sys.meta_path``; it imports nothing. When a
framework's top-level package is first imported, the finder applies that framework's shims,
each only where the real thing is missing:

* **detectron2** (pure-Python build of the ``pb1-detectron2`` 0.6 sdist, which has no C++
  sources): a placeholder for ``detectron2._C`` whose ops raise naming the op (deformable conv,
  rotated boxes, the C++ COCO evaluation; DFF uses none of them); Pillow >= 10 removed
  ``Image.LINEAR`` (a default argument in ``data/transforms/transform.py``), aliased to
  ``Image.BILINEAR``, its old meaning; numpy >= 1.24 removed ``np.int``, ``np.float``,
  ``np.bool``, which detectron2 0.6 still uses, aliased to the builtins they always meant.
* **mmcv** (mmcv-lite: full mmcv 2.1 does not compile against torch 2.14): a placeholder for
  ``mmcv._ext``, which ``mmseg.models`` reaches through ``mmcv.ops``.

A source build with its compiled extension is used untouched. This module imports only the
standard library, so the ``.pth`` costs nothing at start-up.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types

__all__ = [
    "MissingExtensionError",
    "applied_shims",
    "extension_missing",
    "install",
    "placeholder_extension",
    "register_placeholder",
]

_APPLIED: list[str] = []

_DETECTRON2_HOW_TO_BUILD = (
    "build detectron2 from source with its C++/CUDA extension "
    "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html)"
)
_MMCV_HOW_TO_BUILD = (
    "install the full mmcv with compiled ops instead of mmcv-lite "
    "(`pip install mmcv` with a matching compiler, see the mmcv installation guide)"
)


class MissingExtensionError(RuntimeError):
    """Raised when an operator of a compiled extension that is not installed is called."""


class _PlaceholderExtension(types.ModuleType):
    """A module standing in for a missing compiled extension: every attribute is an op that
    raises :class:`MissingExtensionError` naming the op and how to get a compiled build."""

    def __init__(self, name: str, how_to_build: str, info: dict | None = None):
        super().__init__(name)
        self.__dict__["_dff_placeholder"] = True
        self.__dict__["_how_to_build"] = how_to_build
        for key, value in (info or {}).items():
            self.__dict__[key] = value

    def __getattr__(self, op: str):
        if op.startswith("__"):
            raise AttributeError(op)
        ext, how = self.__name__, self.__dict__["_how_to_build"]

        def missing(*args, **kwargs):
            raise MissingExtensionError(
                f"`{ext}.{op}` needs the compiled extension `{ext}`, which is not installed "
                f"(a pure-Python build is in use; placeholder from dff_compat). "
                f"To use this op, {how}."
            )

        missing.__name__ = op
        return missing


def placeholder_extension(
    name: str, how_to_build: str = "install a compiled build", info: dict | None = None
) -> types.ModuleType:
    """Build (without registering) a placeholder module for the extension ``name``.

    Args:
        name (str): the extension's module name, e.g. ``"detectron2._C"``.
        how_to_build (str): how to get the real extension, for the error message.
        info (dict, optional): real attributes of the placeholder (e.g. version getters).
    """
    return _PlaceholderExtension(name, how_to_build, info)


def _search_locations(package: str) -> list[str] | None:
    """Where the submodules of ``package`` live, found without importing it."""
    module = sys.modules.get(package)
    if module is not None:
        return list(getattr(module, "__path__", []) or [])
    for finder in sys.meta_path:
        if isinstance(finder, _ShimFinder) or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(package, None)
        if spec is not None:
            return list(spec.submodule_search_locations or [])
    return None


def extension_missing(name: str) -> bool:
    """True when the extension ``name`` (e.g. ``detectron2._C``) is neither imported nor on
    disk, while its package is installed. Imports nothing."""
    package, _, _ = name.rpartition(".")
    if name in sys.modules:
        return False
    locations = _search_locations(package)
    if not locations:
        return False  # the framework itself is not installed: nothing to patch
    return importlib.machinery.PathFinder.find_spec(name, locations) is None


class _PlaceholderLoader:
    """Loads a placeholder extension when it is first imported (its parent then gets it as an
    attribute, as for any submodule)."""

    def __init__(self, how_to_build: str, info: dict | None):
        self.how_to_build, self.info = how_to_build, info

    def create_module(self, spec):
        return placeholder_extension(spec.name, self.how_to_build, self.info)

    def exec_module(self, module):
        # no loader once loaded: pkgutil.find_loader("mmcv._ext") (mmengine) reports no
        # loadable extension
        module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)


_PENDING: dict[str, _PlaceholderLoader] = {}  # placeholders whose package is not imported yet


def register_placeholder(name: str, how_to_build: str, info: dict | None = None) -> bool:
    """Register a placeholder for the extension ``name`` if, and only if, it is missing.

    Imports nothing: if the package is not imported yet, the placeholder is loaded on the
    extension's first import.

    Returns:
        bool: whether a placeholder was registered (False: the real extension, or no package).
    """
    if not extension_missing(name):
        return False
    package, _, leaf = name.rpartition(".")
    loader = _PlaceholderLoader(how_to_build, info)
    if package in sys.modules:
        module = loader.create_module(importlib.machinery.ModuleSpec(name, loader))
        loader.exec_module(module)
        sys.modules[name] = module
        setattr(sys.modules[package], leaf, module)
    else:
        _PENDING[name] = loader
        install()
    _APPLIED.append(name)
    return True


def _alias_pillow_linear() -> None:
    from PIL import Image

    if not hasattr(Image, "LINEAR"):
        Image.LINEAR = Image.BILINEAR  # the meaning it had before Pillow 10
        _APPLIED.append("PIL.Image.LINEAR")


def _alias_numpy_builtins() -> None:
    import numpy as np

    for alias, builtin in (("int", int), ("float", float), ("bool", bool)):
        if alias not in np.__dict__:
            try:
                getattr(np, alias)
            except AttributeError:
                setattr(np, alias, builtin)
                _APPLIED.append(f"numpy.{alias}")


def _detectron2_shims() -> None:
    register_placeholder(
        "detectron2._C",
        _DETECTRON2_HOW_TO_BUILD,
        {  # detectron2.utils.collect_env reads these three from a real build
            "get_compiler_version": lambda: "none (pure-Python detectron2 build)",
            "get_cuda_version": lambda: "none (pure-Python detectron2 build)",
            "has_cuda": lambda: False,
        },
    )
    _alias_pillow_linear()
    _alias_numpy_builtins()


def _mmcv_shims() -> None:
    register_placeholder("mmcv._ext", _MMCV_HOW_TO_BUILD)


# top-level package -> the shims applied before its first import
_SHIMS = {"detectron2": _detectron2_shims, "mmcv": _mmcv_shims}


class _ShimFinder:
    """A ``sys.meta_path`` finder: on the first import of a framework in ``_SHIMS`` it applies
    that framework's shims and lets the import go on; it finds the placeholders registered
    before their package was imported, and nothing else."""

    def __init__(self):
        self.done: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if name in _PENDING:
            return importlib.machinery.ModuleSpec(name, _PENDING.pop(name))
        if name in _SHIMS and name not in self.done:
            self.done.add(name)
            _SHIMS[name]()
        return None


def install() -> list[str]:
    """Put the shim finder first on ``sys.meta_path`` (once); the shims of a framework that is
    already imported are applied at once. Idempotent.

    Returns:
        list[str]: the names of the shims applied in this process so far.
    """
    finder = next((f for f in sys.meta_path if isinstance(f, _ShimFinder)), None)
    if finder is None:
        finder = _ShimFinder()
        sys.meta_path.insert(0, finder)
    for name in _SHIMS:
        if name in sys.modules and name not in finder.done:
            finder.find_spec(name)
    return applied_shims()


def applied_shims() -> list[str]:
    """Names of the shims applied in this process (for logs and environment reports)."""
    return list(dict.fromkeys(_APPLIED))
