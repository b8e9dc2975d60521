"""What the installable stack needs so that detectron2 0.6 imports and runs (CPU machines).

* **No C++ extension.** Only third-party sdists of detectron2 0.6 install from PyPI, without the
  C++ sources: ``detectron2._C`` is missing and ``import detectron2.layers`` fails. A
  placeholder (``dff_common.compat``) is registered whose ops raise naming the op (deformable
  conv, rotated boxes, the C++ COCO evaluation); DFF uses none of them. A source build of
  detectron2 (with ``_C``) is used untouched.
* **Pillow >= 10** removed ``Image.LINEAR`` (a default argument in detectron2 0.6's
  ``data/transforms/transform.py``): aliased to ``Image.BILINEAR``, its old meaning.
* **numpy >= 1.24** removed ``np.int``, ``np.float``, ``np.bool``, which detectron2 0.6 still
  uses (data/build.py, evaluation/sem_seg_evaluation.py, structures/masks.py, ...): aliased to
  the builtins they always meant.

Each applies only where the real thing is missing; :func:`apply` is idempotent and runs on
``import dff_detectron2``, before the first detectron2 import.
"""

from dff_common.compat import applied_shims, record_shim, register_placeholder

__all__ = ["apply"]

HOW_TO_BUILD = (
    "build detectron2 from source with its C++/CUDA extension "
    "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html)"
)


def _patch_pillow() -> None:
    from PIL import Image

    if not hasattr(Image, "LINEAR"):
        Image.LINEAR = Image.BILINEAR  # the meaning it had before Pillow 10
        record_shim("PIL.Image.LINEAR")


def _patch_numpy_aliases() -> None:
    import numpy as np

    for alias, builtin in (("int", int), ("float", float), ("bool", bool)):
        if alias not in np.__dict__:
            try:
                getattr(np, alias)
            except AttributeError:
                setattr(np, alias, builtin)
                record_shim(f"numpy.{alias}")


def apply() -> list[str]:
    """Apply the shims detectron2 needs here; returns the names of those applied so far."""
    register_placeholder(
        "detectron2._C",
        HOW_TO_BUILD,
        {  # detectron2.utils.collect_env reads these three from a real build
            "get_compiler_version": lambda: "none (pure-Python detectron2 build)",
            "get_cuda_version": lambda: "none (pure-Python detectron2 build)",
            "has_cuda": lambda: False,
        },
    )
    _patch_pillow()
    _patch_numpy_aliases()
    return applied_shims()
