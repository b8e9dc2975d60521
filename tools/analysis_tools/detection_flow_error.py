"""End-point error of DFF detectors' flow against the exact motion, by key distance.

Renders videos as the synthetic ImageNet-VID-layout set does (``render_vid_snippet``: same
objects, motions and frame size, their own seed) and prints, per key distance d = 1 .. l - 1,
the mean error in feature cells (:func:`analysis_tools.flow_error.flow_error_by_distance`) of zero
flow (feature copying), OpenCV's DIS flow and the flow network F of each model given: where the
flow DFF propagates with is better or worse than not moving the features at all; then the spread
of each model's scale field S over the same pairs (whether S learned anything).
:func:`use_exact_flow` gives a detector the exact motion of a written set's videos in place of
its flow function (the oracle rows of ``analysis_tools.detection_table4``).

Usage::

    python tools/flow_error.py --weights FRAME_WITH_PRETRAINED_F.pth DFF.pth \\
        [--config SYNTHETIC_DFF_CONFIG] [--videos 16] [--seed 0]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from detectron2.config import CfgNode

from analysis_tools.detection import SYNTHETIC_BASE
from analysis_tools.flow_error import ExactFlow, flow_error_by_distance
from dff_common.data.imagenet_vid import VID_CLASS_NAMES
from dff_common.reproducibility import seed_everything
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.synthetic.vid import CLASSES, render_vid_snippet
from dff_detectron2.load import get_dff_cfg, load_model
from dff_detectron2.modeling.flow_functions import build_propagation

__all__ = [
    "flow_errors",
    "frame_normaliser",
    "main",
    "model_flow_function",
    "parse_args",
    "scale_field_spread",
    "use_exact_flow",
]

STRIDE = 16  # the grid the errors are measured on: the R-FCN's feature grid


def frame_normaliser(cfg: CfgNode):
    """``(H, W, 3)`` uint8 RGB -> ``(1, 3, H, W)`` normalised as the detector's inputs
    (``INPUT.FORMAT``, ``PIXEL_MEAN``/``STD``)."""
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1)

    def frame(rgb: np.ndarray) -> torch.Tensor:
        image = rgb[..., ::-1] if cfg.INPUT.FORMAT == "BGR" else rgb
        image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        return (image - mean) / std

    return frame


def model_flow_function(cfg: CfgNode, propagation, scales: list | None = None):
    """``flow_fn`` of :func:`flow_error_by_distance` for a propagation module F + S + W: the
    frames normalised as the detector's inputs (``INPUT.FORMAT``, ``PIXEL_MEAN``/``STD``).
    ``scales``, when given, collects each call's scale field S on the feature grid (flattened;
    nothing without S), so that one pass over the pairs measures both F and S."""
    frame = frame_normaliser(cfg)

    @torch.no_grad()
    def flow_fn(key: np.ndarray, cur: np.ndarray) -> torch.Tensor:
        grid = [math.ceil(n / STRIDE) for n in key.shape[:2]]
        flow, scale = propagation.flow_and_scale(frame(key), frame(cur), feat_size=grid)
        if scales is not None and scale is not None:
            scales.append(scale.flatten())
        return flow[0]

    return flow_fn


def scale_field_spread(scales: list) -> dict | None:
    """Mean, standard deviation, minimum and maximum of the scale field S (Eq. 3) over the
    cells and channels of ``scales`` (:func:`model_flow_function`'s): S at its initial ones
    has std 0. None when there are none (a model without S)."""
    if not scales:
        return None
    fields = torch.cat(scales)
    return {
        "mean": fields.mean().item(), "std": fields.std().item(),
        "min": fields.min().item(), "max": fields.max().item(),
    }  # fmt: skip


def use_exact_flow(model, videos, round_to_cells: bool = False):
    """Make a DFF detector propagate with the exact motion of ``videos`` (:class:`ExactFlow`,
    no scale field): the upper bound of any flow function for its N_feat and N_task. The
    motion is given on the grid of the finest propagated level (an FPN's P2, stride 4), so
    no level gets it coarser than its own cells.

    Args:
        model (DFFRCNN): a detector with a propagation module and a fixed key-frame interval,
            evaluated on the videos one frame per call (Algorithm 1, ``video_id`` and
            ``frame_idx`` in the inputs, as the test loader gives them).
        videos (Mapping[str, SyntheticVideo]): by video id
            (``dff_common.synthetic.vid.replay_synthetic_vid``).
        round_to_cells (bool): the flow rounded to whole cells of the finest level (no
            interpolation in that level's warp). Defaults to False.

    Returns:
        DFFRCNN: ``model``, changed in place.

    Raises:
        ValueError: for a model without propagation or with another key-frame scheduler.
    """
    if model.propagation is None or not isinstance(model.scheduler, FixedIntervalScheduler):
        raise ValueError(
            "use_exact_flow needs a DFF model (MODEL.DFF.MODE 'dff') with a fixed key-frame "
            f"interval, got propagation {type(model.propagation).__name__} and scheduler "
            f"{model.scheduler!r}"
        )
    exact = ExactFlow(videos, min(model.propagation_strides().values()), round_to_cells)
    model.propagation.flow_net, model.propagation.use_scale = exact, False

    def key_frame(inputs) -> int:
        return model.scheduler.key_frame(inputs[0]["frame_idx"])

    def select_pair(_, args):
        (inputs,) = args
        if len(inputs) != 1 or "video_id" not in inputs[0]:
            raise ValueError("use_exact_flow: evaluate one video frame per call")
        i = int(inputs[0]["frame_idx"])
        if i != key_frame(inputs):
            exact.select(inputs[0]["video_id"], i, key_frame(inputs))

    def check_key_frame(_, args, outputs):
        if outputs[0].get("key_frame_idx", key_frame(args[0])) != key_frame(args[0]):
            raise RuntimeError(
                f"use_exact_flow: video {args[0][0]['video_id']!r} frame "
                f"{args[0][0]['frame_idx']} was propagated from key frame "
                f"{outputs[0]['key_frame_idx']}, not {key_frame(args[0])}"
            )

    model.register_forward_pre_hook(select_pair)
    model.register_forward_hook(check_key_frame)
    return model


def _zero_flow(key: np.ndarray, cur: np.ndarray) -> torch.Tensor:
    return torch.zeros(2, *(math.ceil(n / STRIDE) for n in key.shape[:2]))


def flow_errors(cfg: CfgNode, propagations: dict, videos: list, interval: int) -> tuple:
    """``{label: {d: error}}`` for zero flow, DIS and each ``{label: propagation}``, and
    ``{label: scale_field_spread}`` of each propagation's S over the same pairs (one pass)."""
    dis = build_propagation(get_dff_cfg(cfg, ["MODEL.DFF.FLOW.NAME", "DISFlow"]), [1])
    flow_fns = {"zero flow": _zero_flow, "DIS": model_flow_function(cfg, dis)}
    scales = {label: [] for label in propagations}
    for label, propagation in propagations.items():
        flow_fns[label] = model_flow_function(cfg, propagation.eval(), scales[label])
    distances = range(1, interval)
    errors = {
        label: flow_error_by_distance(flow_fn, videos, distances, interval, STRIDE)
        for label, flow_fn in flow_fns.items()
    }
    return errors, {label: scale_field_spread(fields) for label, fields in scales.items()}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", nargs="+", required=True, help="DFF detector checkpoints")
    parser.add_argument("--config", default=SYNTHETIC_BASE, help="their config")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=30, help="frames per video")
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--classes", nargs="+", default=CLASSES)
    parser.add_argument("--seed", type=int, default=0, help="of the rendered videos")
    parser.add_argument("--interval", type=int, help="key frame interval l (default: the config's)")
    args = parser.parse_args(argv)
    if args.videos < 1 or args.frames < 2:
        parser.error("--videos must be >= 1 and --frames >= 2")
    unknown = [c for c in args.classes if c not in VID_CLASS_NAMES]
    if unknown:
        parser.error(f"--classes: not VID class names: {unknown}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    print(f"run: {seed_everything(args.seed, deterministic=True, threads=1)}", flush=True)
    cfg = get_dff_cfg(args.config)
    interval = args.interval or cfg.MODEL.DFF.KEY_FRAME_INTERVAL
    propagations = {path: load_model(cfg, path).propagation for path in args.weights}
    rng = np.random.default_rng(args.seed)
    class_ids = [VID_CLASS_NAMES.index(c) for c in args.classes]
    videos = [
        render_vid_snippet(rng, args.frames, *args.size, class_ids) for _ in range(args.videos)
    ]
    results, spreads = flow_errors(cfg, propagations, videos, interval)
    print(
        f"Mean end-point error against the exact motion, feature cells (stride {STRIDE}), "
        f"{args.videos} rendered videos of {args.frames} frames, l = {interval}"
    )
    width = max(len(label) for label in results)
    print(f"{'flow':<{width}} " + " ".join(f"{f'd{d}':>6}" for d in range(1, interval)))
    for label, errors in results.items():
        print(f"{label:<{width}} " + " ".join(f"{errors[d]:6.3f}" for d in range(1, interval)))
    print("Scale field S over the same pairs' cells and channels (ones: S not learned)")
    for label, spread in spreads.items():
        numbers = ", ".join(f"{k} {v:.3f}" for k, v in spread.items()) if spread else "no S"
        print(f"{label:<{width}} {numbers}")
    return results


if __name__ == "__main__":
    main()
