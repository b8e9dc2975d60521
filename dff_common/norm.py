"""Normalisation layers of the DFF networks, and the freezing of a flow network's BatchNorm.

The original code keeps BatchNorm frozen at its pre-trained statistics ("BatchNorm frozen",
Sec. 4 setup): mini-batches of one or two frame pairs cannot estimate them.
"""

import functools

from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["NORM_LAYERS", "call_naming_batchnorm", "freeze_batchnorm"]

# Normalisation of the feature network's ResNet, by config name: "FrozenBN" as in the original
# code (ImageNet statistics, fixed); "BN" / "GN" (32 groups) for training from scratch.
NORM_LAYERS = {
    "FrozenBN": FrozenBatchNorm2d,
    "BN": nn.BatchNorm2d,
    "GN": functools.partial(nn.GroupNorm, 32),
}


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` by torchvision's ``FrozenBatchNorm2d`` with its values.

    torchvision's frozen norm, not detectron2's: the latter resets the running statistics to
    0 / 1 when a checkpoint without them is loaded (its old-version path), which would wipe a
    pre-trained flow network's statistics as soon as DFF starts from a Frame checkpoint. The
    state-dict keys stay those of ``BatchNorm2d`` (without ``num_batches_tracked``).

    Args:
        module (nn.Module): converted in place.

    Returns:
        nn.Module: ``module``, or its replacement when it is itself a BatchNorm.
    """
    if isinstance(module, nn.BatchNorm2d):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(frozen, name).copy_(getattr(module, name).detach())
        return frozen
    for name, child in module.named_children():
        setattr(module, name, freeze_batchnorm(child))
    return module


_ONE_VALUE = "Expected more than 1 value per channel when training"


def call_naming_batchnorm(model: nn.Module, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; when a BatchNorm of ``model`` refuses to train on one value
    per channel (PyTorch's error names no layer), the error names the layer, its input and
    the fixes. The layer is found by running ``fn`` again with a check before every
    BatchNorm of ``model``, so a run that does not fail costs nothing.

    Raises:
        ValueError: naming the first such layer (e.g. a pyramid-pooling branch whose pooled
            1x1 map has one value per channel with one sample per batch).
    """
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        if _ONE_VALUE not in str(err):
            raise
        first = err
    hooks = [
        module.register_forward_pre_hook(functools.partial(_refuse_one_value, name))
        for name, module in model.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    try:
        fn(*args, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    raise first  # not found again: PyTorch's own message


def _refuse_one_value(name: str, module: nn.Module, args) -> None:
    x = args[0]
    values = x.numel() // max(x.shape[1], 1) if x.dim() >= 2 else x.numel()
    if module.training and values <= 1:
        raise ValueError(
            f"{name} ({type(module).__name__}) gets a {tuple(x.shape)} input in training: "
            f"BatchNorm needs more than one value per channel, and a batch of {x.shape[0]} "
            f"gives it {values} (a pooled 1x1 map). Train with at least 2 samples per process "
            "(train_dataloader.batch_size), or give that layer a norm that works on one sample "
            "(GN) or keep it in eval mode"
        )
