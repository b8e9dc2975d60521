"""Table 4 of the paper on the synthetic Cityscapes-layout set, on a CPU in minutes.

    python -m dff_mmseg.table4 [--work-dir work_dirs/table4] [--retrain] [--quick]

1. writes the synthetic set (``make_synthetic_cityscapes``: 40 train / 30 val snippets of
   30 frames, 128x256) unless present, and pre-trains the flow network on the synthetic
   Flying-Chairs-layout set with ``tools/pretrain_flow.py`` unless its checkpoint exists;
2. trains with mmengine's Runner (the configs ``configs/dff_mmseg/*synthcity*``) *Frame*
   (N on single annotated frames, 400 iterations), *DFF* from scratch (N and F end to end
   on pairs, l = 5, 400 iterations) and *DFF* with N initialised from Frame (the stand-in
   for the paper's ImageNet initialisation; +200 iterations, and Frame +200 iterations on
   single frames as its control), and from Frame, as that run, *DFF fix N* (only F trained)
   and *DFF fix F* (only N trained);
3. evaluates with the Sec. 5.2 protocol (the l pairs (k, i), k = i-l+1 .. i, of every
   annotated val frame; Frame on (i, i)) those, and with Frame's N (Table 3): DFF separate
   (F from the flow pre-training only), feature copying (zero flow) and SFF (OpenCV DIS);
4. times Algorithm 1 over every frame of the val snippets (batch 1, frames already decoded
   and normalised, so only the networks are timed; PEERS.md pitfall 8) and prints mIoU,
   mIoU per key distance and frames per second, with the time per frame of N_feat, F + W
   and N_task; the numbers also go to ``<work-dir>/results.json``.

``--quick`` (the README's demo) trains Frame 200 iterations and DFF from Frame 100, on a
smaller set (20 train / 10 val snippets), and reports Frame, DFF, copying and SFF only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "dff_mmseg"
TOOLS = Path(__file__).resolve().parents[1] / "tools"
SYNTH = "_synthcity-128x256.py"
# training runs: name -> (config, iterations, run whose checkpoint initialises it)
TRAININGS = {
    "frame": ("frame_r50_1xb2-400it" + SYNTH, 400, None),
    "dff": ("dff_r50-flownet_1xb2-400it" + SYNTH, 400, None),
    "dff-ft": ("dff-ft_r50-flownet_1xb2-200it" + SYNTH, 200, "frame"),
    "frame-ft": ("frame-ft_r50_1xb2-200it" + SYNTH, 200, "frame"),
    "dff-fixn": ("dff-fixn_r50-flownet_1xb2-200it" + SYNTH, 200, "frame"),
    "dff-fixf": ("dff-fixf_r50-flownet_1xb2-200it" + SYNTH, 200, "frame"),
    "frame-quick": ("frame_r50_1xb2-200it" + SYNTH, 200, None),
    "dff-ft-quick": ("dff-ft_r50-flownet_1xb2-100it" + SYNTH, 100, "frame-quick"),
}
# table rows: method -> (config, training run of its weights)
METHODS = {
    "Frame": ("frame_r50_1xb2-400it" + SYNTH, "frame"),
    "Frame (+200 it)": ("frame-ft_r50_1xb2-200it" + SYNTH, "frame-ft"),
    "DFF (from scratch)": ("dff_r50-flownet_1xb2-400it" + SYNTH, "dff"),
    "DFF (N from Frame)": ("dff-ft_r50-flownet_1xb2-200it" + SYNTH, "dff-ft"),
    "DFF fix N": ("dff-fixn_r50-flownet_1xb2-200it" + SYNTH, "dff-fixn"),
    "DFF fix F": ("dff-fixf_r50-flownet_1xb2-200it" + SYNTH, "dff-fixf"),
    "DFF separate": ("dff_r50-flownet_1xb2-400it" + SYNTH, "frame"),
    "Copy (zero flow)": ("copy_r50-zeroflow_1xb2-400it" + SYNTH, "frame"),
    "SFF (DIS flow)": ("sff_r50-dis_1xb2-400it" + SYNTH, "frame"),
}
QUICK_METHODS = {
    "Frame": ("frame_r50_1xb2-200it" + SYNTH, "frame-quick"),
    "DFF (N from Frame)": ("dff-ft_r50-flownet_1xb2-100it" + SYNTH, "dff-ft-quick"),
    "Copy (zero flow)": ("copy_r50-zeroflow_1xb2-400it" + SYNTH, "frame-quick"),
    "SFF (DIS flow)": ("sff_r50-dis_1xb2-400it" + SYNTH, "frame-quick"),
}


DATA = "datasets/synthetic_cityscapes"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Table 4 on the synthetic Cityscapes set")
    parser.add_argument("--data", default=DATA, help=f"(--quick: {DATA}_quick)")
    parser.add_argument("--work-dir", default="work_dirs/table4")
    parser.add_argument("--flow-checkpoint", default="work_dirs/flownet_synthchairs.pth")
    parser.add_argument(
        "--flow-net", default="flownet", choices=("flownet", "flownet_half", "flownet_inception")
    )
    parser.add_argument("--retrain", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("--quick", action="store_true", help="the demo's short schedule")
    args = parser.parse_args(argv)
    if args.quick and args.data == DATA:
        args.data = DATA + "_quick"
    return args


def prepare(args: argparse.Namespace) -> None:
    """Write the synthetic set and pre-train the flow network when they are missing."""
    from dff_common.data.cityscapes import make_synthetic_cityscapes

    if not Path(args.data).exists():
        snippets = (
            {"train": 20, "val": 10, "test": 1}
            if args.quick
            else {"train": 40, "val": 30, "test": 3}
        )
        make_synthetic_cityscapes(args.data, snippets, seed=0)
    if not Path(args.flow_checkpoint).is_file():
        command = [
            sys.executable,
            str(TOOLS / "pretrain_flow.py"),
            "--data=datasets/synthetic_chairs",
            "--make-synthetic=2000",
            "--synthetic-size",
            "64",
            "128",
            f"--flow-net={args.flow_net}",
            "--iters=300",
            "--batch-size=16",
            f"--output={args.flow_checkpoint}",
        ]
        print("pre-training the flow network:", " ".join(command), flush=True)
        subprocess.run(command, check=True)


def options(args: argparse.Namespace, config: str) -> list[str]:
    """``--cfg-options`` of a run: the data root, and the flow checkpoint of learned flows."""
    flow = []
    if "flownet" in config:
        flow = [
            f"model.flow_net.checkpoint={args.flow_checkpoint}",
            f"model.flow_net.name={args.flow_net}",
        ]
    roots = [
        f"{loader}.dataset.data_root={args.data}"
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
    ]
    return ["--cfg-options", *roots, *flow, "randomness.seed=0"]


def checkpoint_of(run: str, args: argparse.Namespace) -> Path:
    return Path(args.work_dir) / run / f"iter_{TRAININGS[run][1]}.pth"


def train(run: str, args: argparse.Namespace) -> Path:
    """Train ``run`` unless its final checkpoint exists; returns the checkpoint."""
    from dff_mmseg.train import main as main_train

    config, _, init = TRAININGS[run]
    checkpoint = checkpoint_of(run, args)
    if args.retrain or not checkpoint.is_file():
        opts = options(args, config)
        if init:
            opts.append(f"load_from={checkpoint_of(init, args)}")
        main_train([str(CONFIGS / config), "--work-dir", str(checkpoint.parent), *opts])
    return checkpoint


def evaluate(name: str, args: argparse.Namespace, methods=METHODS) -> dict:
    """Sec. 5.2 metrics of a method (of ``methods``) through the Runner's test loop."""
    from dff_mmseg.train import main as main_train

    config, run = methods[name]
    work_dir = Path(args.work_dir) / ("eval_" + "".join(c for c in name.lower() if c.isalnum()))
    opts = [
        "--eval-only",
        "--checkpoint",
        str(checkpoint_of(run, args)),
        "--work-dir",
        str(work_dir),
    ]
    return main_train([str(CONFIGS / config), *opts, *options(args, config)])


def load_model(name: str, args: argparse.Namespace, methods=METHODS):
    """The segmentor of ``name`` (of ``methods``) with its trained weights, in eval mode."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    config, run = methods[name]
    cfg = Config.fromfile(CONFIGS / config)
    if cfg.model.flow_net is not None and "checkpoint" in cfg.model.flow_net:
        cfg.model.flow_net.checkpoint = args.flow_checkpoint
        cfg.model.flow_net.name = args.flow_net
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(checkpoint_of(run, args)), map_location="cpu", logger="silent")
    return model.eval()


def val_snippets(args: argparse.Namespace) -> list[torch.Tensor]:
    """Every val snippet as ``(30, 3, H, W)`` uint8 RGB frames (decoded before timing)."""
    from dff_common.data.cityscapes import list_annotated_frames, read_image

    snippets = []
    for annotated in list_annotated_frames(args.data, "val"):
        frames = [read_image(annotated.frame_path(f)) for f in annotated.snippet]
        snippets.append(torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]))
    return snippets


@torch.no_grad()
def time_algorithm_1(model, snippets: list[torch.Tensor]) -> dict[str, float]:
    """Frames per second of Algorithm 1 (fixed key frames every l) and per-part ms/frame."""
    from dff_common.engine import DFFInferenceEngine
    from dff_common.scheduler import FixedIntervalScheduler

    pre = model.data_preprocessor
    clips = [
        pre.normalize_frames(s.flatten(0, 1)).view(s.shape[0], 3, *s.shape[2:]) for s in snippets
    ]
    n_feat, n_task = model.n_feat(), model.n_task()
    parts = {"N_feat": 0.0, "F + W": 0.0, "N_task": 0.0}

    def timed(part, fn):
        def call(*inputs):
            start = time.perf_counter()
            out = fn(*inputs)
            parts[part] += time.perf_counter() - start
            return out

        return call

    n_feat(clips[0][:1])  # warm-up
    num_frames, start = 0, time.perf_counter()
    if model.propagation is None:
        for clip in clips:
            for frame in clip.split(1):
                timed("N_task", n_task)(timed("N_feat", n_feat)(frame))
                num_frames += 1
    else:
        propagation = SimpleNamespace(
            flow_and_scale=timed("F + W", model.propagation.flow_and_scale),
            propagate=timed("F + W", model.propagation.propagate),
        )
        engine = DFFInferenceEngine(
            timed("N_feat", n_feat),
            timed("N_task", lambda f, _: n_task(f)),
            propagation,
            FixedIntervalScheduler(model.interval),
        )
        for video, clip in enumerate(clips):
            for index, frame in enumerate(clip.split(1)):
                engine.step(frame, [video], [index])
                num_frames += 1
            engine.end_video(video)
    seconds = time.perf_counter() - start
    result = {"fps": num_frames / seconds}
    result.update({f"{k} ms": 1000 * v / num_frames for k, v in parts.items()})
    return result


def main(argv=None) -> dict:
    """Run the whole comparison and print the table; returns ``{method: numbers}``."""
    import dff_mmseg  # noqa: F401

    args = parse_args(argv)
    prepare(args)
    methods = QUICK_METHODS if args.quick else METHODS
    runs = ("frame-quick", "dff-ft-quick")
    if not args.quick:
        runs = ("frame", "dff", "dff-ft", "frame-ft", "dff-fixn", "dff-fixf")
    for run in runs:
        train(run, args)
    snippets = val_snippets(args)
    rows = {}
    for name in methods:
        metrics = evaluate(name, args, methods)
        rows[name] = {**metrics, **time_algorithm_1(load_model(name, args, methods), snippets)}
    distances = sorted({k for row in rows.values() for k in row if k.startswith("mIoU_d")})
    header = f"{'method':<20s} {'mIoU':>6s} " + " ".join(f"{d[5:]:>6s}" for d in distances)
    header += f" {'fps':>7s} {'N_feat':>7s} {'F+W':>7s} {'N_task':>7s}  (ms/frame)"
    lines = [header]
    for name, row in rows.items():
        cells = " ".join(f"{row[d]:>6.2f}" if d in row else f"{'-':>6s}" for d in distances)
        lines.append(
            f"{name:<20s} {row['mIoU']:>6.2f} {cells} {row['fps']:>7.2f} {row['N_feat ms']:>7.1f} "
            f"{row['F + W ms']:>7.1f} {row['N_task ms']:>7.1f}"
        )
    print(
        f"\nTable 4 (synthetic Cityscapes layout, l = 5, CPU, "
        f"{torch.get_num_threads()} threads)\n" + "\n".join(lines),
        flush=True,
    )
    results = Path(args.work_dir) / "results.json"
    results.write_text(json.dumps(rows, indent=1, default=float))  # numpy floats
    print(f"results: {results}", flush=True)
    return rows


if __name__ == "__main__":
    main()
