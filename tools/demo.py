#!/usr/bin/env python
"""Video demo of Deep Feature Flow: Algorithm 1 (Zhu et al., CVPR 2017) over a video or frames.

    python tools/demo.py --config CONFIG --checkpoint CKPT --input VIDEO_OR_FRAME_FOLDER
        --output out.mp4 [--interval L | --adaptive [--max-flow ...]] [--max-frames N]
        [--overwrite] [opts ...]

A detectron2 YAML config (``configs/dff_detectron2``; trailing ``KEY VALUE`` opts) draws boxes
with class names and scores (``dff_detectron2.demo``); an mmseg Python config
(``configs/dff_mmseg``; trailing ``KEY=VALUE`` opts) draws the segmentation as a colour overlay
(``dff_mmseg.demo``). Every frame goes through ``dff_common``'s
:class:`~dff_common.engine.DFFInferenceEngine`: N_feat on key frames, the propagation F + S + W
on the others, N_task on all (Algorithm 1). Key frames are fixed every ``--interval`` frames or
adaptive (``--adaptive``); by default the config's scheduler. Key frames get a red border and a
"KEY" tag; every frame shows the running frames per second of the model (frame decoding,
drawing and writing excluded). The output is a video (mp4v) or, when ``--output`` has no
suffix or is a folder, numbered PNG frames (``dff_common.video_io``, ``dff_common.demo``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from dff_common.demo import DemoSummary, run_demo
from dff_common.plugins import plugin_of
from dff_common.scheduler import KeyFrameScheduler, build_scheduler
from dff_common.timing import Timer
from dff_common.video_io import FrameReader, FrameReadError, FrameWriter

logger = logging.getLogger("dff.demo")


def build_demo(args: argparse.Namespace, scheduler: KeyFrameScheduler | None):
    """The demo of ``args.config``'s framework: detectron2 for ``.yaml``/``.yml``, mmseg for
    ``.py`` (its ``KEY=VALUE`` opts parsed as mmseg's ``--cfg-options``)."""
    if plugin_of(args.config) == "dff_mmseg":
        import dff_mmseg  # noqa: F401  (compat shims before mmseg, registrations)

        # isort: split
        from mmengine.config import DictAction

        from dff_mmseg.demo import build_segmentation_demo

        options = None
        if args.opts:
            parser = argparse.ArgumentParser()
            parser.add_argument("opts", nargs="+", action=DictAction)
            options = parser.parse_args(args.opts).opts
        return build_segmentation_demo(
            args.config, args.checkpoint, args.device, options, scheduler, args.opacity
        )
    import dff_detectron2  # noqa: F401  (compat shims, registrations, datasets' class names)

    # isort: split
    from dff_detectron2.demo import build_detection_demo

    return build_detection_demo(
        args.config, args.checkpoint, args.device, args.opts, scheduler, args.score_threshold
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="detectron2 .yaml or mmseg .py config")
    parser.add_argument("--checkpoint", required=True, help="trained weights of the whole model")
    parser.add_argument("--input", required=True, help="video file or folder of jpg/png frames")
    parser.add_argument("--output", required=True, help="video (.mp4, .avi, ...) or folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--interval", type=int, help="fixed key frame duration l (Sec. 3)")
    keys.add_argument("--adaptive", action="store_true", help="AdaptiveScheduler key frames")
    adaptive = parser.add_argument_group("--adaptive settings (AdaptiveScheduler's defaults)")
    adaptive.add_argument("--max-flow", type=float, help="feature pixels")
    adaptive.add_argument("--max-inconsistent-fraction", type=float)
    adaptive.add_argument("--min-interval", type=int)
    adaptive.add_argument("--max-interval", type=int)
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--fps", type=float, default=10.0, help="output rate for frame folders")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--score-threshold", type=float, default=0.5, help="detection only")
    parser.add_argument("--opacity", type=float, default=0.5, help="segmentation overlay only")
    parser.add_argument(
        "opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE (yaml), KEY=VALUE (py)"
    )
    args = parser.parse_args(argv)
    args.adaptive_cfg = {
        key: getattr(args, key)
        for key in ("max_flow", "max_inconsistent_fraction", "min_interval", "max_interval")
        if getattr(args, key) is not None
    }
    if args.adaptive_cfg and not args.adaptive:
        parser.error("--max-flow, --max-inconsistent-fraction, --min/max-interval need --adaptive")
    if args.max_frames is not None and args.max_frames < 1:
        parser.error("--max-frames must be >= 1")
    return args


def main(argv: list[str] | None = None) -> DemoSummary:
    """Run the demo from command-line arguments; returns its :class:`DemoSummary`."""
    args = parse_args(argv)
    config = Path(args.config)
    if not config.is_file():
        raise SystemExit(f"config file not found: {config}")
    try:
        plugin_of(config)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    if not Path(args.checkpoint).is_file():
        raise SystemExit(f"checkpoint not found: {args.checkpoint}")
    if Path(args.output).resolve() == Path(args.input).resolve():
        raise SystemExit(f"--output {args.output} is the input")
    try:
        scheduler = None
        if args.adaptive:
            scheduler = build_scheduler({"type": "adaptive", **args.adaptive_cfg})
        elif args.interval is not None:
            scheduler = build_scheduler({"type": "fixed", "interval": args.interval})
        reader = FrameReader(args.input)
        writer = FrameWriter(Path(args.output), reader.fps or args.fps, args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise SystemExit(f"error: {error}") from error
    demo = build_demo(args, scheduler)
    logger.info(f"key frames: {demo.engine.scheduler}; input {reader.path}")
    try:
        summary = run_demo(demo, reader, writer, args.max_frames, Timer(args.device))
    except FrameReadError as error:
        raise SystemExit(f"error: {error}") from error
    logger.info(
        f"wrote {summary.num_frames} frames to {summary.output}: {len(summary.key_frames)} key "
        f"frames {summary.key_frames[:20]}{' ...' if len(summary.key_frames) > 20 else ''}, "
        f"{summary.fps:.2f} fps (model)"
    )
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    main()
