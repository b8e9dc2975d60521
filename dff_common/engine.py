"""Deep feature flow inference, Algorithm 1 of Zhu et al. (CVPR 2017), for batches of videos.

    key frame k:      f_k = N_feat(I_k),                         y_k = N_task(f_k)
    other frames i:   f_i = W(f_k, F(I_k, I_i), S(I_k, I_i)),    y_i = N_task(f_i)

One key-frame cache per video holds f_k, I_k and k. Each :meth:`DFFInferenceEngine.step`
takes one frame from each of several videos, at any positions: the key frames of the batch
go through the feature network in one call, the other frames through the propagation in
one call, and all features through the task network in one call, in the batch order. The
first frame of every video is a key frame and resets its cache (the peers' pitfall of
reusing the previous video's features when a clip does not start at a multiple of l).

Bad input stops a step with an error naming the video and the frame: a frame that is not
finite, a frame whose size differs from its video's, a network output (f_k, M, S) that is not
finite. A video that stops without :meth:`~DFFInferenceEngine.end_video` keeps its cache until
a step would hold more than ``max_videos`` caches while its last frame is the oldest; then
its cache is freed with a logged warning.
"""

import logging
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from dff_common.acceleration import accelerate
from dff_common.levels import feature_maps, map_levels
from dff_common.scheduler import KeyFrameScheduler

__all__ = ["DFFInferenceEngine", "FrameOutput", "StepOutput"]

logger = logging.getLogger(__name__)


@dataclass
class StepOutput:
    """Output of one :meth:`DFFInferenceEngine.step` on N frames.

    Attributes:
        results: the task network's output for the batch (a tensor with leading N or a list
            of N), in the order of the input frames.
        is_key (list[bool]): whether each frame was a key frame (ran the feature network).
        key_indices (list[int]): the key frame index k each frame's features come from.
    """

    results: Any
    is_key: list[bool]
    key_indices: list[int]


@dataclass
class FrameOutput:
    """Output for one frame of :meth:`DFFInferenceEngine.run_video`.

    Attributes:
        result: the task network's output for this frame (``results[0]`` of its step).
        is_key (bool): whether the frame was a key frame.
        key_index (int): index k of the key frame its features come from.
    """

    result: Any
    is_key: bool
    key_index: int


def _not_finite(x) -> torch.Tensor:
    """``(n, ...) -> (n,)`` bool: whether each item holds a NaN or an infinite value (in any
    level of multi-level features)."""
    return torch.stack([~torch.isfinite(m).flatten(1).all(1) for m in feature_maps(x)]).any(0)


@dataclass
class _KeyFrameCache:
    features: Any  # f_k of one frame: (C, h, w), or one such map per level
    image: torch.Tensor  # (3, H, W) I_k
    key_index: int  # k
    last_index: int  # last frame index of the video seen


class DFFInferenceEngine:
    """Algorithm 1 with one key-frame cache per video; runs under ``torch.no_grad``.

    The networks are used as given: put them in eval mode (and on the frames' device) first.

    Args:
        feature_net (Callable): ``N_feat``, ``(n, 3, H, W) images -> (n, C, h, w) features``,
            or one such map per level (a tuple, list or dict of maps).
        task_net (Callable): ``N_task``, ``(features (N, C, h, w), images (N, 3, H, W))`` to the
            batched results (a tensor with leading N or a list of N).
        propagation (FeaturePropagation): provides ``flow_and_scale(key_images, cur_images)
            -> (flow, scale)`` on the flow network's grid and ``propagate(f_key, flow, scale)
            -> f_cur``, resizing the fields to each level (the interface of
            :class:`~dff_common.propagation.FeaturePropagation`).
        scheduler (KeyFrameScheduler): decides the key frames after the first of each video
            (``is_key_frame(i)`` of Algorithm 1, line 6).
        max_videos (int, optional): most key-frame caches held at once. A step that would
            hold more frees the cache of the video whose last frame is the oldest, with a
            logged warning naming it (a video that stopped without :meth:`end_video`); should
            that video go on, its next frame starts it again as a key frame. None: no bound.
            Defaults to 64.
        compile (bool): ``torch.compile`` N_feat, F and N_task. Defaults to False.
        channels_last (bool): run the three networks in the channels_last memory format
            (converts their weights in place). Defaults to False.
        autocast (bool): run the three networks under autocast (bfloat16 on a CPU, float16 on
            CUDA); the warp and the scale field stay float32. Defaults to False.
            See :func:`dff_common.acceleration.accelerate` for the three options.
    """

    def __init__(
        self,
        feature_net: Callable,
        task_net: Callable,
        propagation,
        scheduler: KeyFrameScheduler,
        *,
        max_videos: int | None = 64,
        compile: bool = False,
        channels_last: bool = False,
        autocast: bool = False,
    ):
        if max_videos is not None and (
            isinstance(max_videos, bool) or not isinstance(max_videos, int) or max_videos < 1
        ):
            raise ValueError(f"max_videos must be an int >= 1 or None, got {max_videos!r}")
        self.feature_net, self.task_net, self.propagation = accelerate(
            feature_net,
            task_net,
            propagation,
            compile=compile,
            channels_last=channels_last,
            autocast=autocast,
        )
        self.scheduler = scheduler
        self.max_videos = max_videos
        self._caches: dict[Hashable, _KeyFrameCache] = {}  # least recently stepped first

    @property
    def video_ids(self) -> tuple:
        """Ids of the videos whose key frame is cached."""
        return tuple(self._caches)

    def end_video(self, video_id: Hashable):
        """Free the key-frame cache of a video (call it after the video's last frame)."""
        if video_id not in self._caches:
            raise KeyError(f"no cached video {video_id!r}")
        del self._caches[video_id]

    def reset(self):
        """Free every key-frame cache."""
        self._caches.clear()

    def _check_step(self, frames, video_ids, frame_indices) -> list[bool]:
        """Validate a step; returns, per frame, whether its video (re)starts there."""
        if frames.dim() != 4 or frames.shape[1] != 3 or frames.shape[0] == 0:
            raise ValueError(f"frames must be (N >= 1, 3, H, W), got shape {tuple(frames.shape)}")
        if not len(video_ids) == len(frame_indices) == frames.shape[0]:
            raise ValueError(
                f"{frames.shape[0]} frames but {len(video_ids)} video ids and "
                f"{len(frame_indices)} frame indices"
            )
        if len(set(video_ids)) != len(video_ids):
            repeated = sorted({repr(v) for v in video_ids if video_ids.count(v) > 1})
            raise ValueError(f"two frames of the same video in one batch: {', '.join(repeated)}")
        if self.max_videos is not None and len(video_ids) > self.max_videos:
            raise ValueError(
                f"a batch of {len(video_ids)} videos needs more than max_videos="
                f"{self.max_videos} key-frame caches"
            )
        size = tuple(frames.shape[2:])
        starts = []
        for video_id, index in zip(video_ids, frame_indices):
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise ValueError(f"video {video_id!r}: bad frame index {index!r}")
            cache = self._caches.get(video_id)
            start = index == 0 or cache is None
            if not start and index != cache.last_index + 1:
                raise ValueError(
                    f"video {video_id!r}: frame {index} arrived after frame {cache.last_index}; "
                    f"frames of a video must arrive in order (expected {cache.last_index + 1})"
                )
            if not start and tuple(cache.image.shape[1:]) != size:
                raise ValueError(
                    f"video {video_id!r}: frame {index} is {size[0]}x{size[1]} but the video's "
                    f"frames (key frame {cache.key_index}) are "
                    f"{cache.image.shape[1]}x{cache.image.shape[2]}; the frames of a video "
                    "must all have one size (frame index 0 starts a new video)"
                )
            starts.append(start)
        self._check_finite(
            "the input frame is not finite (NaN or infinite pixel values)",
            _not_finite(frames),
            video_ids,
            frame_indices,
        )
        return starts

    @staticmethod
    def _check_finite(reason: str, bad: torch.Tensor, video_ids, frame_indices):
        """Raise naming the video and frame of every true entry of ``bad`` (n,), with ``reason``."""
        rows = bad.nonzero().flatten().tolist()  # one device sync
        if rows:
            where = "; ".join(f"video {video_ids[j]!r}, frame {frame_indices[j]}" for j in rows)
            raise ValueError(f"{where}: {reason}")

    def _flow_and_scale(self, video_ids, frame_indices, frames, key_images):
        """``propagation.flow_and_scale`` on frames of the given videos, checked to be finite."""
        flow, scale = self.propagation.flow_and_scale(key_images, frames)
        bad = _not_finite(flow) if scale is None else _not_finite(flow) | _not_finite(scale)
        self._check_finite(
            "the flow network output (flow field M or scale field S) is not finite",
            bad,
            video_ids,
            frame_indices,
        )
        return flow, scale

    def _key_frames(self, video_ids: Sequence[Hashable]):
        """Stacked cached key features (``(n, C, h, w)`` per level) and ``(n, 3, H, W)`` key
        images."""
        caches = [self._caches[v] for v in video_ids]
        features = map_levels(lambda *maps: torch.stack(maps), *(c.features for c in caches))
        return features, torch.stack([c.image for c in caches])

    @torch.no_grad()
    def step(
        self,
        frames: torch.Tensor,
        video_ids: Sequence[Hashable],
        frame_indices: Sequence[int],
    ) -> StepOutput:
        """Process one frame from each of N videos.

        Args:
            frames (Tensor): ``(N, 3, H, W)`` current frames, the feature network's input.
            video_ids (Sequence[Hashable]): N distinct video ids.
            frame_indices (Sequence[int]): position of each frame in its video. Index 0 or an
                unseen id starts the video (a key frame, cache reset); otherwise the index must
                follow the last one seen for that video.

        Returns:
            StepOutput: the task network's results and the key-frame bookkeeping.

        Raises:
            ValueError: naming the video and frame, on bad shapes, out-of-order frames, a video
                twice in the batch, a frame whose size differs from its video's, a frame that
                is not finite, or a network output (N_feat's features, F's flow and scale
                fields, the propagated features) that is not finite. The caches stay as they
                were before the step.
        """
        video_ids, frame_indices = list(video_ids), list(frame_indices)
        is_key = self._check_step(frames, video_ids, frame_indices)
        pending = [j for j, start in enumerate(is_key) if not start]  # ask the scheduler
        offsets = [frame_indices[j] - self._caches[video_ids[j]].key_index for j in pending]
        flow = scale = None
        if pending and self.scheduler.needs_flow:
            ids, indices = [video_ids[j] for j in pending], [frame_indices[j] for j in pending]
            _, key_images = self._key_frames(ids)
            flow, scale = self._flow_and_scale(ids, indices, frames[pending], key_images)
            decisions = self.scheduler.is_key(offsets, flow, scale)
        else:
            decisions = self.scheduler.is_key(offsets) if pending else []
        for j, decision in zip(pending, decisions):
            is_key[j] = bool(decision)

        keys = [j for j in range(len(is_key)) if is_key[j]]
        others = [j for j in range(len(is_key)) if not is_key[j]]
        parts, f_keys = [], None
        if keys:
            f_keys = self.feature_net(frames[keys])
            for level in feature_maps(f_keys):
                if level.dim() != 4 or level.shape[0] != len(keys):
                    raise ValueError(
                        f"feature_net must return (n={len(keys)}, C, h, w) maps, "
                        f"got shape {tuple(level.shape)}"
                    )
            self._check_finite(  # before it is cached and propagated
                "the feature network output N_feat(I_k) of this key frame is not finite",
                _not_finite(f_keys),
                [video_ids[j] for j in keys],
                [frame_indices[j] for j in keys],
            )
            parts.append(f_keys)
        if others:
            ids, indices = [video_ids[j] for j in others], [frame_indices[j] for j in others]
            f_key, key_images = self._key_frames(ids)
            if flow is None:
                flow, scale = self._flow_and_scale(ids, indices, frames[others], key_images)
            else:  # reuse the scheduler's fields for the frames that stay non-key
                rows = [pending.index(j) for j in others]
                flow, scale = flow[rows], None if scale is None else scale[rows]
            f_cur = self.propagation.propagate(f_key, flow, scale)
            self._check_finite(  # f_k, M and S are finite: an overflow in W
                "the propagated features W(f_k, M, S) are not finite",
                _not_finite(f_cur),
                ids,
                indices,
            )
            parts.append(f_cur)
        features = parts[0]
        if len(parts) > 1:  # back to the batch order
            order = torch.tensor(keys + others).argsort()
            features = map_levels(lambda *maps: torch.cat(maps)[order.to(maps[0].device)], *parts)
        results = self.task_net(features, frames)
        self._update_caches(video_ids, frame_indices, is_key, keys, f_keys, frames)
        key_indices = [self._caches[v].key_index for v in video_ids]
        return StepOutput(results, is_key, key_indices)

    def _update_caches(self, video_ids, frame_indices, is_key, keys, f_keys, frames):
        """Store the new key frames, move the batch's videos last, free beyond ``max_videos``."""
        for j, (video_id, index) in enumerate(zip(video_ids, frame_indices)):
            cache = self._caches.pop(video_id, None)
            if is_key[j]:  # clone: do not keep the whole batch alive in the cache
                row = keys.index(j)
                features_k = map_levels(lambda m, row=row: m[row].clone(), f_keys)
                cache = _KeyFrameCache(features_k, frames[j].clone(), index, index)
            cache.last_index = index
            self._caches[video_id] = cache
        while self.max_videos is not None and len(self._caches) > self.max_videos:
            video_id = next(iter(self._caches))  # the oldest last frame; not in this batch
            cache = self._caches.pop(video_id)
            logger.warning(
                f"video {video_id!r}: key-frame cache freed after frame {cache.last_index} (key "
                f"frame {cache.key_index}) to keep at most max_videos={self.max_videos} "
                "caches; end_video() was not called for it, and a next frame of it starts "
                "it again with a key frame"
            )

    def run_video(self, frames: Iterable[torch.Tensor]) -> Iterator[FrameOutput]:
        """Run Algorithm 1 over the frames of one video, one frame at a time.

        Args:
            frames (Iterable[Tensor]): ``(3, H, W)`` or ``(1, 3, H, W)`` frames in order.

        Yields:
            FrameOutput: the task result of each frame with its key-frame bookkeeping.

        Raises:
            ValueError: if ``frames`` is empty or a frame has a bad shape.
        """
        video_id = object()  # private: never collides with the ids given to step()
        count = 0
        try:
            for index, frame in enumerate(frames):
                if frame.dim() == 3:
                    frame = frame.unsqueeze(0)
                if frame.dim() != 4 or frame.shape[:2] != (1, 3):
                    raise ValueError(
                        f"frame {index}: expected (3, H, W) or (1, 3, H, W), "
                        f"got shape {tuple(frame.shape)}"
                    )
                out = self.step(frame, [video_id], [index])
                count += 1
                yield FrameOutput(out.results[0], out.is_key[0], out.key_indices[0])
        finally:
            self._caches.pop(video_id, None)
        if count == 0:
            raise ValueError("empty video: no frames to process")
