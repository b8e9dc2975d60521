"""Algorithm 1 for a ``DFFSegmentor`` outside mmengine's test loop (demo, timing).

:func:`engine_networks` gives the three arguments of ``dff_common``'s
``DFFInferenceEngine`` that the model's parts fill (N_feat, N_task with the engine's
signature, the propagation F + S + W), :func:`default_scheduler` the key-frame scheduler of
its ``test_cfg`` (as ``DFFSegmentor.stream_inference``), :func:`normalize_clip` a clip of
decoded frames as the model's input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dff_common.scheduler import KeyFrameScheduler, build_scheduler

__all__ = ["default_scheduler", "engine_networks", "normalize_clip"]


def engine_networks(model: nn.Module) -> tuple[nn.Module, Callable, nn.Module | None]:
    """``(feature_net, task_net, propagation)`` of a ``DFFSegmentor`` for the engine.

    Returns:
        tuple: N_feat (images ``(N, 3, H, W)`` -> maps), N_task as ``(maps, images) ->
        (N, C, h, w)`` scores, and the propagation (None for a per-frame model).
    """
    n_task = model.n_task()
    return model.n_feat(), lambda features, _images: n_task(features), model.propagation


def default_scheduler(model: nn.Module) -> KeyFrameScheduler:
    """The scheduler of ``model.test_cfg`` (default: fixed, every ``model.interval`` frames)."""
    default = dict(type="fixed", interval=model.interval)
    return build_scheduler(dict(model.test_cfg.get("scheduler", default)))


def normalize_clip(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    """``(T, 3, H, W)`` uint8 frames (the pipeline's channel order) -> the model's float input
    ``(T, 3, H, W)``, normalised by its data preprocessor, on its device."""
    device = model.data_preprocessor.mean.device
    frames = model.data_preprocessor.normalize_frames(clip.to(device).flatten(0, 1))
    return frames.view(clip.shape[0], 3, *clip.shape[2:])
