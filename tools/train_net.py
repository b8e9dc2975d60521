#!/usr/bin/env python
"""Train or evaluate a DFF model: ``tools/train_net.py --config FILE [framework flags]``.

A YAML config goes to the Detectron2 plugin (detectron2's ``DefaultTrainer`` + ``launch``:
``--eval-only``, ``--resume``, ``--num-gpus``, ``--num-machines``, ``--machine-rank``,
``--dist-url``, trailing ``KEY VALUE`` opts); a ``.py`` config goes to the MMSegmentation plugin
(mmengine's ``Runner``: ``--work-dir``, ``--resume``, ``--eval-only [--checkpoint FILE]``,
``--cfg-options``, ``--launcher``). Everything after the config is passed through unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

USAGE = "usage: tools/train_net.py --config FILE [detectron2 or mmseg flags]"


def split_config(argv: list[str]) -> tuple[str, list[str]]:
    """Return (config path, remaining args) from ``--config FILE``/``--config-file FILE``/``=``."""
    for i, arg in enumerate(argv):
        for flag in ("--config", "--config-file"):
            if arg == flag:
                if i + 1 >= len(argv):
                    raise SystemExit(f"{flag} needs a file\n{USAGE}")
                return argv[i + 1], argv[:i] + argv[i + 2 :]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1], argv[:i] + argv[i + 1 :]
    raise SystemExit(f"no --config given\n{USAGE}")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--config" or a.startswith(("--config=", "--config-file")) for a in argv) and (
        "-h" in argv or "--help" in argv
    ):
        print(f"{USAGE}\n{__doc__}\nWith --config FILE, --help lists that framework's flags.")
        return
    config, rest = split_config(argv)
    path = Path(config)
    if not path.is_file():
        raise SystemExit(f"config file not found: {config}")
    if path.suffix in (".yaml", ".yml"):
        from dff_detectron2.train_net import main as detectron2_main

        detectron2_main(["--config-file", config, *rest])
    elif path.suffix == ".py":
        from dff_mmseg.train import main as mmseg_main

        mmseg_main([config, *rest])
    else:
        raise SystemExit(
            f"cannot tell the framework of {config}: expected a detectron2 .yaml or an mmseg .py"
        )


if __name__ == "__main__":
    main()
