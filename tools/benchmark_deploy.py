#!/usr/bin/env python
"""Fast inference paths of Algorithm 1 side by side: eager fp32, compile, channels_last,
autocast, onnxruntime; time per frame, speedup, output difference and accuracy change.

    python tools/benchmark_deploy.py --config CONFIG [--checkpoint CKPT] --data ROOT
        [--interval L] [--options NAME ...] [--no-onnx] [--rounds R] [--threads T]
        [--cpu-time] [--max-clips N] [--work-dir DIR] [--overwrite] [opts ...]

An mmseg ``.py`` config scores the mIoU of each clip's annotated frame on the val split of a
Cityscapes-layout ROOT (``dff_mmseg.deploy``); a detectron2 ``.yaml`` config scores the VID
mAP on the ``vid_val`` split of an ILSVRC2015-layout ROOT, with N_feat and the propagation
accelerated or exported and the R-FCN task network in Python (``dff_detectron2.deploy``).
Without ``--checkpoint`` the model keeps its random initial weights (accuracies then mean
nothing). The work is done by ``dff_common.deploy_benchmark.compare_deploy``; the ONNX files
go to ``<work-dir>/key.onnx`` and ``propagation.onnx``, the table to ``results.json``; files
of an earlier run are replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from dff_common.deploy_benchmark import OPTIONS, compare_deploy
from dff_common.scheduler import FixedIntervalScheduler


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="detectron2 .yaml or mmseg .py config")
    parser.add_argument("--checkpoint", help="trained weights (default: random weights)")
    parser.add_argument("--data", required=True, help="dataset root in the real layout")
    parser.add_argument("--interval", type=int, help="key frame duration l (default: config's)")
    parser.add_argument(
        "--options", nargs="+", choices=sorted(OPTIONS), default=list(OPTIONS), metavar="NAME",
        help=f"engine options to compare with eager fp32, of: {', '.join(OPTIONS)}",
    )  # fmt: skip
    parser.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime row")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per variant")
    parser.add_argument("--threads", type=int, help="torch (and onnxruntime) threads")
    parser.add_argument("--cpu-time", action="store_true", help="time by process CPU time")
    parser.add_argument(
        "--max-clips", type=int, help="segmentation: the first N clips only (detection: all)"
    )
    parser.add_argument("--work-dir", default="work_dirs/benchmark_deploy")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's files")
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE (yaml), KEY=VALUE (py)"
    )
    args = parser.parse_args(argv)
    if Path(args.config).suffix not in (".py", ".yaml", ".yml"):
        parser.error(f"cannot tell the framework of {args.config}: expected .yaml or .py")
    if args.rounds < 1 or (args.max_clips is not None and args.max_clips < 1):
        parser.error("--rounds and --max-clips must be >= 1")
    if args.max_clips and Path(args.config).suffix != ".py":
        parser.error("--max-clips is for segmentation only: the VID mAP needs the whole split")
    results = Path(args.work_dir) / "results.json"
    if results.exists() and not args.overwrite:
        parser.error(f"{results} exists (an earlier run); pass --overwrite to replace it")
    return args


def segmentation(args: argparse.Namespace):
    """Parts, clips, scoring function and default l of an mmseg DFF segmentor."""
    from mmengine.config import DictAction

    import dff_mmseg  # noqa: F401  (registers the plugin)
    from dff_mmseg.apis import load_model
    from dff_mmseg.deploy import deploy_parts, miou_score, val_clips

    cfg_options = None
    if args.opts:  # KEY=VALUE pairs, parsed as mmseg's --cfg-options
        options = argparse.ArgumentParser(prog="opts")
        options.add_argument("opts", nargs="+", action=DictAction)
        cfg_options = options.parse_args(args.opts).opts
    model = load_model(args.config, args.checkpoint, cfg_options=cfg_options)
    loads = [t for t in model.cfg.test_dataloader.dataset.pipeline if t.type == "LoadVideoFrames"]
    channel_order = loads[0].get("channel_order", "bgr") if loads else "bgr"
    clips, labels = val_clips(model, args.data, channel_order=channel_order)
    clips, labels = clips[: args.max_clips], labels[: args.max_clips]
    head = model.decode_head
    score = miou_score(labels, head.num_classes, head.ignore_index, head.align_corners)
    return deploy_parts(model), clips, score, model.interval, "mIoU"


def detection(args: argparse.Namespace):
    """Parts, clips, scoring function and default l of a detectron2 DFF detector."""
    import dff_detectron2  # noqa: F401  (applies the compat shims)
    from dff_detectron2.data_loader import build_dff_test_loader
    from dff_detectron2.dataset_mapper import DFFPairDatasetMapper
    from dff_detectron2.datasets import register_imagenet_vid
    from dff_detectron2.deploy import deploy_parts, val_clips, vid_map_score
    from dff_detectron2.evaluator import VIDEvaluator
    from dff_detectron2.load import get_dff_cfg, load_model

    name = [n for n in register_imagenet_vid(args.data, "deploy") if n.endswith("_vid_val")][0]
    cfg = get_dff_cfg(args.config, [*args.opts, "DATASETS.TEST", (name,)])
    model = load_model(cfg, args.checkpoint or "")
    loader = build_dff_test_loader(cfg, name, DFFPairDatasetMapper(cfg, is_train=False))
    clips, inputs = val_clips(model, loader)
    score = vid_map_score(model, VIDEvaluator(name, distributed=False), inputs)
    return deploy_parts(model), clips, score, cfg.MODEL.DFF.KEY_FRAME_INTERVAL, "VID mAP"


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main(argv=None) -> list:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    is_detection = Path(args.config).suffix in (".yaml", ".yml")
    with torch.no_grad():
        parts, clips, score, interval, metric = (detection if is_detection else segmentation)(args)
    interval = args.interval or interval
    clock = time.process_time if args.cpu_time else time.perf_counter
    frames = sum(len(c) for c in clips)
    print(
        f"{len(clips)} clips, {frames} frames of {tuple(clips[0].shape[2:])}, l = {interval}, "
        f"{torch.get_num_threads()} threads, {'CPU' if args.cpu_time else 'wall'} time, "
        f"weights: {args.checkpoint or 'random'}",
        flush=True,
    )
    rows = compare_deploy(
        parts,
        FixedIntervalScheduler(interval),
        clips,
        options={name: OPTIONS[name] for name in args.options},
        onnx_dir=None if args.no_onnx else args.work_dir,
        overwrite=args.overwrite,
        rounds=args.rounds,
        score=score,
        clock=clock,
        log=lambda message: print(f"  ... {message}", flush=True),
    )
    print(f"\n{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'variant':<36} {'ms/frame':>9} {'speedup':>8} {'max |diff|':>11} {'relative':>9} "
          f"{metric:>8} {'change':>7}")  # fmt: skip
    for row in rows:
        print(
            f"{row.name:<36} {row.ms_per_frame:>9.1f} {row.speedup:>7.2f}x "
            f"{row.max_abs_diff:>11.2e} {row.relative_diff:>9.1e} {row.score:>8.2f} "
            f"{row.score_delta:>+7.2f}"
        )
    os.makedirs(args.work_dir, exist_ok=True)
    results = Path(args.work_dir) / "results.json"
    results.write_text(json.dumps([vars(r) for r in rows], indent=1))
    print(f"results: {results}", flush=True)
    return rows


if __name__ == "__main__":
    main()
