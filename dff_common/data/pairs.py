"""Frame pairs for training and evaluating deep feature flow (paper Sec. 3 and Sec. 5.2).

Training (Sec. 3, "Deep Feature Flow Training"): for an annotated current frame ``i`` a key
frame ``k = i + offset`` is drawn with ``offset`` uniform in ``[-(l-1), 0]`` (the authors'
code: [-9, 0] on ImageNet VID, [-4, 0] on Cityscapes); offset 0 is the per-frame special case
(no propagation).

Evaluation (Sec. 5.2): "for each snippet we evaluate l image pairs (k, i), k = i-l+1, ..., i,
for each frame i with ground truth annotation", so every key-frame distance 0..l-1 is scored.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from dff_common.scheduler import check_interval

__all__ = ["evaluation_pairs", "offsets_mismatch", "sample_key_index"]


def offsets_mismatch(max_offset: int, interval: int) -> str | None:
    """Why training pairs up to ``max_offset`` frames apart do not fit key frames every
    ``interval`` frames at test time (which propagates over 0..l-1 frames, Sec. 3), or None."""
    if max_offset > interval - 1:
        return (
            f"training pairs up to {max_offset} frames apart, while inference propagates over "
            f"at most {interval - 1} (l - 1)"
        )
    if max_offset < interval - 1:
        return (
            f"inference propagates over up to {interval - 1} frames (l - 1), while training "
            f"pairs are at most {max_offset} apart"
        )
    return None


def sample_key_index(
    cur_index: int,
    interval: int,
    available: Sequence[int] | None = None,
    rng: random.Random | None = None,
) -> int:
    """Draw the key frame ``k = i + offset`` for training, ``offset ~ U{-(l-1), ..., 0}``.

    Args:
        cur_index (int): index ``i`` of the annotated current frame in its video.
        interval (int): key frame duration length ``l``.
        available (Sequence[int], optional): the frame indices of the video that exist (e.g.
            ``range(num_frames)`` or the frames of a Cityscapes snippet). Offsets whose frame
            does not exist are not drawn (near the start of a video the range is shorter).
            Defaults to all indices ``>= 0``.
        rng (random.Random, optional): random source. Defaults to the module's.

    Returns:
        int: the key frame index ``k`` with ``i - l + 1 <= k <= i``.
    """
    check_interval(interval)
    candidates = range(cur_index - interval + 1, cur_index + 1)
    if available is None:
        choices = [k for k in candidates if k >= 0]
    else:
        present = set(available)
        if cur_index not in present:
            raise ValueError(f"current frame {cur_index} is not among the available frames")
        choices = [k for k in candidates if k in present]
    return (rng or random).choice(choices)


def evaluation_pairs(
    annotated_index: int, interval: int, first_index: int = 0
) -> list[tuple[int, int]]:
    """The ``l`` evaluation pairs ``(k, i)``, ``k = i-l+1 .. i``, of one annotated frame ``i``.

    Args:
        annotated_index (int): the annotated frame ``i``.
        interval (int): key frame duration length ``l``.
        first_index (int): the first frame of the video. Pairs whose key frame would precede it
            do not exist; asking for them is an error naming the frame, not a silent skip.

    Returns:
        list[tuple[int, int]]: ``[(i-l+1, i), ..., (i, i)]``, key-frame distance ``l-1 .. 0``.
    """
    check_interval(interval)
    first_key = annotated_index - interval + 1
    if first_key < first_index:
        raise ValueError(
            f"frame {annotated_index} has only {annotated_index - first_index + 1} frames up to "
            f"it (video starts at {first_index}), fewer than l={interval} evaluation pairs"
        )
    return [(k, annotated_index) for k in range(first_key, annotated_index + 1)]
