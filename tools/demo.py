#!/usr/bin/env python
"""Video demo of Deep Feature Flow: Algorithm 1 (Zhu et al., CVPR 2017) over a video or frames.

    python tools/demo.py --config CONFIG --checkpoint CKPT --input VIDEO_OR_FRAME_FOLDER
        --output out.mp4 [--interval L | --adaptive [--max-flow ...]] [--max-frames N]
        [--overwrite] [opts ...]

A detectron2 YAML config (``configs/dff_detectron2``; trailing ``KEY VALUE`` opts) draws boxes
with class names and scores; an mmseg Python config (``configs/dff_mmseg``; trailing
``KEY=VALUE`` opts) draws the segmentation as a colour overlay. Every frame goes through
``dff_common``'s :class:`~dff_common.engine.DFFInferenceEngine`: N_feat on key frames, the
propagation F + S + W on the others, N_task on all (Algorithm 1). Key frames are fixed every
``--interval`` frames or adaptive (``--adaptive``); by default the config's scheduler. Key
frames get a red border and a "KEY" tag; every frame shows the running frames per second of
the model (frame decoding, drawing and writing excluded). The output is a video (mp4v) or, when
``--output`` has no suffix or is a folder, numbered PNG frames.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import FixedIntervalScheduler, KeyFrameScheduler, build_scheduler

logger = logging.getLogger("dff.demo")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
VIDEO_ID = "demo"  # the engine's id of the one video processed
KEY_COLOR = (0, 0, 255)  # BGR red


class FrameReadError(ValueError):
    """An input that yields no frames, or a frame that cannot be decoded."""


def natural_key(name: str) -> list:
    """Sort key putting ``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class FrameReader:
    """The frames of a video file or of a folder of ``.jpg``/``.jpeg``/``.png`` images.

    Folder frames are read in natural name order; a folder's other entries are ignored, with a
    warning. Iterating yields ``(index, frame)``, ``frame`` a ``(H, W, 3)`` uint8 BGR array;
    every frame must have the size of the first. Nothing is skipped: a frame that cannot be
    decoded raises :class:`FrameReadError` naming its file (folder) or index (video).

    Args:
        path (str | Path): a video file (anything ``cv2.VideoCapture`` opens) or a folder.

    Attributes:
        num_frames (int | None): frame count (of the folder, or the video's header; None when
            the video does not tell).
        fps (float | None): frame rate of a video (None for a folder or when unknown).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FrameReadError: an empty folder or a video that cannot be opened.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.files: list[Path] | None = None
        self.fps = None
        if not self.path.exists():
            raise FileNotFoundError(f"input not found: {self.path}")
        if self.path.is_dir():
            entries = sorted(self.path.iterdir(), key=lambda p: natural_key(p.name))
            self.files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            others = [p.name for p in entries if p not in self.files]
            if not self.files:
                found = f"; it holds only: {', '.join(others[:5])}" if others else " (it is empty)"
                raise FrameReadError(f"no {'/'.join(IMAGE_SUFFIXES)} frames in {self.path}{found}")
            if others:
                logger.warning(
                    f"{self.path}: ignoring {len(others)} entries that are not "
                    f"{'/'.join(IMAGE_SUFFIXES)} files: {', '.join(others[:5])}"
                )
            self.num_frames = len(self.files)
        else:
            capture = cv2.VideoCapture(str(self.path))
            try:
                if not capture.isOpened():
                    raise FrameReadError(
                        f"cannot open video {self.path}: not a video file, or a codec that "
                        "OpenCV's video backends cannot decode"
                    )
                count, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
            finally:
                capture.release()
            self.num_frames = int(count) if count > 0 else None
            self.fps = fps if fps > 0 else None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        frames = self._read_folder() if self.files is not None else self._read_video()
        size = None
        for index, frame in frames:
            if size is None:
                size = frame.shape
            elif frame.shape != size:
                where = (
                    self.files[index] if self.files is not None else f"{self.path} frame {index}"
                )
                raise FrameReadError(
                    f"{where}: frame of size {frame.shape[1]}x{frame.shape[0]}, but the first "
                    f"frame is {size[1]}x{size[0]}; all frames must have one size"
                )
            yield index, frame

    def _read_folder(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, file in enumerate(self.files):
            try:  # PIL, unlike cv2.imread, raises on a truncated file instead of padding it
                with Image.open(file) as image:
                    rgb = np.asarray(image.convert("RGB"))
            except (OSError, SyntaxError, ValueError) as error:  # UnidentifiedImageError too
                raise FrameReadError(f"cannot decode frame {index} {file}: {error}") from error
            yield index, np.ascontiguousarray(rgb[:, :, ::-1])

    def _read_video(self) -> Iterator[tuple[int, np.ndarray]]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while capture.grab():
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    raise FrameReadError(f"{self.path}: cannot decode frame {index}")
                yield index, frame
                index += 1
            if self.num_frames is not None and index < self.num_frames:
                raise FrameReadError(
                    f"{self.path}: cannot read frame {index}: the stream ended after {index} of "
                    f"the {self.num_frames} frames its header announces (truncated or corrupt)"
                )
            if index == 0:
                raise FrameReadError(f"{self.path}: no frame could be read")
        finally:
            capture.release()


class FrameWriter:
    """Writes BGR frames to a video (mp4v) or, for a path without suffix, to numbered PNGs.

    Args:
        path (Path): output video file or folder.
        fps (float): frame rate of a video output.
        overwrite (bool): replace an existing video, or write into a non-empty folder (its
            ``frame_*.png`` files are removed first).

    Raises:
        FileExistsError: the output exists and ``overwrite`` is False.
        ValueError: an unknown output suffix.
    """

    def __init__(self, path: Path, fps: float, overwrite: bool):
        self.path, self.fps, self.video, self.count = Path(path), fps, None, 0
        self.is_folder = self.path.is_dir() or not self.path.suffix
        if not self.is_folder and self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(
                f"--output {self.path}: expected a video ({', '.join(VIDEO_SUFFIXES)}) or a folder"
            )
        exists = any(self.path.iterdir()) if self.path.is_dir() else self.path.exists()
        if exists and not overwrite:
            raise FileExistsError(f"output {self.path} exists; pass --overwrite to replace it")
        if self.is_folder:
            self.path.mkdir(parents=True, exist_ok=True)
            for old in self.path.glob("frame_*.png"):
                old.unlink()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: np.ndarray) -> None:
        if self.is_folder:
            file = self.path / f"frame_{self.count:06d}.png"
            if not cv2.imwrite(str(file), frame):
                raise OSError(f"cv2.imwrite cannot write {file}")
        else:
            if self.video is None:
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                size = (frame.shape[1], frame.shape[0])
                self.video = cv2.VideoWriter(str(self.path), fourcc, self.fps, size)
                if not self.video.isOpened():
                    raise OSError(f"cv2.VideoWriter cannot write {self.path} (mp4v)")
            self.video.write(frame)
        self.count += 1

    def close(self) -> None:
        if self.video is not None:
            self.video.release()


def resolve_scheduler(
    requested: KeyFrameScheduler | None, default: KeyFrameScheduler, has_flow: bool
) -> KeyFrameScheduler:
    """The requested scheduler, else the config's; per-frame models need ``l = 1``."""
    if has_flow:
        return requested or default
    if requested is None:
        return FixedIntervalScheduler(1)
    if not (isinstance(requested, FixedIntervalScheduler) and requested.interval == 1):
        raise ValueError(
            "the config has no flow network (a per-frame model): every frame is a key frame, "
            "run it with --interval 1 or without a scheduler option"
        )
    return requested


class SegmentationDemo:
    """A ``DFFSegmentor`` (mmseg) on single frames, through Algorithm 1.

    Args:
        model (DFFSegmentor): in eval mode.
        scheduler (KeyFrameScheduler): key-frame decisions (Algorithm 1, line 6).
        resize (list[Callable]): the config's test-pipeline ``Resize`` transforms.
        palette (np.ndarray): ``(C, 3)`` uint8 RGB colours of the C classes.
        opacity (float): weight of the colours in the overlay.
    """

    def __init__(self, model, scheduler, resize, palette, opacity: float):
        self.model, self.resize, self.opacity = model, resize, opacity
        self.palette_bgr = np.ascontiguousarray(palette[:, ::-1])
        n_task = model.n_task()
        self.engine = DFFInferenceEngine(
            model.n_feat(), lambda f, _: n_task(f), model.propagation, scheduler
        )

    @torch.no_grad()
    def infer(self, frame: np.ndarray, index: int):
        """Labels ``(H, W)`` of frame ``index`` at its size, with the engine's bookkeeping."""
        image = frame
        for transform in self.resize:
            image = transform(dict(img=image))["img"]
        device = self.model.data_preprocessor.mean.device
        chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device)
        inputs = self.model.data_preprocessor.normalize_frames(chw)[None]  # [1, 3, H', W']
        out = self.engine.step(inputs, [VIDEO_ID], [index])
        scores = F.interpolate(
            out.results, frame.shape[:2], mode="bilinear", align_corners=self.model.align_corners
        )
        return scores[0].argmax(0).cpu().numpy(), out.is_key[0], out.key_indices[0]

    def draw(self, frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
        colours = self.palette_bgr[labels].astype(np.float32)
        return (frame * (1 - self.opacity) + colours * self.opacity).astype(np.uint8)


class DetectionDemo:
    """A ``DFFRCNN`` (detectron2) on single frames, through Algorithm 1.

    The engine's task network is the identity, as in ``DFFRCNN.video_inference``: the R-FCN
    task network then runs on its features with the frame's ``ImageList``.

    Args:
        model (DFFRCNN): in eval mode.
        cfg (CfgNode): its config (test resize, input format, class names).
        scheduler (KeyFrameScheduler): key-frame decisions (Algorithm 1, line 6).
        score_threshold (float): detections below this score are not drawn.
    """

    def __init__(self, model, cfg, scheduler, score_threshold: float):
        from detectron2.data import MetadataCatalog
        from detectron2.data.transforms import ResizeShortestEdge

        self.model, self.score_threshold = model, score_threshold
        self.rgb = cfg.INPUT.FORMAT == "RGB"
        size = cfg.INPUT.MIN_SIZE_TEST
        self.resize = ResizeShortestEdge([size, size], cfg.INPUT.MAX_SIZE_TEST)
        self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0]) if cfg.DATASETS.TEST else None
        self.engine = DFFInferenceEngine(
            model.backbone.feature_part, lambda f, _: f, model.propagation, scheduler
        )

    @torch.no_grad()
    def infer(self, frame: np.ndarray, index: int):
        """Detections (``Instances`` on the CPU, at the frame's size) and the bookkeeping."""
        from detectron2.modeling.postprocessing import detector_postprocess

        image = frame[:, :, ::-1] if self.rgb else frame
        image = self.resize.get_transform(image).apply_image(image)
        chw = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype("float32"))
        (images,) = self.model.preprocess_image([{"image": chw}])
        out = self.engine.step(images.tensor, [VIDEO_ID], [index])
        (instances,) = self.model.task_network(out.results, images)[0]
        instances = detector_postprocess(instances, *frame.shape[:2]).to("cpu")
        instances = instances[instances.scores >= self.score_threshold]
        return instances, out.is_key[0], out.key_indices[0]

    def draw(self, frame: np.ndarray, instances) -> np.ndarray:
        from detectron2.utils.visualizer import Visualizer

        visualizer = Visualizer(frame[:, :, ::-1], self.metadata)
        drawn = visualizer.draw_instance_predictions(instances).get_image()  # RGB
        return np.ascontiguousarray(drawn[:, :, ::-1])


def build_segmentation_demo(args, scheduler: KeyFrameScheduler | None) -> SegmentationDemo:
    """Build the mmseg ``DFFSegmentor`` of ``args.config`` and load ``args.checkpoint``."""
    import dff_mmseg  # noqa: F401  (compat shims before mmseg, registrations)

    # isort: split
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS, TRANSFORMS
    from mmseg.utils import get_palette

    from dff_mmseg.models import DFFSegmentor

    cfg = Config.fromfile(args.config)
    if args.opts:  # KEY=VALUE pairs, parsed as mmseg's --cfg-options
        options = argparse.ArgumentParser()
        options.add_argument("opts", nargs="+", action=DictAction)
        cfg.merge_from_dict(options.parse_args(args.opts).opts)
    # the checkpoint holds every weight: skip the initial ImageNet / Flying Chairs ones
    cfg.model.feature_net.pretrained = None
    if cfg.model.get("flow_net") and "checkpoint" in cfg.model.flow_net:
        cfg.model.flow_net.checkpoint = None
    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = MODELS.build(cfg.model)
    if not isinstance(model, DFFSegmentor):
        raise ValueError(f"{args.config}: expected a DFFSegmentor, got {type(model).__name__}")
    checkpoint = load_checkpoint(model, args.checkpoint, map_location="cpu", logger="current")
    model.to(args.device).eval()
    meta = checkpoint.get("meta", {}).get("dataset_meta") or {}
    palette = np.array(meta.get("palette") or get_palette("cityscapes"), np.uint8)
    if len(palette) < model.num_classes:  # more classes than colours: add fixed random ones
        extra = np.random.default_rng(0).integers(0, 256, (model.num_classes - len(palette), 3))
        palette = np.concatenate([palette, extra.astype(np.uint8)])
    pipeline = cfg.get("test_dataloader", {}).get("dataset", {}).get("pipeline", [])
    resize = [TRANSFORMS.build(step) for step in pipeline if step["type"] == "Resize"]
    default = build_scheduler(
        dict(model.test_cfg.get("scheduler", dict(type="fixed", interval=model.interval)))
    )
    scheduler = resolve_scheduler(scheduler, default, model.propagation is not None)
    return SegmentationDemo(model, scheduler, resize, palette, args.opacity)


def build_detection_demo(args, scheduler: KeyFrameScheduler | None) -> DetectionDemo:
    """Build the detectron2 ``DFFRCNN`` of ``args.config`` and load ``args.checkpoint``."""
    import dff_detectron2  # noqa: F401  (compat shims, registrations, datasets' class names)

    # isort: split
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from dff_detectron2.config import add_dff_config
    from dff_detectron2.meta_arch import DFFRCNN

    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.opts)
    # the checkpoint holds every weight: skip the initial ImageNet / Flying Chairs ones
    cfg.merge_from_list(
        ["MODEL.DEVICE", args.device, "MODEL.DFF.FEATURE.WEIGHTS", "", "MODEL.DFF.FLOW.WEIGHTS", ""]
    )
    cfg.freeze()
    model = build_model(cfg)
    if not isinstance(model, DFFRCNN):
        raise ValueError(f"{args.config}: expected a DFFRCNN, got {type(model).__name__}")
    DetectionCheckpointer(model).load(args.checkpoint)
    model.eval()
    scheduler = resolve_scheduler(scheduler, model.scheduler, model.propagation is not None)
    return DetectionDemo(model, cfg, scheduler, args.score_threshold)


def annotate(image: np.ndarray, index: int, is_key: bool, key_index: int, fps: float):
    """Red border and "KEY" tag on key frames; frame, key frame and running fps on all."""
    if is_key:
        cv2.rectangle(image, (0, 0), (image.shape[1] - 1, image.shape[0] - 1), KEY_COLOR, 4)
    text = f"frame {index}  {'KEY' if is_key else f'key {key_index}'}  {fps:.1f} fps"
    scale = max(image.shape[1] / 1000, 0.35)
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (4, 4), (8 + width, 8 + height + base), (0, 0, 0), -1)
    color = KEY_COLOR if is_key else (255, 255, 255)
    cv2.putText(image, text, (6, 6 + height), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1)
    return image


@dataclass
class DemoSummary:
    """What a demo run did: frames written, key frame indices, model frames per second."""

    num_frames: int
    key_frames: list[int]
    fps: float
    output: Path


def run_demo(demo, reader: FrameReader, writer: FrameWriter, max_frames: int | None):
    """Algorithm 1 over the frames of ``reader``, drawn and written by ``writer``.

    Returns:
        DemoSummary: frames written, key frames, model frames per second.
    """
    from tqdm import tqdm

    total = min(filter(None, (reader.num_frames, max_frames)), default=None)
    key_frames, seconds, count = [], 0.0, 0
    progress = tqdm(total=total, unit="frame", desc="DFF demo")
    try:
        for index, frame in reader:
            start = time.perf_counter()
            prediction, is_key, key_index = demo.infer(frame, index)
            seconds += time.perf_counter() - start
            count += 1
            if is_key:
                key_frames.append(index)
            image = demo.draw(frame, prediction)
            writer.write(annotate(image, index, is_key, key_index, count / seconds))
            progress.update()
            progress.set_postfix(fps=f"{count / seconds:.2f}", keys=len(key_frames))
            if count == max_frames:
                break
    finally:
        progress.close()
        writer.close()
    return DemoSummary(count, key_frames, count / seconds, writer.path)


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
    builders = {".yaml": build_detection_demo, ".yml": build_detection_demo}
    builders[".py"] = build_segmentation_demo
    config = Path(args.config)
    if not config.is_file():
        raise SystemExit(f"config file not found: {config}")
    if config.suffix not in builders:
        raise SystemExit(f"cannot tell the framework of {config}: expected .yaml or .py")
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
    demo = builders[config.suffix](args, scheduler)
    logger.info(f"key frames: {demo.engine.scheduler}; input {reader.path}")
    try:
        summary = run_demo(demo, reader, writer, args.max_frames)
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
