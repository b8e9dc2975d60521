"""The detection experiments on the synthetic ImageNet-VID-layout set (Table 4, Figure 3).

Building blocks of ``analysis_tools.detection_table4`` and ``analysis_tools.detection_figure3``:
the set written
and registered (:func:`prepare_synthetic_vid`), a run's config on the synthetic base config
(:func:`synthetic_cfg`, :func:`schedule_opts`, :func:`start_from`), training with
detectron2's trainer or reusing its final model (:func:`train_or_load`), evaluation with
the VID evaluator and the model's frames per second (:func:`evaluate`), and the part costs
of Eq. 5 in milliseconds and multiply-adds (:func:`part_costs`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import torch
from detectron2.config import CfgNode
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import log_every_n_seconds

from dff_common.complexity import PartCosts, measure_complexity
from dff_common.flow_nets import FLOW_NETS
from dff_common.flow_pretraining import read_flow_meta
from dff_common.reproducibility import seed_everything
from dff_common.synthetic.vid import PARAMETERS_FILE, make_synthetic_vid
from dff_common.timing import Timer, time_parts
from dff_detectron2.checkpoint.convert import initial_weights, save_weights
from dff_detectron2.data.datasets import register_imagenet_vid
from dff_detectron2.engine.trainer import Trainer
from dff_detectron2.load import get_dff_cfg, load_model

__all__ = [
    "PREFIX",
    "SYNTHETIC_BASE",
    "evaluate",
    "flow_checkpoint_opts",
    "part_costs",
    "prepare_synthetic_vid",
    "schedule_opts",
    "start_from",
    "synthetic_cfg",
    "train_or_load",
]

SYNTHETIC_BASE = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "configs",
    "dff_detectron2",
    "Base-DFF-RFCN-Synthetic.yaml",
)
PREFIX = "table4"  # dataset names <PREFIX>_vid_train, ..._vid_val, ..._det_train_30classes

logger = logging.getLogger("dff_detectron2")


def prepare_synthetic_vid(
    root: str, train_videos: int, val_videos: int, seed: int = 0, size: Sequence[int] = (96, 128)
) -> None:
    """Write the synthetic set at ``root`` unless it exists (30 frames of ``size`` (height,
    width) per video, as many DET images as training videos), and register it as ``PREFIX_*``.

    Raises:
        ValueError: when ``root`` holds a synthetic set written with other arguments (its
            ``synthetic_vid.json``), which would otherwise be used in place of the one asked for.
    """
    height, width = size
    asked = dict(
        num_train_videos=train_videos, num_val_videos=val_videos, height=height, width=width,
        seed=seed,
    )  # fmt: skip
    if not os.path.isdir(root):
        make_synthetic_vid(
            root, num_test_videos=0, num_frames=30, num_det_images=train_videos, **asked
        )
    recorded = os.path.join(root, PARAMETERS_FILE)
    if os.path.isfile(recorded):  # a set of make_synthetic_vid's (a real VID set has none)
        with open(recorded) as f:
            written = json.load(f)
        differ = {k: (written.get(k), v) for k, v in asked.items() if written.get(k) != v}
        if differ:
            raise ValueError(
                f"{recorded}: the set at {root} was written with "
                + ", ".join(f"{k}={w} (asked: {a})" for k, (w, a) in differ.items())
                + "; give another folder (--data) or the set's own arguments"
            )
    register_imagenet_vid(root, PREFIX)


def flow_checkpoint_opts(path: str) -> list:
    """``MODEL.DFF.FLOW.NAME`` / ``NORM`` of a ``tools/pretrain_flow.py`` checkpoint (its
    ``meta``), so that the model's F is the network the checkpoint holds; [] without one."""
    if not path:
        return []
    meta = read_flow_meta(path)
    opts = []
    if "flow_net" in meta:  # tools/pretrain_flow.py's name -> the flow function's class name
        opts += ["MODEL.DFF.FLOW.NAME", FLOW_NETS[meta["flow_net"]].__name__]
    if "norm" in meta:
        opts += ["MODEL.DFF.FLOW.NORM", meta["norm"] or ""]
    return opts


def synthetic_cfg(
    output_dir: str,
    interval: int,
    seed: int = 0,
    flow_weights: str | None = None,
    opts: Sequence = (),
    base: str = SYNTHETIC_BASE,
) -> CfgNode:
    """A run's frozen config: ``base`` (the R-FCN's ``SYNTHETIC_BASE``, or another synthetic
    DFF config such as a wrapped model-zoo detector) on the ``PREFIX_*`` datasets, no periodic
    evaluation, key frame duration ``interval``, then ``opts``.

    ``flow_weights``, a ``tools/pretrain_flow.py`` checkpoint, sets F's network and norm
    (:func:`flow_checkpoint_opts`); :func:`start_from` puts its weights into ``MODEL.WEIGHTS``.
    """
    flow = flow_checkpoint_opts(flow_weights) if flow_weights else []
    return get_dff_cfg(
        base,
        [
            "DATASETS.TRAIN", (f"{PREFIX}_vid_train", f"{PREFIX}_det_train_30classes"),
            "DATASETS.TEST", (f"{PREFIX}_vid_val",),
            "TEST.EVAL_PERIOD", 0,
            *flow,
            "MODEL.DFF.KEY_FRAME_INTERVAL", interval,
            "OUTPUT_DIR", output_dir,
            "SEED", seed,
            *opts,
        ],
    )  # fmt: skip


def schedule_opts(iters: int, finetune: bool = False, base: str = SYNTHETIC_BASE) -> list:
    """SOLVER options of a synthetic run of ``iters`` iterations (lr divided by 10 at 3/4).

    A ``finetune`` run (DFF from the Frame model: N for DFF, in place of the paper's ImageNet
    initialisation; see :func:`start_from`) starts at a tenth of the base lr of the config
    ``base``, without warm-up: at the Frame lr the fine-tuning degrades N.
    """
    opts = ["SOLVER.MAX_ITER", iters, "SOLVER.STEPS", (int(0.75 * iters),)]
    if finetune:
        base_lr = get_dff_cfg(base).SOLVER.BASE_LR
        opts += ["SOLVER.BASE_LR", base_lr / 10, "SOLVER.WARMUP_ITERS", 0]
    return opts


def start_from(cfg: CfgNode, frame_weights: str, flow_weights: str = "") -> CfgNode:
    """``cfg`` starting from the Frame model's N and the pre-trained F (``MODEL.WEIGHTS``).

    The two are merged by :func:`dff_detectron2.checkpoint.convert.initial_weights` into a file
    next to
    the Frame model, ``<frame>_<flow>.pth``, written again when older than either input (it
    derives from them only). The flow weights (``tools/pretrain_flow.py``) were trained on RGB
    frames: for a BGR model (``INPUT.FORMAT``, e.g. a model-zoo detector) the colour channels
    of their first layer are reversed.
    """
    if not flow_weights:
        return get_dff_cfg(cfg, ["MODEL.WEIGHTS", frame_weights])
    stem = os.path.splitext(os.path.basename(flow_weights))[0]
    merged = f"{os.path.splitext(frame_weights)[0]}_{stem}.pth"
    inputs = max(os.path.getmtime(frame_weights), os.path.getmtime(flow_weights))
    if not os.path.isfile(merged) or os.path.getmtime(merged) < inputs:
        bgr = cfg.INPUT.FORMAT == "BGR"
        weights = initial_weights(cfg, flow=flow_weights, base=frame_weights, bgr_to_rgb=bgr)
        save_weights(weights, merged, overwrite=True)
    return get_dff_cfg(cfg, ["MODEL.WEIGHTS", merged])


def train_or_load(cfg: CfgNode, retrain: bool = False) -> torch.nn.Module:
    """Train with detectron2's trainer (no evaluation: ``DATASETS.TEST`` is emptied), or load
    ``OUTPUT_DIR/model_final.pth`` when it exists and not ``retrain``."""
    final = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    if os.path.isfile(final) and not retrain:
        logger.info("reusing %s (--retrain trains again)", final)
        return load_model(cfg, final)
    cfg = get_dff_cfg(cfg, ["DATASETS.TEST", ()])
    if cfg.SEED >= 0:  # every source and the deterministic kernels; -1: a fresh seed, as detectron2
        seed_everything(cfg.SEED, deterministic=True)
    else:
        seed_all_rng(None)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return trainer.model


def evaluate(cfg: CfgNode, model: torch.nn.Module, timer: Timer | None = None) -> dict:
    """VID metrics and model time per frame on ``cfg.DATASETS.TEST[0]``.

    Args:
        cfg (CfgNode): the model's config (test set, evaluator settings, output folder).
        model (nn.Module): the detector; put in eval mode, its key-frame caches reset.
        timer (Timer, optional): clock of the model calls (data loading excluded). Defaults to
            wall time on ``MODEL.DEVICE``.

    Returns:
        dict: ``mAP``, ``AP50_coco``, ``mAP_slow``/``medium``/``fast`` (percent) and ``fps``.
    """
    timer = timer or Timer(cfg.MODEL.DEVICE)
    name = cfg.DATASETS.TEST[0]
    loader = Trainer.build_test_loader(cfg, name)
    evaluator = Trainer.build_evaluator(cfg, name, os.path.join(cfg.OUTPUT_DIR, "inference"))
    evaluator.reset()
    model.eval()
    model.reset_videos()
    seconds, frames = 0.0, 0
    with torch.no_grad():
        for inputs in loader:
            outputs, elapsed = timer.call(model, inputs)
            seconds += elapsed
            frames += len(inputs)
            evaluator.process(inputs, outputs)
            progress = f"{name}: {frames}/{len(loader)} frames"
            log_every_n_seconds(logging.INFO, progress, n=10, name="dff_detectron2")
    metrics = dict(evaluator.evaluate()["bbox"])
    metrics["fps"] = frames / seconds
    return metrics


@torch.no_grad()
def part_costs(
    model: torch.nn.Module, image: torch.Tensor, timer: Timer, repeats: int = 10
) -> tuple[PartCosts, PartCosts]:
    """The costs of Eq. 5 of a DFF detector on one test frame, in ms and in multiply-adds.

    Args:
        model (DFFRCNN): a DFF model (with a propagation module), in eval mode.
        image (Tensor): ``(3, H, W)`` a test frame (already resized).
        timer (Timer): the clock (:func:`dff_common.timing.time_parts`: each part alone).
        repeats (int): timed runs per part (median). Defaults to 10.

    Returns:
        tuple[PartCosts, PartCosts]: milliseconds (F + S together as ``flow``) and MACs
        (:func:`dff_common.complexity.measure_complexity`).
    """
    (images,) = model.preprocess_frames([{"image": image}])
    frames = images.tensor

    def task_net(features, _frames=None):  # N_task needs the ImageList (sizes, anchors)
        return model.task_network(features, images)

    feature_net, propagation = model.feature_network, model.propagation
    ms = time_parts(feature_net, propagation, task_net, frames, frames, timer, repeats)
    macs = measure_complexity(
        feature_net, propagation.flow_net, task_net, frames.shape[-2:],
        propagation.flow_input_scale, device=frames.device,
    )  # fmt: skip
    return ms, macs
