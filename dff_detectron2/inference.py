"""Algorithm 1 for a ``DFFRCNN`` outside detectron2's inference loop (timing).

:func:`engine_networks` gives the three arguments of ``dff_common``'s ``DFFInferenceEngine``
that the model's parts fill (N_feat, N_task with the engine's signature, the propagation
F + S + W), :func:`normalize_clip` a clip of decoded frames as the model's input, and
:func:`record_proposals` the number of proposals N_task works on per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from detectron2.structures import ImageList
from torch import nn

__all__ = ["engine_networks", "normalize_clip", "record_proposals"]


def engine_networks(
    model: nn.Module, image_size: Sequence[int] | None = None
) -> tuple[Callable, Callable, nn.Module | None]:
    """``(feature_net, task_net, propagation)`` of a ``DFFRCNN`` for the engine.

    Args:
        model (DFFRCNN): in eval mode.
        image_size (Sequence[int], optional): ``(H, W)`` of the frames before padding, where
            the anchors and boxes are clipped. Defaults to the size of the frames N_task gets.

    Returns:
        tuple: N_feat (images ``(N, 3, H, W)`` -> ``{level: (N, C, h, w)}``), N_task as
        ``(maps, images (N, 3, H, W)) -> list of N Instances`` (detections in the frames'
        coordinates), and the propagation (None for a per-frame model).
    """

    def task_net(features: dict, images: torch.Tensor) -> list:
        sizes = [tuple(image_size or images.shape[-2:])] * len(images)
        return model.task_network(features, ImageList(images, sizes))[0]

    return model.feature_network, task_net, model.propagation


def normalize_clip(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    """``(T, 3, H, W)`` frames in the model's ``INPUT.FORMAT``, values in [0, 255] -> its
    input: normalised by ``pixel_mean`` / ``pixel_std`` and padded to the backbone's
    ``size_divisibility``, ``(T, 3, H', W')``, on its device."""
    return model.preprocess_frames([{"image": frame} for frame in clip.float()])[0].tensor


def record_proposals(model: nn.Module) -> list[int] | None:
    """From now on, count the proposals the proposal generator gives N_task's ROI heads.

    Returns:
        list[int] | None: filled by each later call of the model's proposal generator with its
        number of proposals per image; None for a one-stage detector (``DFFRetinaNet``), which
        has no proposals.
    """
    if getattr(model, "proposal_generator", None) is None:
        return None
    counts = []

    def count(module, inputs, outputs):
        counts.extend(len(proposals) for proposals in outputs[0])

    model.proposal_generator.register_forward_hook(count)
    return counts
