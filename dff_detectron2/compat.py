"""What the installable stack needs so that detectron2 0.6 imports and runs (CPU machines).

The shims themselves (the ``detectron2._C`` placeholder, Pillow's ``Image.LINEAR``, numpy's
``np.int`` / ``np.float`` / ``np.bool``) are in :mod:`dff_compat`, installed with the package
so that they are in place in every process before detectron2 is imported; :func:`apply` makes
sure of it where the package's ``.pth`` is not installed.
"""

import dff_compat

__all__ = ["apply"]


def apply() -> list[str]:
    """Install the import shims (idempotent); returns the names of those applied so far."""
    return dff_compat.install()
