"""Normalisation layers of the DFF networks, and the freezing of a flow network's BatchNorm.

The original code keeps BatchNorm frozen at its pre-trained statistics ("BatchNorm frozen",
Sec. 4 setup): mini-batches of one or two frame pairs cannot estimate them.
"""

import functools

from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["NORM_LAYERS", "freeze_batchnorm"]

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
