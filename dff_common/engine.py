"""Deep feature flow inference, Algorithm 1 of Zhu et al. (CVPR 2017), for batches of videos.

    key frame k:      f_k = N_feat(I_k),                         y_k = N_task(f_k)
    other frames i:   f_i = W(f_k, F(I_k, I_i), S(I_k, I_i)),    y_i = N_task(f_i)

One key-frame cache per video holds f_k, I_k and k. Each :meth:`DFFInferenceEngine.step`
takes one frame from each of several videos, at any positions: the key frames of the batch
go through the feature network in one call, the other frames through the propagation in
one call, and all features through the task network in one call, in the batch order. The
first frame of every video is a key frame and resets its cache (the peers' pitfall of
reusing the previous video's features, see PEERS.md).
"""

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from dff_common.acceleration import accelerate
from dff_common.scheduler import KeyFrameScheduler

__all__ = ["DFFInferenceEngine", "FrameOutput", "StepOutput"]


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


@dataclass
class _KeyFrameCache:
    features: torch.Tensor  # (C, h, w) f_k
    image: torch.Tensor  # (3, H, W) I_k
    key_index: int  # k
    last_index: int  # last frame index of the video seen


class DFFInferenceEngine:
    """Algorithm 1 with one key-frame cache per video; runs under ``torch.no_grad``.

    The networks are used as given: put them in eval mode (and on the frames' device) first.

    Args:
        feature_net (Callable): ``N_feat``, ``(n, 3, H, W) images -> (n, C, h, w) features``.
        task_net (Callable): ``N_task``, ``(features (N, C, h, w), images (N, 3, H, W))`` to the
            batched results (a tensor with leading N or a list of N).
        propagation (FeaturePropagation): provides ``flow_and_scale(key_images, cur_images,
            feat_size) -> (flow, scale)`` and ``propagate(f_key, flow, scale) -> f_cur``
            (the interface of :class:`~dff_common.propagation.FeaturePropagation`).
        scheduler (KeyFrameScheduler): decides the key frames after the first of each video
            (``is_key_frame(i)`` of Algorithm 1, line 6).
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
        compile: bool = False,
        channels_last: bool = False,
        autocast: bool = False,
    ):
        self.feature_net, self.task_net, self.propagation = accelerate(
            feature_net,
            task_net,
            propagation,
            compile=compile,
            channels_last=channels_last,
            autocast=autocast,
        )
        self.scheduler = scheduler
        self._caches: dict[Hashable, _KeyFrameCache] = {}

    @property
    def video_ids(self) -> tuple:
        """Ids of the videos whose key frame is cached."""
        return tuple(self._caches)

    def end_video(self, video_id: Hashable):
        """Free the key-frame cache of a video."""
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
            starts.append(start)
        return starts

    def _key_frames(self, video_ids: Sequence[Hashable]):
        """Stacked cached ``(n, C, h, w)`` key features and ``(n, 3, H, W)`` key images."""
        caches = [self._caches[v] for v in video_ids]
        return torch.stack([c.features for c in caches]), torch.stack([c.image for c in caches])

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
            ValueError: on bad shapes, out-of-order frames or a video twice in the batch.
        """
        video_ids, frame_indices = list(video_ids), list(frame_indices)
        is_key = self._check_step(frames, video_ids, frame_indices)
        pending = [j for j, start in enumerate(is_key) if not start]  # ask the scheduler
        offsets = [frame_indices[j] - self._caches[video_ids[j]].key_index for j in pending]
        flow = scale = None
        if pending and self.scheduler.needs_flow:
            f_key, key_images = self._key_frames([video_ids[j] for j in pending])
            flow, scale = self.propagation.flow_and_scale(
                key_images, frames[pending], f_key.shape[2:]
            )
            decisions = self.scheduler.is_key(offsets, flow, scale)
        else:
            decisions = self.scheduler.is_key(offsets) if pending else []
        for j, decision in zip(pending, decisions):
            is_key[j] = bool(decision)

        keys = [j for j in range(len(is_key)) if is_key[j]]
        others = [j for j in range(len(is_key)) if not is_key[j]]
        parts = []
        if keys:
            f_keys = self.feature_net(frames[keys])
            if f_keys.dim() != 4 or f_keys.shape[0] != len(keys):
                raise ValueError(
                    f"feature_net must return (n={len(keys)}, C, h, w), "
                    f"got shape {tuple(f_keys.shape)}"
                )
            parts.append(f_keys)
        if others:
            f_key, key_images = self._key_frames([video_ids[j] for j in others])
            if flow is None:
                flow, scale = self.propagation.flow_and_scale(
                    key_images, frames[others], f_key.shape[2:]
                )
            else:  # reuse the scheduler's fields for the frames that stay non-key
                rows = [pending.index(j) for j in others]
                flow, scale = flow[rows], None if scale is None else scale[rows]
            parts.append(self.propagation.propagate(f_key, flow, scale))
        features = parts[0] if len(parts) == 1 else torch.cat(parts)
        if len(parts) > 1:  # back to the batch order
            features = features[torch.tensor(keys + others).argsort().to(features.device)]
        results = self.task_net(features, frames)

        for j, (video_id, index) in enumerate(zip(video_ids, frame_indices)):
            if is_key[j]:  # clone: do not keep the whole batch alive in the cache
                features_k = f_keys[keys.index(j)].clone()
                self._caches[video_id] = _KeyFrameCache(features_k, frames[j].clone(), index, index)
            else:
                self._caches[video_id].last_index = index
        key_indices = [self._caches[v].key_index for v in video_ids]
        return StepOutput(results, is_key, key_indices)

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
