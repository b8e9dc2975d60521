"""The DFF segmentor's parts for the fast inference paths, and its synthetic val set to score them.

:func:`deploy_parts` gives N_feat, the propagation and N_task of a built ``DFFSegmentor`` for
``dff_common.export`` and the deploy benchmark (``tools/benchmark.py``); :func:`val_clips` and
:func:`miou_score` give the clips of a Cityscapes-layout val split and the mIoU of Algorithm 1's
scores on their annotated frames (mmseg's ``IoUMetric`` computation); :func:`benchmark_inputs`
all of it for ``compare_deploy``, from a config, a checkpoint and a data root.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from mmengine.config import DictAction
from mmseg.evaluation import IoUMetric
from mmseg.models.utils import resize
from torch import nn

from dff_common.data.cityscapes import (
    ANNOTATED_INDEX,
    check_frames_exist,
    list_annotated_frames,
    read_image,
    read_label,
)
from dff_common.export import DeployInputs, DeployParts
from dff_mmseg.apis import load_model

__all__ = ["benchmark_inputs", "deploy_parts", "miou_score", "val_clips"]


class _OneMap(nn.Module):
    """A part whose features are one map: ``N_feat`` -> that map, ``N_task`` <- that map."""

    def __init__(self, part: nn.Module, output: bool):
        super().__init__()
        self.part, self.output = part, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.part(x)[0] if self.output else self.part((x,))


def deploy_parts(model: nn.Module) -> DeployParts:
    """N_feat, the propagation F + S + W and N_task of a ``DFFSegmentor`` (shared weights).

    The exported paths carry one feature map: the paper's model, and any model whose N_task
    reads one level.

    Raises:
        ValueError: for the per-frame model (``flow_net=None``), which has no propagation, and
            for a model that propagates several levels.
    """
    if model.propagation is None:
        raise ValueError(
            "the per-frame model (flow_net=None) has no propagation: nothing to run between "
            "key frames"
        )
    if len(model.propagated_levels) != 1:
        raise ValueError(
            f"the model propagates {len(model.propagated_levels)} feature levels "
            f"{model.propagated_levels}; the exported paths carry one feature map"
        )
    return DeployParts(
        _OneMap(model.n_feat(), True), model.propagation, _OneMap(model.n_task(), False)
    )


def val_clips(
    model: nn.Module, data_root: str | Path, split: str = "val", channel_order: str = "bgr"
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The snippets of a split up to their annotated frame, normalised as ``model`` expects.

    Each clip is frames 0 .. 19 of a snippet, the annotated frame last, so Algorithm 1 run
    from frame 0 (key frames 0, l, 2l, ...) predicts the annotated frame at key distance
    ``19 mod l``, as the stream configs do.

    Args:
        model (nn.Module): a ``DFFSegmentor`` (its ``data_preprocessor`` converts the channels
            and normalises).
        data_root (str | Path): Cityscapes-layout root (``leftImg8bit_sequence``, ``gtFine``).
        split (str): the split. Defaults to "val".
        channel_order (str): the frames' order as the config's ``LoadVideoFrames`` reads them.
            Defaults to "bgr" (its default, mmseg's convention).

    Returns:
        tuple: clips ``(20, 3, H, W)`` float and labels ``(H, W)`` long (train ids), per snippet.
    """
    clips, labels = [], []
    device = next(model.parameters()).device
    for annotated in list_annotated_frames(data_root, split):
        frames = list(annotated.snippet)[: ANNOTATED_INDEX + 1]
        check_frames_exist(annotated, frames)
        images = [read_image(annotated.frame_path(f), channel_order) for f in frames]
        stack = torch.stack([torch.from_numpy(i).permute(2, 0, 1) for i in images]).to(device)
        normalised = model.data_preprocessor.normalize_frames(stack.flatten(0, 1))
        clips.append(normalised.view(stack.shape))
        labels.append(torch.from_numpy(read_label(annotated.label_path)).long())
    return clips, labels


def miou_score(
    labels: list[torch.Tensor], num_classes: int, ignore_index: int = 255, align_corners=False
) -> Callable[[list[list[torch.Tensor]]], float]:
    """mIoU (percent) of the scores on each clip's last (annotated) frame.

    Args:
        labels (list[Tensor]): ``(H, W)`` label maps, one per clip.
        num_classes (int): C.
        ignore_index (int): label not scored. Defaults to 255.
        align_corners (bool): of the score upsampling (the model's). Defaults to False.

    Returns:
        Callable: ``results[clip][frame]`` of ``(C, h, w)`` scores -> mIoU in percent.
    """

    def score(results: list[list[torch.Tensor]]) -> float:
        areas = []
        for clip, label in zip(results, labels, strict=True):
            scores = clip[-1][None].float().cpu()  # [1, C, h, w]
            scores = resize(scores, label.shape, mode="bilinear", align_corners=align_corners)
            prediction = scores[0].argmax(0)
            areas.append(
                IoUMetric.intersect_and_union(prediction, label, num_classes, ignore_index)
            )
        totals = [sum(area[j] for area in areas) for j in range(4)]
        return 100 * float(np.nanmean(IoUMetric.total_area_to_metrics(*totals, ["mIoU"])["IoU"]))

    return score


def benchmark_inputs(
    config: str,
    data_root: str | Path,
    checkpoint: str | None = None,
    opts: Sequence[str] = (),
    device: str = "cpu",
    max_clips: int | None = None,
) -> DeployInputs:
    """The segmentor of ``config`` with ``checkpoint`` (random weights without), the val
    clips of ``data_root`` read in the channel order of its test pipeline, and their mIoU.

    Args:
        config (str): mmseg Python config of a ``DFFSegmentor``.
        data_root (str | Path): Cityscapes-layout root (see :func:`val_clips`).
        checkpoint (str, optional): trained weights.
        opts (Sequence[str]): ``KEY=VALUE`` overrides, as mmseg's ``--cfg-options``.
        device (str): where the model and the clips go. Defaults to "cpu".
        max_clips (int, optional): the first N clips only. Defaults to all.

    Returns:
        DeployInputs: the parts, clips, mIoU scoring and the model's l.
    """
    cfg_options = None
    if opts:
        parser = argparse.ArgumentParser(prog="opts")
        parser.add_argument("opts", nargs="+", action=DictAction)
        cfg_options = parser.parse_args(list(opts)).opts
    model = load_model(config, checkpoint, device=device, cfg_options=cfg_options)
    loads = [t for t in model.cfg.test_dataloader.dataset.pipeline if t.type == "LoadVideoFrames"]
    channel_order = loads[0].get("channel_order", "bgr") if loads else "bgr"
    clips, labels = val_clips(model, data_root, channel_order=channel_order)
    clips, labels = clips[:max_clips], labels[:max_clips]
    head = model.final_head
    score = miou_score(labels, head.num_classes, head.ignore_index, head.align_corners)
    return DeployInputs(deploy_parts(model), clips, score, model.interval, "mIoU")
