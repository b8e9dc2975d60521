#!/usr/bin/env python
"""What copying loses and the exact motion wins back on a synthetic segmentation set, measured
on its labels before any model is trained (:mod:`analysis_tools.label_propagation`).

    python tools/label_propagation.py [--motion JSON] [--distinct-colors] [--stride 16]
"""

import argparse
import inspect
import json
import statistics

from analysis_tools.label_propagation import label_propagation
from dff_common.synthetic.scenes import render_video


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--motion", type=json.loads, default={},
        help='make_synthetic_cityscapes motion arguments, e.g. \'{"camera_zoom": [-0.06, -0.03]}\'',
    )  # fmt: skip
    parser.add_argument("--distinct-colors", action="store_true")
    parser.add_argument("--interval", type=int, default=5, help="l")
    parser.add_argument("--stride", type=int, default=16, help="of the feature maps")
    parser.add_argument("--snippets", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    motion_keys = [p.name for p in inspect.signature(render_video).parameters.values()
                   if p.kind is p.KEYWORD_ONLY]  # fmt: skip
    unknown = sorted(set(args.motion) - set(motion_keys))
    if unknown:
        parser.error(f"--motion: unknown keys {unknown} (render_video takes {motion_keys})")
    rows = label_propagation(
        args.snippets, args.interval, args.stride, seed=args.seed,
        distinct_colors=args.distinct_colors, **args.motion,
    )  # fmt: skip
    print(
        f"labels of the key frame propagated on the stride-{args.stride} grid, mIoU against the "
        f"current frame's ({args.snippets} snippets, motion {args.motion or 'default'})"
    )
    print(f"{'':<14} {'mean':>6}  " + " ".join(f"{f'd={d}':>6}" for d in range(args.interval)))
    for row, values in rows.items():
        cells = " ".join(f"{v:6.1f}" for v in values)
        print(f"{row:<14} {statistics.fmean(values):6.1f}  {cells}")
    return rows


if __name__ == "__main__":
    main()
