#!/usr/bin/env python
"""Pre-train a DFF flow network F on Flying Chairs (paper Sec. 4, "pre-trained on the Flying
Chairs dataset").

Any network of ``dff_common.flow_nets`` (flownet, flownet_half, flownet_inception) is trained
with FlowNet's multi-scale end-point-error loss (``MULTISCALE_EPE_WEIGHTS`` on the pyramid
flow2..flow6, targets = ground truth / 20 average-pooled to each level, per-level EPE summed
over pixels and averaged over the batch) with Adam (lr 3e-3, no weight decay), a linear warm-up
and a cosine decay, the flow predictors starting at zero (``start_from_zero_flow``).
Frames are fed as ``(RGB - IMAGENET_MEAN) / 255``, current frame = img1, key frame = img2
(``net(key=img2, cur=img1)``, see ``dff_common.data.flying_chairs``). The validation EPE is the
mean end-point error of flow2 x 20, bilinearly upsampled to the pair's full resolution, in
input pixels, next to the zero-flow EPE (predicting no motion).

Example (CPU, a few minutes; creates a synthetic Flying-Chairs-layout set first)::

    python tools/pretrain_flow.py --data datasets/chairs_synth --make-synthetic 2000 \
        --synthetic-size 64 96 --flow-net flownet --iters 300 --batch-size 16 \
        --output work_dirs/flownet_chairs.pth

The checkpoint is ``{"state_dict": ..., "meta": {"flow_net", "norm", "feat_channels", "epe",
"epe_dff", "zero_flow_epe", "iters", "input_size", "history", "run", "input_mean",
"input_std"}}`` (``run``: the seed, threads and kernels it ran with,
``dff_common.reproducibility``; ``input_size``: ``[H, W]`` of the pairs, after ``--crop``, which
``dff_common.checkpoint.load_flownets`` compares with the input F will get); load it with
``build_flow_net(meta["flow_net"], feat_channels=meta["feat_channels"], norm=meta["norm"])``.
"""

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from dff_common.data.flying_chairs import FlyingChairs
from dff_common.data.synthetic_chairs import MAX_MOTION, make_synthetic_chairs
from dff_common.flow_io import end_point_error
from dff_common.flow_nets import (
    FLOW_DIV,
    FLOW_NETS,
    FLOW_STRIDE,
    MULTISCALE_EPE_WEIGHTS,
    build_flow_net,
)
from dff_common.reproducibility import seed_everything

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0-255
INPUT_STD = 255.0


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


class PairTransform:
    """Crop (random or centre) and random flips of a Flying Chairs sample, flow kept exact.

    Uses torch's RNG, which DataLoader seeds per worker.
    """

    def __init__(self, crop=None, train: bool = True):
        self.crop, self.train = crop, train

    def __call__(self, sample: dict) -> dict:
        img1, img2, flow = sample["img1"], sample["img2"], sample["flow"]
        if self.crop is not None:
            (h, w), (ch, cw) = flow.shape[:2], self.crop
            if ch > h or cw > w:
                raise ValueError(f"sample {sample['index']}: crop {ch}x{cw} larger than {h}x{w}")
            y = int(torch.randint(h - ch + 1, ())) if self.train else (h - ch) // 2
            x = int(torch.randint(w - cw + 1, ())) if self.train else (w - cw) // 2
            img1, img2, flow = (a[y : y + ch, x : x + cw] for a in (img1, img2, flow))
        if self.train and torch.rand(()) < 0.5:  # mirror columns: x component changes sign
            img1, img2, flow = img1[:, ::-1], img2[:, ::-1], flow[:, ::-1] * (-1.0, 1.0)
        if self.train and torch.rand(()) < 0.5:  # mirror rows: y component changes sign
            img1, img2, flow = img1[::-1], img2[::-1], flow[::-1] * (1.0, -1.0)
        return dict(
            img1=torch.from_numpy(np.ascontiguousarray(img1)).permute(2, 0, 1),
            img2=torch.from_numpy(np.ascontiguousarray(img2)).permute(2, 0, 1),
            flow=torch.from_numpy(np.ascontiguousarray(flow, np.float32)).permute(2, 0, 1),
        )


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` RGB -> float ``(RGB - IMAGENET_MEAN) / 255``."""
    mean = images.new_tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.float() - mean) / INPUT_STD


def start_from_zero_flow(net: torch.nn.Module) -> None:
    """Zero the weights and biases of every ``predict_flow*`` conv: training starts at the
    zero-flow error instead of first undoing random initial flows (measured: with BN, Adam at
    3e-3 and this, FlowNet Half leaves the zero-flow plateau within ~75 iterations)."""
    for name, module in net.named_modules():
        if name.rsplit(".", 1)[-1].startswith("predict_flow"):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)


def multiscale_epe_loss(pyramid: list, flow: torch.Tensor) -> torch.Tensor:
    """FlowNet's multi-scale loss: sum_l w_l * sum_pixels EPE(flow_l, pool(flow / 20)) / N.

    Args:
        pyramid (list[Tensor]): ``[flow2, ..., flow6]``, each ``(N, 2, h_l, w_l)`` in input
            pixels / 20.
        flow (Tensor): ``(N, 2, H, W)`` ground truth in input pixels.

    Returns:
        Tensor: the scalar loss.
    """
    target = flow / FLOW_DIV
    loss = flow.new_zeros(())
    for weight, pred in zip(MULTISCALE_EPE_WEIGHTS, pyramid):
        scaled = F.adaptive_avg_pool2d(target, pred.shape[-2:])
        loss = loss + weight * torch.linalg.vector_norm(pred - scaled, dim=1).sum() / len(flow)
    return loss


def full_resolution_flow(pyramid: list, size) -> torch.Tensor:
    """flow2 x 20, bilinearly upsampled to ``size``: ``(N, 2, H, W)`` in input pixels."""
    return F.interpolate(pyramid[0] * FLOW_DIV, size=size, mode="bilinear", align_corners=False)


@torch.no_grad()
def evaluate(net, loader, device) -> dict:
    """Mean EPEs over a split, in input pixels at the pairs' full resolution.

    Returns:
        dict: ``epe`` of flow2 (``full_resolution_flow``), ``epe_dff`` of the network's DFF
        output (stride 8, feature-map pixels: x 8, bilinearly upsampled), ``zero_flow_epe``.
    """
    net.eval()
    sums = dict(epe=0.0, epe_dff=0.0, zero_flow_epe=0.0)
    count = 0
    for batch in loader:
        key, cur = normalize(batch["img2"].to(device)), normalize(batch["img1"].to(device))
        gt = batch["flow"].to(device)
        flow, _, pyramid = net(key, cur, return_pyramid=True)
        dff = F.interpolate(flow * FLOW_STRIDE, size=gt.shape[-2:], mode="bilinear")
        preds = dict(epe=full_resolution_flow(pyramid, gt.shape[-2:]), epe_dff=dff)
        preds["zero_flow_epe"] = torch.zeros_like(gt)
        for name, pred in preds.items():
            sums[name] += end_point_error(pred, gt, channel_axis=1).item() * len(gt)
        count += len(gt)
    net.train()
    return {name: total / count for name, total in sums.items()}


def _report(it: int, metrics: dict) -> str:
    return (
        f"[iter {it}] val EPE {metrics['epe']:.3f} px (DFF output {metrics['epe_dff']:.3f} px,"
        f" zero flow {metrics['zero_flow_epe']:.3f} px)"
    )


def learning_rate(args, it: int) -> float:
    """Linear warm-up over ``args.warmup`` iterations, then cosine decay to 1 % at the end."""
    if it < args.warmup:
        return args.lr * (it + 1) / args.warmup
    progress = (it - args.warmup) / max(1, args.iters - args.warmup)
    return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(net, loader, args):
    """Adam on the multi-scale EPE loss; yields ``(iteration, loss, batch EPE)`` each step."""
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    it = 0
    while True:
        for batch in loader:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(args, it)
            key = normalize(batch["img2"].to(args.device))
            cur = normalize(batch["img1"].to(args.device))
            gt = batch["flow"].to(args.device)
            _, _, pyramid = net(key, cur, return_pyramid=True)
            loss = multiscale_epe_loss(pyramid, gt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            with torch.no_grad():
                pred = full_resolution_flow(pyramid, gt.shape[-2:])
                yield it, loss.item(), end_point_error(pred, gt, channel_axis=1).item()
            if it == args.iters:
                return


def _loaders(args):
    train_set = FlyingChairs(args.data, "train", PairTransform(args.crop, True))
    val_set = FlyingChairs(args.data, "val", PairTransform(args.crop, False))
    if args.max_val:
        val_set = Subset(val_set, range(min(args.max_val, len(val_set))))
    if len(train_set) == 0 or len(val_set) == 0:
        raise SystemExit(f"{args.data}: needs both train (1) and val (2) samples in its split file")
    generator = torch.Generator().manual_seed(args.seed)
    kwargs = dict(batch_size=args.batch_size, num_workers=args.workers)
    train = DataLoader(train_set, shuffle=True, drop_last=True, generator=generator, **kwargs)
    if len(train) == 0:
        raise SystemExit(f"{len(train_set)} training pairs < batch size {args.batch_size}")
    return train, DataLoader(val_set, shuffle=False, **kwargs), len(train_set), len(val_set)


def main(argv=None) -> dict:
    args = parse_args(argv)
    output = Path(args.output)
    if output.exists() and not args.overwrite:
        raise SystemExit(f"{output} exists (pass --overwrite to replace it)")
    run = seed_everything(args.seed, deterministic=True, threads=args.threads)
    print(f"run: {run}", flush=True)
    if args.make_synthetic:
        start = time.time()
        try:
            make_synthetic_chairs(
                args.data,
                args.make_synthetic,
                *args.synthetic_size,
                seed=args.seed,
                max_motion=args.synthetic_max_motion,
                overwrite=args.overwrite_data,
            )
        except FileExistsError as err:
            raise SystemExit(f"{err}; or drop --make-synthetic to reuse it") from err
        print(
            f"wrote {args.make_synthetic} synthetic pairs to {args.data} "
            f"({time.time() - start:.1f} s)",
            flush=True,
        )
    train_loader, val_loader, num_train, num_val = _loaders(args)
    norm = None if args.norm == "none" else args.norm
    net = build_flow_net(args.flow_net, feat_channels=args.feat_channels, norm=norm)
    start_from_zero_flow(net)
    net.to(args.device).train()
    print(
        f"{args.flow_net} (norm={norm}): {num_train} train / {num_val} val pairs, "
        f"{args.iters} iterations of batch {args.batch_size} on {args.device}",
        flush=True,
    )
    metrics = evaluate(net, val_loader, args.device)
    print(_report(0, metrics), flush=True)
    start, history = time.time(), [(0, metrics["epe"])]
    for it, loss, train_epe in train(net, train_loader, args):
        if it % args.log_every == 0 or it == args.iters:
            per_it = (time.time() - start) / it
            print(
                f"[iter {it}/{args.iters}] loss {loss:.4f} train EPE {train_epe:.3f}"
                f" lr {learning_rate(args, it - 1):.2e} {per_it:.2f} s/it"
                f" eta {per_it * (args.iters - it):.0f} s",
                flush=True,
            )
        if it % args.eval_every == 0 or it == args.iters:
            metrics = evaluate(net, val_loader, args.device)
            history.append((it, metrics["epe"]))
            print(_report(it, metrics), flush=True)
    meta = dict(
        flow_net=args.flow_net,
        norm=norm,
        feat_channels=args.feat_channels,
        **metrics,
        iters=args.iters,
        input_size=list(val_loader.dataset[0]["flow"].shape[-2:]),
        history=history,
        run=str(run),
        input_mean=IMAGENET_MEAN,
        input_std=INPUT_STD,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    state_dict = {k: v.cpu() for k, v in net.state_dict().items()}
    torch.save({"state_dict": state_dict, "meta": meta}, output)
    print(f"done in {time.time() - start:.0f} s; saved {output}", flush=True)
    return meta


if __name__ == "__main__":
    main()
