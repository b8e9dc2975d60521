#!/usr/bin/env python
"""Pre-train a DFF flow network F on Flying Chairs (paper Sec. 4, "pre-trained on the Flying
Chairs dataset"): :func:`dff_common.flow_pretraining.pretrain`, whose docstring gives the loss,
the schedule and the checkpoint's layout.

Example (CPU, a few minutes; creates a synthetic Flying-Chairs-layout set first)::

    python tools/pretrain_flow.py --data datasets/chairs_synth --make-synthetic 2000 \
        --synthetic-size 64 96 --flow-net flownet --iters 300 --batch-size 16 \
        --output work_dirs/flownet_chairs.pth
"""

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from dff_common.flow_nets import FLOW_NETS
from dff_common.flow_pretraining import FlowPretraining, pretrain
from dff_common.synthetic.chairs import MAX_MOTION, make_synthetic_chairs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="Flying Chairs root (data/, split file)")
    parser.add_argument("--output", required=True, help="checkpoint file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    parser.add_argument(
        "--make-synthetic",
        type=int,
        default=0,
        metavar="N",
        help="first write N synthetic pairs in the Flying Chairs layout to --data",
    )
    parser.add_argument("--synthetic-size", type=int, nargs=2, default=(64, 96), metavar=("H", "W"))
    parser.add_argument(
        "--synthetic-max-motion",
        type=float,
        default=MAX_MOTION,
        help="max translation of the background and of each shape, fraction of the width",
    )
    parser.add_argument(
        "--overwrite-data",
        action="store_true",
        help="with --make-synthetic, replace the samples of a non-empty --data",
    )
    parser.add_argument("--flow-net", default="flownet", choices=sorted(FLOW_NETS))
    parser.add_argument(
        "--norm",
        default="BN",
        choices=("BN", "none"),
        help="BN: BatchNorm in the encoder (trains from scratch on a CPU budget)",
    )
    parser.add_argument(
        "--feat-channels",
        type=int,
        default=1024,
        help="channels of the (untrained) scale field, as in DFF",
    )
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=30, help="linear lr warm-up iterations")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument(
        "--crop",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="random crop for training, centre crop for validation",
    )
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--max-val", type=int, default=0, help="validate on at most this many")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (the result depends on the number: fixed for reproducible weights)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if Path(args.output).exists() and not args.overwrite:
        raise SystemExit(f"{args.output} exists (pass --overwrite to replace it)")
    if args.make_synthetic:
        start = time.time()
        try:
            make_synthetic_chairs(
                args.data, args.make_synthetic, *args.synthetic_size, seed=args.seed,
                max_motion=args.synthetic_max_motion, overwrite=args.overwrite_data,
            )  # fmt: skip
        except FileExistsError as err:
            raise SystemExit(f"{err}; or drop --make-synthetic to reuse it") from err
        print(
            f"wrote {args.make_synthetic} synthetic pairs to {args.data} "
            f"({time.time() - start:.1f} s)",
            flush=True,
        )
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(FlowPretraining)}
    fields["norm"] = None if args.norm == "none" else args.norm
    try:
        return pretrain(FlowPretraining(**fields), overwrite=args.overwrite)
    except ValueError as err:
        raise SystemExit(str(err)) from err


if __name__ == "__main__":
    main()
