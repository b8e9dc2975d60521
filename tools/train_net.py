#!/usr/bin/env python
"""Train or evaluate a DFF model: ``tools/train_net.py --config FILE [framework flags]``.

A YAML config goes to the Detectron2 plugin (detectron2's ``DefaultTrainer`` + ``launch``:
``--eval-only``, ``--resume``, ``--num-gpus``, ``--num-machines``, ``--machine-rank``,
``--dist-url``, trailing ``KEY VALUE`` opts); a ``.py`` config goes to the MMSegmentation plugin
(mmengine's ``Runner``: ``--work-dir``, ``--resume``, ``--eval-only [--checkpoint FILE]``,
``--cfg-options``, ``--launcher``). Everything after the config is passed through unchanged.
Before training, a warning says when Eq. 7 predicts DFF under 1.5x faster (:func:`speed_advice`).
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
    from dff_common.plugins import plugin_of

    try:
        plugin = plugin_of(path)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    if plugin == "dff_detectron2":
        train_detectron2(["--config-file", config, *rest])
    else:
        train_mmseg([config, *rest])


def speed_advice(config: str, opts=(), cfg_options: dict | None = None, built=None) -> str | None:
    """What to change when DFF of ``config`` would not be 1.5x faster than its image model at
    its l (Eq. 5 and 7 by multiply-adds at the config's test size, counted on zero frames with
    random weights: ``dff_common.complexity.speedup_advice``); None when it would be. An mmseg
    config already built by ``dff_mmseg.train.build_config`` may be given as ``built``."""
    import torch

    from dff_common.complexity import measure_complexity, speedup_advice
    from dff_common.plugins import plugin_of

    if plugin_of(config) == "dff_detectron2":
        from dff_detectron2 import get_dff_cfg, inference, load_model

        cfg = get_dff_cfg(config, [*opts, "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
        size = (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
        model = load_model(cfg)
        networks = inference.engine_networks(model, size)
        interval = getattr(model.scheduler, "interval", None)
    else:
        import dff_mmseg
        from dff_mmseg import inference
        from dff_mmseg.train import build_config

        cfg = built or build_config(config, cfg_options=cfg_options)
        size = _mmseg_test_size(cfg)
        if size is None:
            return None
        model = dff_mmseg.load_model(cfg)
        networks, interval = inference.engine_networks(model), model.interval
    feature_net, task_net, propagation = networks
    if propagation is None or not interval:
        return None
    print(f"{config}: predicting DFF's speedup at {size[0]}x{size[1]} (Eq. 5, 7)", flush=True)
    frames = torch.zeros(1, 3, *size)
    with torch.no_grad():
        macs = measure_complexity(
            feature_net, propagation.flow_net, lambda features: task_net(features, frames),
            size, propagation.flow_input_scale,
        )  # fmt: skip
    return speedup_advice(macs, interval)


def _mmseg_test_size(cfg) -> tuple[int, int] | None:
    """``(H, W)`` of the frames an mmseg config tests on: its preprocessor's ``size``, else the
    ``Resize`` scale (W, H) of its test pipeline."""
    size = cfg.model.get("data_preprocessor", {}).get("size")
    if size:
        return tuple(size)
    pipeline = cfg.get("test_pipeline") or cfg.get("test_dataloader", {}).get("dataset", {}).get(
        "pipeline", []
    )
    for step in pipeline:
        if step.get("type") == "Resize" and isinstance(step.get("scale"), (tuple, list)):
            width, height = step["scale"]
            return (height, width)
    return None


def _warn_when_slow(advice: str | None) -> None:
    if advice:
        print(f"warning: {advice}", flush=True)


def train_detectron2(argv: list[str]) -> None:
    """detectron2's flags; the output dir checked, then ``launch`` of one process's work."""
    from dff_detectron2 import get_dff_cfg
    from dff_detectron2.engine import (
        argument_parser,
        check_output_dir_of,
        launch,
        train_or_evaluate,
    )

    parser = argument_parser()
    args = parser.parse_args(argv)
    if not args.config_file:
        parser.error("--config-file (or --config) is required")
    if not args.eval_only:  # before default_setup rewrites OUTPUT_DIR/config.yaml
        check_output_dir_of(get_dff_cfg(args.config_file, args.opts), args.resume, args.overwrite)
        _warn_when_slow(speed_advice(args.config_file, args.opts))
    launch(
        train_or_evaluate,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )


def train_mmseg(argv: list[str]):
    """mmseg's flags; training, or the test loop's metrics with ``--eval-only``."""
    import os

    from dff_mmseg.train import argument_parser, build_config, run

    parser = argument_parser()
    args = parser.parse_args(argv)
    if args.checkpoint and not args.eval_only:
        parser.error("--checkpoint is for --eval-only (use load_from or --resume to train)")
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    cfg = build_config(
        args.config, work_dir=args.work_dir, cfg_options=args.cfg_options, launcher=args.launcher,
        amp=args.amp, resume=args.resume, eval_only=args.eval_only, checkpoint=args.checkpoint,
    )  # fmt: skip
    if not args.eval_only and int(os.environ.get("RANK", "0")) == 0:
        _warn_when_slow(speed_advice(args.config, built=cfg))
    return run(cfg, eval_only=args.eval_only, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
