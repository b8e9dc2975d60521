"""Algorithm 1 of Zhu et al. (CVPR 2017) as two exported graphs, and a runner over them.

    key path:          I_k -> (f_k, y_k)              f_k = N_feat(I_k),   y_k = N_task(f_k)
    propagation path:  (f_k, I_k, I_i) -> (f_i, y_i)  f_i = W(f_k, F(I_k, I_i), S(I_k, I_i)),
                                                       y_i = N_task(f_i)                (Eq. 3)

Both paths are exported with ``torch.export`` (an ``ExportedProgram``) and converted from that
program to ONNX by ``torch.onnx.export`` (its torch.export-based exporter), so the two formats
hold the same graph. The warp's gathers become ONNX ``GatherElements`` and the flow network's
deconvolutions ``ConvTranspose``. Shapes are those of the example frames except the batch size
N, which stays free. :class:`ExportedDFFRunner` runs Algorithm 1 over the two paths with a
key-frame scheduler of :mod:`dff_common.scheduler`, on either format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from dff_common.engine import FrameOutput
from dff_common.scheduler import KeyFrameScheduler

__all__ = [
    "DeployInputs",
    "DeployParts",
    "ExportedDFFRunner",
    "KeyFramePath",
    "PropagationPath",
    "export_onnx",
    "export_paths",
    "onnxruntime_path",
]

KEY_INPUTS = ("images",)
PROPAGATION_INPUTS = ("key_features", "key_images", "images")


@dataclasses.dataclass
class DeployParts:
    """The three parts of a DFF model that Algorithm 1 runs.

    Attributes:
        feature_net (nn.Module): N_feat, images ``(N, 3, H, W)`` -> features ``(N, C, h, w)``.
        propagation (nn.Module): F + S + W with ``flow_and_scale`` and ``propagate``
            (:class:`~dff_common.propagation.FeaturePropagation`).
        task_net (nn.Module | None): N_task, features ``(N, C, h, w)`` -> a tensor or a tuple
            of tensors with leading N; None when the task network stays outside the graphs
            (the paths then end at the features).
    """

    feature_net: nn.Module
    propagation: nn.Module
    task_net: nn.Module | None = None


@dataclasses.dataclass
class DeployInputs:
    """A model's deploy parts with the videos to run them on and the task metric to score
    them, as each plugin's ``deploy.benchmark_inputs`` gives them.

    Attributes:
        parts (DeployParts): the model's networks, in eval mode, on the clips' device.
        clips (list[Tensor]): videos, ``(T, 3, H, W)`` normalised frames each.
        score (Callable): the task metric of the results ``[clip][frame]``.
        interval (int): the model's key frame duration l.
        metric (str): the metric's name, e.g. "mIoU".
    """

    parts: DeployParts
    clips: list[torch.Tensor]
    score: Callable[[list[list]], float]
    interval: int
    metric: str


def _with_task(task_net: nn.Module | None, features: torch.Tensor) -> tuple:
    if task_net is None:
        return (features,)
    y = task_net(features)
    return (features, *y) if isinstance(y, tuple | list) else (features, y)


class KeyFramePath(nn.Module):
    """Key frames: ``images (N, 3, H, W) -> (f (N, C, h, w), *y)`` with f = N_feat(I)."""

    def __init__(self, feature_net: nn.Module, task_net: nn.Module | None = None):
        super().__init__()
        self.feature_net = feature_net
        self.task_net = task_net

    def forward(self, images: torch.Tensor) -> tuple:
        return _with_task(self.task_net, self.feature_net(images))


class PropagationPath(nn.Module):
    """Other frames: ``(f_k (N, C, h, w), I_k, I_i (N, 3, H, W)) -> (f_i (N, C, h, w), *y_i)``."""

    def __init__(self, propagation: nn.Module, task_net: nn.Module | None = None):
        super().__init__()
        self.propagation = propagation
        self.task_net = task_net

    def forward(
        self, key_features: torch.Tensor, key_images: torch.Tensor, images: torch.Tensor
    ) -> tuple:
        flow, scale = self.propagation.flow_and_scale(key_images, images, key_features.shape[2:])
        return _with_task(self.task_net, self.propagation.propagate(key_features, flow, scale))


def _output_names(num_outputs: int) -> list[str]:
    tasks = ["y"] if num_outputs == 2 else [f"y{j}" for j in range(num_outputs - 1)]
    return ["features", *tasks]


def export_paths(
    parts: DeployParts, images: torch.Tensor
) -> tuple[torch.export.ExportedProgram, torch.export.ExportedProgram]:
    """``torch.export`` the key path and the propagation path of a model.

    Args:
        parts (DeployParts): the model's networks, in eval mode.
        images (Tensor): ``(N, 3, H, W)`` example frames, normalised as N_feat expects; the
            graphs take frames of this size (any N >= 1).

    Returns:
        tuple: ``(key_program, propagation_program)``; ``program.module()`` runs a graph.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    key_path = KeyFramePath(parts.feature_net, parts.task_net).eval()
    propagation_path = PropagationPath(parts.propagation, parts.task_net).eval()
    batch = torch.export.Dim("batch", min=1)
    images = images[:1].expand(2, -1, -1, -1)  # a batch of one would fix N = 1 in the graphs
    with torch.no_grad():
        key_features = key_path(images)[0]
        key = torch.export.export(key_path, (images,), dynamic_shapes=({0: batch},))
        propagation = torch.export.export(
            propagation_path,
            (key_features, images.clone(), images),  # two tensors: one would be one input
            dynamic_shapes=({0: batch}, {0: batch}, {0: batch}),
        )
    return key, propagation


def export_onnx(
    program: torch.export.ExportedProgram, path: str | Path, overwrite: bool = False
) -> Path:
    """Write an exported path (of :func:`export_paths`) as one ONNX file.

    Inputs are named ``images`` (key path) or ``key_features``, ``key_images``, ``images``
    (propagation path); outputs ``features`` and ``y`` (``y0``, ``y1``, ... for a tuple).

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    num_inputs = len(program.graph_signature.user_inputs)
    num_outputs = len(program.graph_signature.user_outputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        program,
        f=str(path),
        input_names=list(KEY_INPUTS if num_inputs == 1 else PROPAGATION_INPUTS),
        output_names=_output_names(num_outputs),
        external_data=False,
        verbose=False,
    )
    return path


def onnxruntime_path(path: str | Path, threads: int | None = None) -> Callable[..., tuple]:
    """An ONNX path as a function of torch tensors, run by onnxruntime.

    Args:
        path (str | Path): file written by :func:`export_onnx`.
        threads (int, optional): onnxruntime's intra-op threads (one inter-op thread).
            Defaults to onnxruntime's choice.

    Returns:
        Callable: ``(*inputs: Tensor) -> tuple[Tensor, ...]`` of the graph's outputs (CPU).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options)
    names = [i.name for i in session.get_inputs()]

    def run(*inputs: torch.Tensor) -> tuple:
        feed = {n: t.detach().cpu().contiguous().numpy() for n, t in zip(names, inputs)}
        return tuple(torch.from_numpy(o) for o in session.run(None, feed))

    return run


class ExportedDFFRunner:
    """Algorithm 1 over the two exported paths, one video at a time (batch 1).

    The first frame of a video is a key frame; later frames ask the scheduler, as
    :class:`~dff_common.engine.DFFInferenceEngine` does.

    Args:
        key_path (Callable): ``images (1, 3, H, W) -> (f, *y)``: ``program.module()`` of
            :func:`export_paths` or :func:`onnxruntime_path` of its ONNX file.
        propagation_path (Callable): ``(f_k, I_k, I_i) -> (f_i, *y_i)``, likewise.
        scheduler (KeyFrameScheduler): a scheduler that needs no flow field (the propagation
            path does not output it), e.g. ``FixedIntervalScheduler(l)``.
    """

    def __init__(
        self, key_path: Callable, propagation_path: Callable, scheduler: KeyFrameScheduler
    ):
        if scheduler.needs_flow:
            raise ValueError(
                f"{scheduler!r} needs the flow field, which the exported propagation path does "
                "not output; use a scheduler with needs_flow = False (e.g. fixed)"
            )
        self.key_path = key_path
        self.propagation_path = propagation_path
        self.scheduler = scheduler

    @torch.no_grad()
    def run_video(self, frames: Iterable[torch.Tensor]) -> Iterator[FrameOutput]:
        """Run Algorithm 1 over the ``(3, H, W)`` or ``(1, 3, H, W)`` frames of one video.

        Yields:
            FrameOutput: ``result`` is y without its batch dimension, as in the engine's
            ``run_video`` (a tuple for several outputs; f when the paths have no task network).
        """
        key_features = key_image = None
        key_index = 0
        count = 0
        for index, frame in enumerate(frames):
            frame = frame.unsqueeze(0) if frame.dim() == 3 else frame
            if frame.dim() != 4 or frame.shape[:2] != (1, 3):
                raise ValueError(
                    f"frame {index}: expected (3, H, W) or (1, 3, H, W), "
                    f"got shape {tuple(frame.shape)}"
                )
            is_key = index == 0 or self.scheduler.is_key(index - key_index)
            if is_key:
                outputs = self.key_path(frame)
                key_features, key_image, key_index = outputs[0], frame, index
            else:
                outputs = self.propagation_path(key_features, key_image, frame)
            results = [o[0] for o in outputs]  # batch of one
            result = results[0] if len(results) == 1 else results[1] if len(results) == 2 else None
            result = tuple(results[1:]) if result is None else result
            count += 1
            yield FrameOutput(result, bool(is_key), key_index)
        if count == 0:
            raise ValueError("empty video: no frames to process")
