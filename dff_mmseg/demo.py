"""The video demo of a ``DFFSegmentor``: Algorithm 1 frame by frame, drawn as a colour overlay.

:func:`build_segmentation_demo` loads the model (:func:`dff_mmseg.load_model`) and its test
pipeline's resize; ``tools/demo.py`` runs it with :func:`dff_common.demo.run_demo`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dff_common.demo import VIDEO_ID, resolve_scheduler
from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import KeyFrameScheduler

from .apis import load_model
from .inference import default_scheduler, engine_networks, normalize_clip
from .models import DFFSegmentor

__all__ = ["SegmentationDemo", "build_segmentation_demo"]


class SegmentationDemo:
    """A ``DFFSegmentor`` (mmseg) on single frames, through Algorithm 1.

    Args:
        model (DFFSegmentor): in eval mode.
        scheduler (KeyFrameScheduler): key-frame decisions (Algorithm 1, line 6).
        resize (list[Callable]): the config's test-pipeline ``Resize`` transforms.
        palette (np.ndarray): ``(C, 3)`` uint8 RGB colours of the C classes.
        opacity (float): weight of the colours in the overlay.
    """

    def __init__(self, model, scheduler, resize, palette, opacity: float):
        self.model, self.resize, self.opacity = model, resize, opacity
        self.palette_bgr = np.ascontiguousarray(palette[:, ::-1])
        feature_net, task_net, propagation = engine_networks(model)
        self.engine = DFFInferenceEngine(feature_net, task_net, propagation, scheduler)

    @torch.no_grad()
    def infer(self, frame: np.ndarray, index: int):
        """Labels ``(H, W)`` of frame ``index`` at its size, with the engine's bookkeeping."""
        image = frame
        for transform in self.resize:
            image = transform(dict(img=image))["img"]
        chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        inputs = normalize_clip(self.model, chw[None])  # [1, 3, H', W']
        out = self.engine.step(inputs, [VIDEO_ID], [index])
        scores = F.interpolate(
            out.results, frame.shape[:2], mode="bilinear", align_corners=self.model.align_corners
        )
        return scores[0].argmax(0).cpu().numpy(), out.is_key[0], out.key_indices[0]

    def draw(self, frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
        colours = self.palette_bgr[labels].astype(np.float32)
        return (frame * (1 - self.opacity) + colours * self.opacity).astype(np.uint8)


def build_segmentation_demo(
    config: str,
    checkpoint: str,
    device: str,
    cfg_options: dict | None,
    scheduler: KeyFrameScheduler | None,
    opacity: float,
) -> SegmentationDemo:
    """The demo of the ``DFFSegmentor`` of ``config`` with ``checkpoint``.

    Args:
        config (str): mmseg Python config.
        checkpoint (str): trained weights of the whole model.
        device (str): where the model runs.
        cfg_options (dict, optional): overrides of the config (mmseg's ``--cfg-options``).
        scheduler (KeyFrameScheduler, optional): key frames; default: the config's.
        opacity (float): weight of the class colours in the overlay.

    Returns:
        SegmentationDemo: the palette from the checkpoint's ``dataset_meta`` (Cityscapes'
        otherwise), the resize from the config's test pipeline.
    """
    from mmseg.registry import TRANSFORMS
    from mmseg.utils import get_palette

    model = load_model(config, checkpoint, device, cfg_options)
    if not isinstance(model, DFFSegmentor):
        raise ValueError(f"{config}: expected a DFFSegmentor, got {type(model).__name__}")
    meta = model.dataset_meta or {}
    palette = np.array(meta.get("palette") or get_palette("cityscapes"), np.uint8)
    if len(palette) < model.num_classes:  # more classes than colours: add fixed random ones
        extra = np.random.default_rng(0).integers(0, 256, (model.num_classes - len(palette), 3))
        palette = np.concatenate([palette, extra.astype(np.uint8)])
    pipeline = model.cfg.get("test_dataloader", {}).get("dataset", {}).get("pipeline", [])
    resize = [TRANSFORMS.build(step) for step in pipeline if step["type"] == "Resize"]
    scheduler = resolve_scheduler(
        scheduler, default_scheduler(model), model.propagation is not None
    )
    return SegmentationDemo(model, scheduler, resize, palette, opacity)
