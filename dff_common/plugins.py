"""Which plugin reads a config file: detectron2 YAML (``.yaml``, ``.yml``) or mmseg Python
(``.py``), by its suffix, the one place the tools decide it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PLUGINS", "plugin_of"]

PLUGINS = {".yaml": "dff_detectron2", ".yml": "dff_detectron2", ".py": "dff_mmseg"}


def plugin_of(config: str | os.PathLike) -> str:
    """``"dff_detectron2"`` or ``"dff_mmseg"``, the plugin of the config file ``config``.

    Raises:
        ValueError: naming the file, for any other suffix.
    """
    plugin = PLUGINS.get(Path(config).suffix.lower())
    if plugin is None:
        raise ValueError(
            f"cannot tell the framework of {config}: expected a detectron2 .yaml or an mmseg .py"
        )
    return plugin
