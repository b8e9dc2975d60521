"""Pre-training of the flow network F on Flying Chairs (paper Sec. 4), and its checkpoint.

Any network of ``dff_common.flow_nets`` (flownet, flownet_half, flownet_inception) is trained
with FlowNet's multi-scale end-point-error loss (``MULTISCALE_EPE_WEIGHTS`` on the pyramid
flow2..flow6, targets = ground truth / 20 average-pooled to each level, per-level EPE summed
over pixels and averaged over the batch) with Adam (lr 3e-3, no weight decay), a linear warm-up
and a cosine decay, the flow predictors starting at zero (:func:`start_from_zero_flow`).
Frames are fed as ``(RGB - IMAGENET_MEAN) / 255``, current frame = img1, key frame = img2
(``net(key=img2, cur=img1)``, see ``dff_common.data.flying_chairs``). The validation EPE is the
mean end-point error of flow2 x 20, bilinearly upsampled to the pair's full resolution, in
input pixels, next to the zero-flow EPE (predicting no motion).

:func:`pretrain` runs it from :class:`FlowPretraining` settings and writes the checkpoint
``{"state_dict": ..., "meta": {"flow_net", "norm", "feat_channels", "epe", "epe_dff",
"zero_flow_epe", "iters", "input_size", "history", "run", "input_mean", "input_std"}}``
(``run``: the seed, threads and kernels, ``dff_common.reproducibility``; ``input_size``:
``[H, W]`` of the pairs after ``crop``, which ``dff_common.checkpoint.load_flownets`` compares
with the input F will get). :func:`read_flow_meta` reads its ``meta``; the network is
``build_flow_net(meta["flow_net"], feat_channels=meta["feat_channels"], norm=meta["norm"])``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from dff_common.checkpoint_files import atomic_open, read_errors
from dff_common.data.flying_chairs import FlyingChairs
from dff_common.flow_io import end_point_error
from dff_common.flow_nets import FLOW_DIV, FLOW_STRIDE, MULTISCALE_EPE_WEIGHTS, build_flow_net
from dff_common.reproducibility import seed_everything

__all__ = [
    "FlowPretraining",
    "IMAGENET_MEAN",
    "INPUT_STD",
    "PairTransform",
    "evaluate",
    "multiscale_epe_loss",
    "pretrain",
    "read_flow_meta",
    "start_from_zero_flow",
]

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0-255
INPUT_STD = 255.0


@dataclasses.dataclass
class FlowPretraining:
    """Settings of a pre-training run (the flags of ``tools/pretrain_flow.py``).

    Attributes:
        data: Flying Chairs root (``data/``, split file). output: the checkpoint to write.
        flow_net: a name of ``FLOW_NETS``. norm: ``"BN"`` (BatchNorm in the encoder) or None.
        feat_channels: channels of the (untrained) scale field. crop: ``(H, W)`` random crop
        for training, centre crop for validation. max_val: validate on at most this many
        pairs (0: all). threads: CPU threads (the weights depend on the number).
    """

    data: str
    output: str
    flow_net: str = "flownet"
    norm: str | None = "BN"
    feat_channels: int = 1024
    iters: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.0
    crop: tuple[int, int] | None = None
    eval_every: int = 100
    log_every: int = 20
    max_val: int = 0
    workers: int = 0
    seed: int = 0
    threads: int = 1
    device: str = "cpu"


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


def learning_rate(settings: FlowPretraining, it: int) -> float:
    """Linear warm-up over ``settings.warmup`` iterations, then cosine decay to 1 % at the end."""
    if it < settings.warmup:
        return settings.lr * (it + 1) / settings.warmup
    progress = (it - settings.warmup) / max(1, settings.iters - settings.warmup)
    return settings.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(net, loader, args: FlowPretraining):
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


def _loaders(args: FlowPretraining):
    train_set = FlyingChairs(args.data, "train", PairTransform(args.crop, True))
    val_set = FlyingChairs(args.data, "val", PairTransform(args.crop, False))
    if args.max_val:
        val_set = Subset(val_set, range(min(args.max_val, len(val_set))))
    if len(train_set) == 0 or len(val_set) == 0:
        raise ValueError(f"{args.data}: needs both train (1) and val (2) samples in its split file")
    generator = torch.Generator().manual_seed(args.seed)
    kwargs = dict(batch_size=args.batch_size, num_workers=args.workers)
    train = DataLoader(train_set, shuffle=True, drop_last=True, generator=generator, **kwargs)
    if len(train) == 0:
        raise ValueError(
            f"{args.data}: {len(train_set)} training pairs < batch size {args.batch_size}"
        )
    return train, DataLoader(val_set, shuffle=False, **kwargs), len(train_set), len(val_set)


def pretrain(settings: FlowPretraining, overwrite: bool = False) -> dict:
    """Pre-train ``settings.flow_net`` on ``settings.data`` and write ``settings.output``
    (refused if it exists, unless ``overwrite``), printing progress; returns the ``meta``."""
    args = settings
    output = Path(args.output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists (pass --overwrite to replace it)")
    run = seed_everything(args.seed, deterministic=True, threads=args.threads)
    print(f"run: {run}", flush=True)
    train_loader, val_loader, num_train, num_val = _loaders(args)
    net = build_flow_net(args.flow_net, feat_channels=args.feat_channels, norm=args.norm)
    start_from_zero_flow(net)
    net.to(args.device).train()
    print(
        f"{args.flow_net} (norm={args.norm}): {num_train} train / {num_val} val pairs, "
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
        norm=args.norm,
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
    with atomic_open(output) as f:
        torch.save({"state_dict": state_dict, "meta": meta}, f)
    print(f"done in {time.time() - start:.0f} s; saved {output}", flush=True)
    return meta


def read_flow_meta(path: str | Path) -> dict:
    """The ``meta`` of a checkpoint that :func:`pretrain` wrote (network, norm, EPEs, size)."""
    with read_errors(str(path)):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("meta"), dict):
        raise ValueError(f"{path}: not a flow pre-training checkpoint (no 'meta' entry)")
    return checkpoint["meta"]
