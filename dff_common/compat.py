"""Placeholders for missing compiled extensions of a framework (framework-free mechanism).

A pure-Python build of a framework may lack its compiled extension (``<package>._C``,
``<package>._ext``) while most of the package works without it, except that some module
imports it. :func:`register_placeholder` registers, only when the extension is missing, a
module whose every attribute is an op that raises :class:`MissingExtensionError` naming the
op and how to get a compiled build: modules that merely import the extension work, and
calling an op fails clearly. The plugins name their framework's extensions and their other
adaptations in their own ``compat`` modules (``dff_detectron2.compat``, ``dff_mmseg.compat``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

__all__ = [
    "MissingExtensionError",
    "applied_shims",
    "extension_missing",
    "placeholder_extension",
    "record_shim",
    "register_placeholder",
]

_APPLIED: list[str] = []


class MissingExtensionError(RuntimeError):
    """Raised when an operator of a compiled extension that is not installed is called."""


class _PlaceholderExtension(types.ModuleType):
    """A module standing in for a missing compiled extension (see the module docstring)."""

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
                f"(a pure-Python build is in use; placeholder from dff_common.compat). "
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


def extension_missing(name: str) -> bool:
    """True when ``name`` (e.g. ``detectron2._C``) cannot be imported but its package can."""
    package = name.rpartition(".")[0]
    if importlib.util.find_spec(package) is None:
        return False  # the framework itself is not installed: nothing to patch
    if name in sys.modules:
        return False
    return importlib.util.find_spec(name) is None


def record_shim(name: str) -> None:
    """Note that the shim ``name`` was applied in this process (see :func:`applied_shims`)."""
    _APPLIED.append(name)


def register_placeholder(name: str, how_to_build: str, info: dict | None = None) -> bool:
    """Register a placeholder for the extension ``name`` if, and only if, it is missing.

    Returns:
        bool: whether a placeholder was registered (False: the real extension, or no package).
    """
    if not extension_missing(name):
        return False
    module = placeholder_extension(name, how_to_build, info)
    # a spec without a loader: importlib.util.find_spec(name) works (mmengine's Runner calls
    # pkgutil.find_loader("mmcv._ext"), which raises on a module whose __spec__ is None) and
    # reports no loadable extension
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = module
    parent = sys.modules.get(name.rpartition(".")[0])
    if parent is not None:
        setattr(parent, name.rpartition(".")[2], module)
    record_shim(name)
    return True


def applied_shims() -> list[str]:
    """Names of the shims applied in this process (for logs and environment reports)."""
    return list(dict.fromkeys(_APPLIED))
