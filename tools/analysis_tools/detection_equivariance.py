"""How far a DFF detector's N_feat is from moving its features with the image (Sec. 3).

Prints, for each propagated map and each motion of :data:`analysis_tools.equivariance.MOTIONS`,
the warp and copy errors of :func:`analysis_tools.equivariance.equivariance_errors`: whether
warping the features along the exact motion reproduces the features of the moved image better
than reusing them unchanged. Run it on a model before expecting DFF to beat feature copying
with it: where the warp error is close to the copy error, no flow network can help. The
images are frames of synthetic videos rendered as the synthetic ImageNet-VID-layout set's
(``--size``), or your own (``--images``).

Usage::

    python tools/equivariance.py --config CONFIG --weights MODEL.pth \\
        [--size H W] [--videos 8] [--images A.jpg B.jpg ...] [--border 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from detectron2.data.detection_utils import read_image

from analysis_tools.detection import SYNTHETIC_BASE
from analysis_tools.detection_flow_error import frame_normaliser
from analysis_tools.equivariance import MOTIONS, equivariance_errors
from dff_common.data.imagenet_vid import VID_CLASS_NAMES
from dff_common.reproducibility import seed_everything
from dff_common.synthetic.vid import CLASSES, render_vid_snippet
from dff_detectron2.load import get_dff_cfg, load_model

__all__ = ["feature_function", "main", "parse_args"]


def feature_function(cfg, model):
    """``(H, W, 3)`` uint8 RGB image -> the detector's N_feat maps ``{level: (1, C, h, w)}``,
    the image normalised as its inputs."""
    frame = frame_normaliser(cfg)
    device = next(model.parameters()).device

    @torch.no_grad()
    def features(image: np.ndarray) -> dict:
        return model.feature_network(frame(image).to(device))

    return features


def _images(args) -> list:
    if args.images:
        return [read_image(path, format="RGB") for path in args.images]
    rng = np.random.default_rng(args.seed)
    class_ids = [VID_CLASS_NAMES.index(c) for c in CLASSES]
    frames = []
    for _ in range(args.videos):
        video = render_vid_snippet(rng, args.frames, *args.size, class_ids)
        frames += [video.frames[0], video.frames[args.frames // 2]]
    return frames


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="the detector's checkpoint")
    parser.add_argument("--config", default=SYNTHETIC_BASE, help="its config")
    parser.add_argument("--images", nargs="+", help="image files (default: rendered frames)")
    parser.add_argument("--videos", type=int, default=8, help="rendered videos (2 frames each)")
    parser.add_argument("--frames", type=int, default=30, help="frames per rendered video")
    parser.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0, help="of the rendered videos")
    parser.add_argument("--border", type=int, default=2, help="cells left out at each edge")
    args = parser.parse_args(argv)
    if args.videos < 1 or args.frames < 2 or args.border < 0:
        parser.error("--videos must be >= 1, --frames >= 2 and --border >= 0")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    print(f"run: {seed_everything(args.seed, deterministic=True, threads=1)}", flush=True)
    cfg = get_dff_cfg(args.config)
    model = load_model(cfg, args.weights)
    images = _images(args)
    results = equivariance_errors(
        feature_function(cfg, model), images, model.propagation_strides(), MOTIONS, args.border
    )
    sizes = ", ".join(sorted({f"{i.shape[0]}x{i.shape[1]}" for i in images}))
    print(
        f"Relative L2 error of N_feat's maps of the moved image ({len(images)} images of "
        f"{sizes}, cells {args.border} or more inside the map): the image's features warped "
        "along the exact motion, and copied unchanged"
    )
    width = max(len(name) for name in MOTIONS)
    for level, by_motion in results.items():
        print(f"{level}: {'motion':<{width}} {'warp':>6} {'copy':>6}")
        for name, e in by_motion.items():
            print(f"{'':<{len(level) + 1}} {name:<{width}} {e['warp']:6.3f} {e['copy']:6.3f}")
    return results


if __name__ == "__main__":
    main()
