"""Key-frame schedulers: ``is_key_frame(i)`` of Algorithm 1, line 6 (Zhu et al., CVPR 2017).

The paper uses a fixed key-frame duration ``l`` (Sec. 3, "Key Frame Scheduling") and leaves
adaptive scheduling to future work (Sec. 6). :class:`AdaptiveScheduler` follows the
temporally-adaptive key frames of Zhu et al., "Towards High Performance Video Object
Detection" (CVPR 2018): a new key frame when too much of the propagated map is unreliable,
judged here from the flow network's own output for the current frame.

A scheduler only decides for frames after the first one of a video: the inference engine
makes the first frame of every video a key frame without asking.
"""

from collections.abc import Sequence

import torch

__all__ = [
    "SCHEDULERS",
    "AdaptiveScheduler",
    "FixedIntervalScheduler",
    "KeyFrameScheduler",
    "build_scheduler",
    "check_interval",
]


def check_interval(interval, name: str = "interval") -> int:
    """The key frame duration length l (Sec. 3, Eq. 7), checked: an integer >= 1.

    Raises:
        ValueError: naming ``name`` (e.g. a config key), for anything else.
    """
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(
            f"{name} (key frame duration length l) must be an integer >= 1, got {interval!r} "
            f"({type(interval).__name__})"
        )
    return interval


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_number(name: str, value, low: float, high: float, low_inclusive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not ((low <= value) if low_inclusive else (low < value)) or not value <= high:
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}")
    return float(value)


class KeyFrameScheduler:
    """Base class: decides whether the current frame becomes a new key frame.

    Attributes:
        needs_flow (bool): whether :meth:`is_key` needs the flow field M_{i->k} of the current
            frame to its cached key frame (the engine then computes it before deciding).
    """

    needs_flow = False

    def is_key(
        self,
        frames_since_key: int | Sequence[int],
        flow: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ) -> bool | list[bool]:
        """Key-frame decision for one frame or for a batch of N frames.

        Args:
            frames_since_key (int | Sequence[int]): ``i - k`` (>= 1) for the current frame i and
                its cached key frame k, or one such value per frame of a batch.
            flow (Tensor, optional): ``(N, 2, h, w)`` flow M_{i->k} in feature-map pixels
                (``(2, h, w)`` for one frame); required when ``needs_flow``.
            scale (Tensor, optional): ``(N, C, h, w)`` scale field S_{i->k}.

        Returns:
            bool | list[bool]: True for a new key frame; a list of N for a batch.
        """
        single = not isinstance(frames_since_key, Sequence)
        offsets = [frames_since_key] if single else list(frames_since_key)
        for value in offsets:
            _check_int("frames_since_key", value, 1)
        if flow is not None and flow.dim() == 3:
            flow = flow.unsqueeze(0)
        if self.needs_flow:
            if flow is None or flow.dim() != 4 or flow.shape[:2] != (len(offsets), 2):
                shape = None if flow is None else tuple(flow.shape)
                raise ValueError(
                    f"{type(self).__name__} needs the flow (N={len(offsets)}, 2, h, w), got {shape}"
                )
        decisions = self._decide(offsets, flow, scale)
        return decisions[0] if single else decisions

    def _decide(self, offsets: list[int], flow, scale) -> list[bool]:
        """Decisions for N validated offsets and ``flow`` ``(N, 2, h, w)`` (or None)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _decide")


class FixedIntervalScheduler(KeyFrameScheduler):
    """Fixed key-frame duration ``l`` (Sec. 3): key frames at 0, l, 2l, ... of every video.

    Args:
        interval (int): key-frame duration length l >= 1; ``l = 1`` is per-frame evaluation.
    """

    def __init__(self, interval: int):
        self.interval = check_interval(interval)

    def _decide(self, offsets, flow, scale):
        return [offset >= self.interval for offset in offsets]

    def key_frame(self, frame_idx: int) -> int:
        """The key frame k that frame ``frame_idx`` of a video is propagated from: i - i mod l."""
        return int(frame_idx) // self.interval * self.interval

    def __repr__(self) -> str:
        return f"FixedIntervalScheduler(interval={self.interval})"


class AdaptiveScheduler(KeyFrameScheduler):
    """Temporally-adaptive key frames decided from the flow field M_{i->k} (Sec. 6).

    A feature location p of the current frame is *inconsistent* when the flow cannot
    propagate it reliably from the key frame: its source ``p + M(p)`` falls outside the key
    frame's feature map (the warp reads zeros there, Eq. 1) or ``|M(p)| > max_flow`` feature
    pixels. Frame i becomes a key frame when

        i - k >= min_interval  and  (i - k >= max_interval  or
                                     inconsistent fraction > max_inconsistent_fraction).

    Inspired by the temporally-adaptive key frame scheduling of Zhu et al., "Towards High
    Performance Video Object Detection" (CVPR 2018), which starts a key frame when the
    fraction of feature positions its flow network marks as inconsistent exceeds a threshold.

    Args:
        max_flow (float): flow magnitude (feature pixels, stride 16) above which a location
            counts as inconsistent. Defaults to 4.0 (64 image pixels).
        max_inconsistent_fraction (float): fraction of inconsistent locations in [0, 1] above
            which a key frame starts (1 disables the flow criterion). Defaults to 0.2.
        min_interval (int): never a new key frame fewer than this many frames after the last
            one. Defaults to 1.
        max_interval (int, optional): always a new key frame this many frames after the last
            one; None for no limit. Defaults to 20.
    """

    needs_flow = True

    def __init__(
        self,
        max_flow: float = 4.0,
        max_inconsistent_fraction: float = 0.2,
        min_interval: int = 1,
        max_interval: int | None = 20,
    ):
        self.max_flow = _check_number("max_flow", max_flow, 0.0, float("inf"), False)
        self.max_inconsistent_fraction = _check_number(
            "max_inconsistent_fraction", max_inconsistent_fraction, 0.0, 1.0, True
        )
        self.min_interval = _check_int("min_interval", min_interval, 1)
        self.max_interval = (
            None if max_interval is None else _check_int("max_interval", max_interval, min_interval)
        )

    def inconsistent_fraction(self, flow: torch.Tensor) -> torch.Tensor:
        """Fraction of feature locations the flow cannot propagate reliably.

        Args:
            flow (Tensor): ``(N, 2, h, w)`` flow M_{i->k} in feature-map pixels, channel 0 = x.

        Returns:
            Tensor: ``(N,)`` fractions in [0, 1].
        """
        _, _, h, w = flow.shape
        flow = flow.float()
        cols = torch.arange(w, device=flow.device, dtype=flow.dtype)
        rows = torch.arange(h, device=flow.device, dtype=flow.dtype).unsqueeze(1)
        x, y = flow[:, 0] + cols, flow[:, 1] + rows  # sources p + M(p) in the key map
        outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
        too_fast = flow.norm(dim=1) > self.max_flow
        return (outside | too_fast).flatten(1).float().mean(1)

    def _decide(self, offsets, flow, scale):
        fractions = self.inconsistent_fraction(flow).tolist()
        return [
            offset >= self.min_interval
            and (
                (self.max_interval is not None and offset >= self.max_interval)
                or fraction > self.max_inconsistent_fraction
            )
            for offset, fraction in zip(offsets, fractions)
        ]

    def __repr__(self) -> str:
        return (
            f"AdaptiveScheduler(max_flow={self.max_flow}, "
            f"max_inconsistent_fraction={self.max_inconsistent_fraction}, "
            f"min_interval={self.min_interval}, max_interval={self.max_interval})"
        )


SCHEDULERS = {"fixed": FixedIntervalScheduler, "adaptive": AdaptiveScheduler}


def build_scheduler(cfg: dict) -> KeyFrameScheduler:
    """Build a scheduler from a config dict.

    Args:
        cfg (dict): ``{"type": "fixed", "interval": 10}`` or ``{"type": "adaptive", ...}`` with
            the keyword arguments of :class:`AdaptiveScheduler`.

    Returns:
        KeyFrameScheduler: the scheduler.

    Raises:
        ValueError: unknown type, unknown keys or bad values.
    """
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ValueError(f"scheduler config must be a dict with a 'type' key, got {cfg!r}")
    kwargs = dict(cfg)
    kind = kwargs.pop("type")
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler type {kind!r}; expected one of {sorted(SCHEDULERS)}")
    try:
        return SCHEDULERS[kind](**kwargs)
    except TypeError as error:  # unknown or missing keys
        raise ValueError(f"bad keys for scheduler {kind!r} in {cfg!r}: {error}") from None
