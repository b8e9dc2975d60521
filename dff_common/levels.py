"""Features of one level or of several: a map, or a tuple / list / dict of maps (None: absent).

The propagated features of a network with one output are a map ``(N, C, h, w)``; those of a
multi-scale backbone (a ResNet's stages, an FPN) are one map per level, each at its own
stride. These two functions are how the core walks either.
"""

from collections.abc import Callable

import torch

__all__ = ["feature_maps", "map_levels"]


def map_levels(fn: Callable, *trees):
    """Apply ``fn`` to the matching tensors of ``trees`` (same structure: a tensor, or nested
    tuples, lists and dicts of them); None and other leaves of the first tree pass unchanged."""
    first = trees[0]
    if isinstance(first, torch.Tensor):
        return fn(*trees)
    if isinstance(first, dict):
        return {key: map_levels(fn, *(tree[key] for tree in trees)) for key in first}
    if isinstance(first, tuple | list):
        return type(first)(map_levels(fn, *items) for items in zip(*trees))
    return first


def feature_maps(features) -> list[torch.Tensor]:
    """The tensors of ``features`` (one map, or every level of a tuple / list / dict), in order."""
    if isinstance(features, torch.Tensor):
        return [features]
    if isinstance(features, dict):
        features = features.values()
    elif not isinstance(features, tuple | list):
        return []
    return [m for level in features for m in feature_maps(level)]
