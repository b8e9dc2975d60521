"""Faster networks for Algorithm 1 of Zhu et al. (CVPR 2017): compile, channels_last, autocast.

DFF's speed is that of its three networks (Eq. 5-7): N_feat on key frames, the flow network
F on the others, N_task on every frame. :func:`accelerate` wraps them, each option off by
default:

- ``compile``: ``torch.compile`` of N_feat, of F (the propagation's ``flow_and_scale``, i.e.
  the half-size resize, F and the resize of its fields to the feature grid) and of N_task,
  with inductor's ``freezing``: the weights become constants of the compiled code at the
  first call (on a CPU this pre-packs them for oneDNN; without it, inductor converts every
  convolution weight to channels_last at every call, slower than eager), so weights changed
  after the first call are not seen;
- ``channels_last``: the networks' weights and 4-D inputs in the NHWC memory format; outputs
  are returned in the default (NCHW) format;
- ``autocast``: the networks under ``torch.autocast``, bfloat16 on a CPU and float16 on CUDA,
  with their floating outputs cast back to float32.

The warp W (Eq. 1-3) and the scale multiply are not wrapped: they run in float32 on the
float32 outputs, and ``FeaturePropagation`` casts the flow and scale fields to float32 before
resizing them, so no sampling position is ever in half precision (a bfloat16 position near
x = 150 is off by up to half a pixel).
"""

import contextlib
from collections.abc import Callable

import torch
import torch._inductor.config
from torch import nn

from dff_common.levels import map_levels

__all__ = ["AUTOCAST_DTYPES", "AcceleratedNetwork", "accelerate"]

AUTOCAST_DTYPES = {"cpu": torch.bfloat16, "cuda": torch.float16}


def _to_float32(tensor: torch.Tensor) -> torch.Tensor:
    low = tensor.is_floating_point() and torch.finfo(tensor.dtype).bits < 32
    return tensor.float() if low else tensor


def _to_format(memory_format: torch.memory_format):
    def convert(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.contiguous(memory_format=memory_format) if tensor.dim() == 4 else tensor

    return convert


def _owner_module(network: Callable) -> nn.Module | None:
    """The module holding the weights of ``network``: itself or the module of a bound method."""
    if isinstance(network, nn.Module):
        return network
    owner = getattr(network, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


class AcceleratedNetwork:
    """A network of Algorithm 1 (a module or a function of tensors) with the options applied.

    Args:
        network (Callable): the network; called with the same arguments.
        compile (bool): run it through ``torch.compile`` with inductor's ``freezing`` (the
            weights at the first call are compiled in). Defaults to False.
        channels_last (bool): 4-D inputs in channels_last, 4-D outputs back in NCHW; the weights
            of the module holding ``network`` are converted in place (values unchanged).
            Defaults to False.
        autocast (bool): run it under ``torch.autocast`` (:data:`AUTOCAST_DTYPES` for the
            inputs' device) and cast its floating outputs to float32. Defaults to False.
    """

    def __init__(
        self,
        network: Callable,
        *,
        compile: bool = False,
        channels_last: bool = False,
        autocast: bool = False,
    ):
        if channels_last and _owner_module(network) is not None:
            _owner_module(network).to(memory_format=torch.channels_last)
        self.network = torch.compile(network) if compile else network
        self.compile, self.channels_last, self.autocast = compile, channels_last, autocast

    def __call__(self, *inputs):
        if self.channels_last:
            inputs = map_levels(_to_format(torch.channels_last), inputs)
        with contextlib.ExitStack() as stack:
            if self.compile:  # read when compiling, i.e. at the first call
                stack.enter_context(torch._inductor.config.patch(freezing=True))
            if self.autocast:
                device = next(t.device for t in inputs if isinstance(t, torch.Tensor))
                dtype = AUTOCAST_DTYPES.get(device.type)
                stack.enter_context(torch.autocast(device.type, dtype=dtype))
            outputs = self.network(*inputs)
        if self.autocast:
            outputs = map_levels(_to_float32, outputs)
        if self.channels_last:
            outputs = map_levels(_to_format(torch.contiguous_format), outputs)
        return outputs

    def __repr__(self) -> str:
        return (
            f"AcceleratedNetwork(compile={self.compile}, channels_last={self.channels_last}, "
            f"autocast={self.autocast})"
        )


class _AcceleratedPropagation:
    """A propagation whose ``flow_and_scale`` (F) is accelerated; ``propagate`` (W) unchanged."""

    def __init__(self, propagation, flow_and_scale: AcceleratedNetwork):
        self.propagation = propagation
        self.flow_and_scale = flow_and_scale

    def __getattr__(self, name: str):
        return getattr(self.propagation, name)


def accelerate(
    feature_net: Callable,
    task_net: Callable,
    propagation,
    *,
    compile: bool = False,
    channels_last: bool = False,
    autocast: bool = False,
) -> tuple:
    """N_feat, N_task and the propagation with the options applied to the three networks.

    Args:
        feature_net (Callable): N_feat, ``(n, 3, H, W) -> (n, C, h, w)``.
        task_net (Callable): N_task, ``(features (N, C, h, w), images (N, 3, H, W)) -> results``.
        propagation (FeaturePropagation): provides ``flow_and_scale`` (F, accelerated) and
            ``propagate`` (W, left as it is), see :class:`~dff_common.engine.DFFInferenceEngine`.
        compile, channels_last, autocast (bool): see :class:`AcceleratedNetwork`.

    Returns:
        tuple: ``(feature_net, task_net, propagation)``, the arguments themselves when every
        option is off.
    """
    options = dict(compile=compile, channels_last=channels_last, autocast=autocast)
    if not any(options.values()):
        return feature_net, task_net, propagation
    flow_and_scale = AcceleratedNetwork(propagation.flow_and_scale, **options)
    return (
        AcceleratedNetwork(feature_net, **options),
        AcceleratedNetwork(task_net, **options),
        _AcceleratedPropagation(propagation, flow_and_scale),
    )
