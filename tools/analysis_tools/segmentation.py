"""The segmentation experiments on the synthetic Cityscapes-layout set (Table 4, Figure 3).

Building blocks of ``analysis_tools.segmentation_table4`` and
``analysis_tools.segmentation_figure3``: the training runs and table
rows (:data:`TRAININGS`, :data:`METHODS`), the set and the flow pre-training
(:func:`prepare`), the config options of a run (:func:`run_options`), training and
evaluation through mmengine's Runner (:func:`train`, :func:`train_run`, :func:`evaluate`), a
trained model (:func:`load_segmentor`, through :func:`dff_mmseg.load_model`), and the timing
of Algorithm 1 over the decoded val snippets (:func:`val_snippets`, :func:`time_segmentor`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from analysis_tools.pretrain_step import pretrain_flow
from dff_common.data.cityscapes import list_annotated_frames, read_image
from dff_common.flow_nets import FLOW_NETS
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes
from dff_common.timing import Algorithm1Timing, Timer, time_algorithm_1
from dff_mmseg.apis import load_model, save_starting_weights
from dff_mmseg.inference import engine_networks, normalize_clip
from dff_mmseg.train import build_config, run

__all__ = [
    "CONFIGS",
    "DATA",
    "METHODS",
    "QUICK_METHODS",
    "TRAININGS",
    "ZOO_METHODS",
    "checkpoint_of",
    "evaluate",
    "flow_net_options",
    "learns_flow",
    "load_segmentor",
    "method_checkpoint",
    "prepare",
    "run_options",
    "time_segmentor",
    "train",
    "train_run",
    "val_snippets",
]

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "dff_mmseg"
DATA = "datasets/synthetic_cityscapes"
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
    "frame-ft-quick": ("frame-ft_r50_1xb2-100it" + SYNTH, 100, "frame-quick"),
    # a wrapped mmseg zoo model (SegFormer MiT-B0 from its unchanged config)
    "frame-segformer": ("frame_segformer-mit-b0_1xb2-200it" + SYNTH, 200, None),
    "dff-segformer": ("dff_segformer-mit-b0-flownet_1xb2-100it" + SYNTH, 100, "frame-segformer"),
}
# table rows: method -> (config, training run of its weights)
METHODS = {
    "Frame": ("frame_r50_1xb2-400it" + SYNTH, "frame"),
    "Frame (+200 it)": ("frame-ft_r50_1xb2-200it" + SYNTH, "frame-ft"),
    "DFF (from scratch)": ("dff_r50-flownet_1xb2-400it" + SYNTH, "dff"),
    "DFF (N from Frame)": ("dff-ft_r50-flownet_1xb2-200it" + SYNTH, "dff-ft"),
    "DFF fix N": ("dff-fixn_r50-flownet_1xb2-200it" + SYNTH, "dff-fixn"),
    "DFF fix F": ("dff-fixf_r50-flownet_1xb2-200it" + SYNTH, "dff-fixf"),
    # Table 3's separate training, copying and SFF on the control's N, as much trained as DFF's
    "DFF separate": ("dff_r50-flownet_1xb2-400it" + SYNTH, "frame-ft"),
    "Copy (zero flow)": ("copy_r50-zeroflow_1xb2-400it" + SYNTH, "frame-ft"),
    "SFF (DIS flow)": ("sff_r50-dis_1xb2-400it" + SYNTH, "frame-ft"),
}
# copying and SFF on the control's N, as much trained as DFF's
QUICK_METHODS = {
    "Frame": ("frame_r50_1xb2-200it" + SYNTH, "frame-quick"),
    "Frame (+100 it)": ("frame-ft_r50_1xb2-100it" + SYNTH, "frame-ft-quick"),
    "DFF (N from Frame)": ("dff-ft_r50-flownet_1xb2-100it" + SYNTH, "dff-ft-quick"),
    "Copy (zero flow)": ("copy_r50-zeroflow_1xb2-400it" + SYNTH, "frame-ft-quick"),
    "SFF (DIS flow)": ("sff_r50-dis_1xb2-400it" + SYNTH, "frame-ft-quick"),
}
ZOO_METHODS = {
    "SegFormer Frame": ("frame_segformer-mit-b0_1xb2-200it" + SYNTH, "frame-segformer"),
    "SegFormer DFF": ("dff_segformer-mit-b0-flownet_1xb2-100it" + SYNTH, "dff-segformer"),
    "SegFormer copy": ("copy_segformer-mit-b0-zeroflow_1xb2-100it" + SYNTH, "frame-segformer"),
}


def learns_flow(config: str) -> bool:
    """Whether ``config`` (a file of :data:`CONFIGS`) has a learned flow network F: a
    ``model.flow_net`` of ``FLOW_NETS``."""
    from mmengine.config import Config

    flow_net = Config.fromfile(str(CONFIGS / config)).model.get("flow_net") or {}
    return flow_net.get("type") in {net.__name__ for net in FLOW_NETS.values()}


def prepare(
    data: str, flow_checkpoint: str, flow_net: str, quick: bool = False, seed: int = 0
) -> None:
    """Write the synthetic set (``quick``: 20 train / 10 val snippets, else 40 / 30) and
    pre-train the flow network on the synthetic Flying-Chairs-layout set, when missing, both
    from ``seed``."""
    if not Path(data).exists():
        snippets = (
            {"train": 20, "val": 10, "test": 1} if quick else {"train": 40, "val": 30, "test": 3}
        )
        make_synthetic_cityscapes(data, snippets, seed=seed)
    pretrain_flow(
        flow_checkpoint, f"datasets/synthetic_chairs_seed{seed}", flow_net, 300,
        make_synthetic=2000, synthetic_size=(64, 128), seed=seed,
    )  # fmt: skip


def run_options(
    config: str,
    data: str,
    flow_net: str | None = None,
    flow_checkpoint: str | None = None,
    seed: int = 0,
) -> dict:
    """Config options of a run: the data root, the seed and, for a learned flow, F's
    network and the checkpoint of its pre-training (read when the model is built to train)."""
    options = {
        f"{loader}.dataset.data_root": data
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader")
    }
    if learns_flow(config):
        options.update(flow_net_options(flow_net, flow_checkpoint))
    return {**options, "randomness.seed": seed}


def flow_net_options(flow_net: str | None, flow_checkpoint: str | None = None) -> dict:
    """Config options that make F the network ``flow_net`` (a name of ``FLOW_NETS``) with
    the initial weights of ``flow_checkpoint`` (its ``init_cfg``, read when training starts)."""
    options = {"model.flow_net.type": FLOW_NETS[flow_net].__name__} if flow_net else {}
    if flow_checkpoint:
        options["model.flow_net.init_cfg.type"] = "Pretrained"
        options["model.flow_net.init_cfg.checkpoint"] = str(flow_checkpoint)
    return options


def checkpoint_of(run: str, work_dir: str) -> Path:
    """The final checkpoint of training run ``run`` (of :data:`TRAININGS`) under ``work_dir``."""
    return Path(work_dir) / run / f"iter_{TRAININGS[run][1]}.pth"


def train(config: str, work_dir: str | Path, options: dict, overwrite: bool = False) -> None:
    """Train ``config`` (a file of :data:`CONFIGS`, with config ``options``) with mmengine's
    Runner into ``work_dir`` (replacing checkpoints there only if ``overwrite``)."""
    cfg = build_config(str(CONFIGS / config), work_dir=work_dir, cfg_options=options)
    run(cfg, overwrite=overwrite)


def train_run(
    run: str,
    work_dir: str,
    data: str,
    flow_net: str | None,
    flow_checkpoint: str | None,
    retrain: bool = False,
    seed: int = 0,
) -> Path:
    """Train ``run`` (of :data:`TRAININGS`, from its initialising run's checkpoint) with
    ``seed`` unless its final checkpoint exists or ``retrain``; returns the checkpoint."""
    config, _, init = TRAININGS[run]
    checkpoint = checkpoint_of(run, work_dir)
    if retrain or not checkpoint.is_file():
        options = run_options(config, data, flow_net, flow_checkpoint, seed)
        if init:
            options["load_from"] = str(checkpoint_of(init, work_dir))
        train(config, checkpoint.parent, options, overwrite=retrain)
    return checkpoint


def evaluate(config: str, checkpoint: str | Path, work_dir: str | Path, options: dict):
    """Sec. 5.2 metrics of ``config`` with ``checkpoint`` through the Runner's test loop."""
    cfg = build_config(
        str(CONFIGS / config), work_dir=work_dir, cfg_options=options, eval_only=True,
        checkpoint=checkpoint,
    )  # fmt: skip
    return run(cfg, eval_only=True)


def load_segmentor(config: str, checkpoint: str | Path, flow_net: str | None = None):
    """The segmentor of ``config`` (a file of :data:`CONFIGS`; F = ``flow_net`` for a learned
    flow) with its trained weights, in eval mode (:func:`dff_mmseg.load_model`)."""
    options = None
    if flow_net and learns_flow(config):
        options = {"model.flow_net.type": FLOW_NETS[flow_net].__name__}
    return load_model(str(CONFIGS / config), str(checkpoint), cfg_options=options)


def method_checkpoint(
    config: str, run: str, work_dir: str, flow_net: str | None, flow_checkpoint: str | None
) -> Path:
    """The weights a table row evaluates: its run's final checkpoint, or, for a learned flow
    on a run without one (*DFF separate*: Frame's N), that checkpoint with F's pre-trained
    weights added (:func:`dff_mmseg.save_starting_weights`), written next to it."""
    checkpoint = checkpoint_of(run, work_dir)
    if not learns_flow(config) or learns_flow(TRAININGS[run][0]):
        return checkpoint
    merged = checkpoint.with_name(f"{checkpoint.stem}_{Path(flow_checkpoint).stem}.pth")
    inputs = max(checkpoint.stat().st_mtime, Path(flow_checkpoint).stat().st_mtime)
    if not merged.is_file() or merged.stat().st_mtime < inputs:  # it derives from the two only
        options = flow_net_options(flow_net, flow_checkpoint)
        save_starting_weights(str(CONFIGS / config), str(checkpoint), str(merged), options)
    return merged


def val_snippets(data: str) -> list[torch.Tensor]:
    """Every val snippet as ``(30, 3, H, W)`` uint8 RGB frames (decoded before timing)."""
    snippets = []
    for annotated in list_annotated_frames(data, "val"):
        frames = [read_image(annotated.frame_path(f)) for f in annotated.snippet]
        snippets.append(torch.stack([torch.from_numpy(f).permute(2, 0, 1) for f in frames]))
    return snippets


@torch.no_grad()
def time_segmentor(
    model: nn.Module, snippets: list[torch.Tensor], timer: Timer, interval: int | None = None
) -> Algorithm1Timing:
    """Algorithm 1 with key frames every ``interval`` frames (default: the model's ``interval``;
    1 for a per-frame model) over every frame of ``snippets``, batch 1, timed per part
    (:func:`dff_common.timing.time_algorithm_1`) on frames already normalised."""
    feature_net, task_net, propagation = engine_networks(model)
    if propagation is None:
        interval = 1
    scheduler = FixedIntervalScheduler(interval or model.interval)
    clips = [normalize_clip(model, snippet) for snippet in snippets]
    return time_algorithm_1(feature_net, task_net, propagation, scheduler, clips, timer)
