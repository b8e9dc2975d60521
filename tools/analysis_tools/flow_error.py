"""How well a flow function F matches the true motion, by key distance (a diagnostic of Sec. 3).

Propagation (Eq. 1-3) moves key-frame features by ``M_{i->k}``; how much accuracy DFF loses
at key distance ``d = i - k`` depends on how far that flow is from the motion of the scene.
On synthetic videos the motion is known exactly (``SyntheticVideo.backward_flow``), so the
end-point error of F can be measured on the feature grid, in feature cells, where the warp
uses it: the exact flow is averaged over each ``stride x stride`` cell and divided by the
stride, as the flow functions' outputs are. :class:`ExactFlow` is that exact flow as a flow
function F, the oracle that bounds what any F can give a task network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dff_common.scheduler import check_interval

__all__ = ["ExactFlow", "exact_feature_flow", "flow_error_by_distance"]

# flow_fn(key, cur): two (H, W, 3) uint8 RGB frames -> (2, h, w) flow in feature cells on the
# stride grid, current -> key
FlowFunction = Callable[[np.ndarray, np.ndarray], torch.Tensor]


def exact_feature_flow(video, cur: int, key: int, stride: int) -> torch.Tensor:
    """The exact flow ``M_{cur->key}`` of a synthetic video on the stride grid, in its cells.

    Returns:
        Tensor: ``(2, ceil(H / stride), ceil(W / stride))``, channel 0 = x.
    """
    flow = torch.from_numpy(video.backward_flow(cur, key)).permute(2, 0, 1)[None]
    return F.avg_pool2d(flow, stride, ceil_mode=True)[0] / stride


def flow_error_by_distance(
    flow_fn: FlowFunction,
    videos: Iterable,
    distances: Sequence[int],
    interval: int,
    stride: int = 16,
) -> dict[int, float]:
    """Mean end-point error of ``flow_fn`` against the exact motion, per key distance.

    In each video the key frames are ``0, interval, 2 * interval, ...`` and every key frame k
    with ``k + d`` in the video gives one pair ``(k, k + d)``; the error of a pair is the mean
    over the grid cells of ``|F - M|``.

    Args:
        flow_fn (callable): ``flow_fn(key_frame, cur_frame)`` on ``(H, W, 3)`` uint8 RGB
            frames, returning ``(2, h, w)`` flow in cells of the stride grid.
        videos (Iterable[SyntheticVideo]): videos with exact ground truth.
        distances (Sequence[int]): key distances d >= 1 to measure.
        interval (int): key frame interval l.
        stride (int): feature stride. Defaults to 16.

    Returns:
        dict[int, float]: mean error per distance (NaN for a distance no video is long enough
        for).

    Raises:
        ValueError: on a distance < 1 or an interval < 1.
    """
    check_interval(interval)
    if any(d < 1 for d in distances):
        raise ValueError(f"distances must be >= 1, got {distances}")
    errors: dict[int, list[float]] = {d: [] for d in distances}
    for video in videos:
        num_frames = len(video.frames)
        for d in distances:
            for k in range(0, num_frames - d, interval):
                exact = exact_feature_flow(video, k + d, k, stride)
                flow = flow_fn(video.frames[k], video.frames[k + d])
                if flow.shape != exact.shape:
                    raise ValueError(
                        f"flow_fn returned shape {tuple(flow.shape)}, the stride-{stride} grid "
                        f"is {tuple(exact.shape)}"
                    )
                errors[d].append((flow.float() - exact).norm(dim=0).mean().item())
    return {d: float(np.mean(e)) if e else float("nan") for d, e in errors.items()}


class ExactFlow(nn.Module):
    """Oracle flow function: the exact motion ``M_{i->k}`` of synthetic videos (no scale field).

    The frames alone do not say which video and frames they are: :meth:`select` names the pair
    before each call. The flow is on the stride grid of the video's frames, in its cells
    (:func:`exact_feature_flow`), so any frame size the pair was resized to gets it rescaled
    to its feature grid as a flow network's output is (``FeaturePropagation``).

    Args:
        videos (Mapping[Hashable, SyntheticVideo]): the videos, by video id.
        stride (int): the grid the flow is given on. Defaults to 16.
        round_to_cells (bool): round the flow to whole cells (the warp then moves features
            without interpolating them). Defaults to False.
    """

    def __init__(self, videos, stride: int = 16, round_to_cells: bool = False):
        super().__init__()
        self.videos, self.stride, self.round_to_cells = videos, int(stride), round_to_cells
        self.pair = None

    def select(self, video_id, cur: int, key: int) -> None:
        """The pair of the next call: current frame ``cur`` and key frame ``key`` of a video.

        Raises:
            KeyError: naming an unknown video id.
        """
        if video_id not in self.videos:
            raise KeyError(f"ExactFlow: video {video_id!r} is not among its {len(self.videos)}")
        self.pair = (video_id, int(cur), int(key))

    def forward(self, key: torch.Tensor, cur: torch.Tensor):
        if self.pair is None or key.shape[0] != 1:
            raise RuntimeError(
                f"ExactFlow: select() one pair before each call of one pair, got a batch of "
                f"{key.shape[0]} with {'no pair' if self.pair is None else 'one pair'} selected"
            )
        video_id, i, k = self.pair
        self.pair = None  # one call per selection: a stale pair is never reused
        flow = exact_feature_flow(self.videos[video_id], i, k, self.stride)
        flow = flow.round() if self.round_to_cells else flow
        return flow[None].to(key.device, key.dtype), None
