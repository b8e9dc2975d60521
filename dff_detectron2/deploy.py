"""The DFF detector's parts for the fast inference paths, and its val set to score them.

The exported graphs and the accelerated engine cover N_feat and the propagation F + S + W
(:func:`deploy_parts`); the task network stays in Python (:func:`detect`): the task prefix,
the RPN with its proposal selection and NMS, and the R-FCN head with its position-sensitive
pooling and NMS (``DFFRCNN.task_network``), so that a detection is exactly the model's.
:func:`val_clips` and :func:`vid_map_score` give the videos of a registered ImageNet VID split
and the VID mAP of detections made from Algorithm 1's features (``VIDEvaluator``);
:func:`benchmark_inputs` all of it for ``compare_deploy``, from a config, a checkpoint and a
data root.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

import torch
from detectron2.modeling.postprocessing import detector_postprocess
from torch import nn

from dff_common.export import DeployInputs, DeployParts
from dff_detectron2.data.data_loader import build_dff_test_loader
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.data.datasets import register_imagenet_vid
from dff_detectron2.evaluation.evaluator import VIDEvaluator
from dff_detectron2.load import get_dff_cfg, load_model

__all__ = [
    "FeaturePart",
    "benchmark_inputs",
    "deploy_parts",
    "detect",
    "val_clips",
    "vid_map_score",
]


class FeaturePart(nn.Module):
    """N_feat of a ``DFFRCNN`` with one propagated map as a module:
    ``(N, 3, H, W) -> (N, C_split, h, w)`` (the map ``level`` of ``feature_network``)."""

    def __init__(self, model: nn.Module, level: str):
        super().__init__()
        self.model, self.level = model, level

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.feature_network(images)[self.level]


def deploy_parts(model: nn.Module) -> DeployParts:
    """N_feat and the propagation of a ``DFFRCNN``; no task network (see :func:`detect`).

    The exported paths carry one feature map: the paper's R-FCN, and any detector whose
    backbone gives one level (C4, DC5).

    Raises:
        ValueError: for the per-frame model (``MODEL.DFF.MODE frame``), with no propagation,
            and for a backbone of several levels (FPN).
    """
    if model.propagation is None:
        raise ValueError(
            "the per-frame model (MODEL.DFF.MODE frame) has no propagation: nothing to run "
            "between key frames"
        )
    levels = model.propagation_levels()
    if len(levels) != 1:
        raise ValueError(
            f"the backbone gives {len(levels)} feature levels {levels}; the exported paths "
            "carry one feature map"
        )
    return DeployParts(FeaturePart(model, levels[0]), model.propagation, None)


@torch.no_grad()
def detect(model: nn.Module, features: torch.Tensor, inputs: list[dict]) -> list[dict]:
    """Detections from features at the split point, as ``model(inputs)`` returns them.

    Args:
        model (nn.Module): the ``DFFRCNN`` the features come from.
        features (Tensor): ``(N, C_split, h, w)`` features of the N frames of ``inputs``.
        inputs (list[dict]): detectron2 inputs (``image`` ``(3, H, W)``, optional ``height``,
            ``width``).

    Returns:
        list[dict]: ``{"instances": Instances}`` per input, in the output resolution.
    """
    (images,) = model.preprocess_frames(inputs)
    (level,) = model.propagation_levels()
    instances = model.task_network({level: features.to(model.device)}, images)[0]
    return [
        {
            "instances": detector_postprocess(
                r, x.get("height", r.image_size[0]), x.get("width", r.image_size[1])
            )
        }
        for r, x in zip(instances, inputs)
    ]


def val_clips(model: nn.Module, loader) -> tuple[list[torch.Tensor], list[list[dict]]]:
    """The videos of a test loader as normalised clips, with their detectron2 inputs.

    Args:
        model (nn.Module): the ``DFFRCNN`` (normalises and pads as in inference).
        loader (Iterable[list[dict]]): ``build_dff_test_loader``'s batches, whole videos in
            frame order (``video_id``, ``frame_idx``).

    Returns:
        tuple: clips ``(T, 3, H, W)`` (padded to the backbone's size divisibility) and the
        inputs of each frame.
    """
    frames = [x for batch in loader for x in batch]
    videos = [list(group) for _, group in groupby(frames, key=lambda x: x["video_id"])]
    clips = [model.preprocess_frames(video)[0].tensor for video in videos]
    return clips, videos


def vid_map_score(
    model: nn.Module, evaluator, inputs: list[list[dict]]
) -> Callable[[list[list[torch.Tensor]]], float]:
    """VID mAP (percent) of the detections made from Algorithm 1's features.

    Args:
        model (nn.Module): the ``DFFRCNN``.
        evaluator (VIDEvaluator): the evaluator of the split (``distributed=False``).
        inputs (list[list[dict]]): the inputs of each clip's frames (:func:`val_clips`).

    Returns:
        Callable: ``results[clip][frame]`` of ``(C_split, h, w)`` features -> VID mAP.
    """

    def score(results: list[list[torch.Tensor]]) -> float:
        evaluator.reset()
        for clip, clip_inputs in zip(results, inputs, strict=True):
            for features, x in zip(clip, clip_inputs, strict=True):
                evaluator.process([x], detect(model, features[None], [x]))
        return float(evaluator.evaluate()["bbox"]["mAP"])

    return score


def benchmark_inputs(
    config: str,
    data_root: str,
    checkpoint: str | None = None,
    opts: Sequence = (),
    device: str = "cpu",
    max_clips: int | None = None,
) -> DeployInputs:
    """The detector of ``config`` with ``checkpoint`` (random weights without), the videos of
    the ``vid_val`` split of ``data_root`` and their VID mAP.

    Args:
        config (str): a DFF YAML config.
        data_root (str): ILSVRC2015-layout root, registered as ``deploy_*``.
        checkpoint (str, optional): trained weights.
        opts (Sequence): ``KEY VALUE`` overrides.
        device (str): ``MODEL.DEVICE``. Defaults to "cpu".
        max_clips (None): only None: the VID mAP is defined on the whole split.

    Returns:
        DeployInputs: the parts, clips, VID mAP scoring and the config's l.
    """
    if max_clips is not None:
        raise ValueError(f"max_clips={max_clips}: the VID mAP needs the whole split")
    name = [n for n in register_imagenet_vid(data_root, "deploy") if n.endswith("_vid_val")][0]
    cfg = get_dff_cfg(config, [*opts, "DATASETS.TEST", (name,), "MODEL.DEVICE", device])
    model = load_model(cfg, checkpoint or "")
    loader = build_dff_test_loader(cfg, name, DFFPairDatasetMapper(cfg, is_train=False))
    clips, inputs = val_clips(model, loader)
    score = vid_map_score(model, VIDEvaluator(name, distributed=False), inputs)
    return DeployInputs(
        deploy_parts(model), clips, score, cfg.MODEL.DFF.KEY_FRAME_INTERVAL, "VID mAP"
    )
