"""The video demo of a ``DFFRCNN``: Algorithm 1 frame by frame, boxes drawn with class names.

:func:`build_detection_demo` loads the model (:func:`dff_detectron2.load_model`);
``tools/demo.py`` runs it with :func:`dff_common.demo.run_demo`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.data.transforms import ResizeShortestEdge
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.utils.visualizer import Visualizer

from dff_common.demo import VIDEO_ID, resolve_scheduler
from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import KeyFrameScheduler
from dff_detectron2.load import get_dff_cfg, load_model
from dff_detectron2.modeling.meta_arch import DFFRCNN

__all__ = ["DetectionDemo", "build_detection_demo"]


class DetectionDemo:
    """A ``DFFRCNN`` (detectron2) on single frames, through Algorithm 1.

    The engine's task network is the identity, as in ``DFFRCNN.video_inference``: the R-FCN
    task network then runs on its features with the frame's ``ImageList``.

    Args:
        model (DFFRCNN): in eval mode.
        cfg (CfgNode): its config (test resize, input format, class names).
        scheduler (KeyFrameScheduler): key-frame decisions (Algorithm 1, line 6).
        score_threshold (float): detections below this score are not drawn.
    """

    def __init__(self, model, cfg, scheduler, score_threshold: float):
        self.model, self.score_threshold = model, score_threshold
        self.rgb = cfg.INPUT.FORMAT == "RGB"
        size = cfg.INPUT.MIN_SIZE_TEST
        self.resize = ResizeShortestEdge([size, size], cfg.INPUT.MAX_SIZE_TEST)
        self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0]) if cfg.DATASETS.TEST else None
        self.engine = DFFInferenceEngine(
            model.feature_network, lambda f, _: f, model.propagation, scheduler
        )

    @torch.no_grad()
    def infer(self, frame: np.ndarray, index: int):
        """Detections (``Instances`` on the CPU, at the frame's size) and the bookkeeping."""
        image = frame[:, :, ::-1] if self.rgb else frame
        image = self.resize.get_transform(image).apply_image(image)
        chw = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype("float32"))
        (images,) = self.model.preprocess_frames([{"image": chw}])
        out = self.engine.step(images.tensor, [VIDEO_ID], [index])
        (instances,) = self.model.task_network(out.results, images)[0]
        instances = detector_postprocess(instances, *frame.shape[:2]).to("cpu")
        instances = instances[instances.scores >= self.score_threshold]
        return instances, out.is_key[0], out.key_indices[0]

    def draw(self, frame: np.ndarray, instances) -> np.ndarray:
        visualizer = Visualizer(frame[:, :, ::-1], self.metadata)
        drawn = visualizer.draw_instance_predictions(instances).get_image()  # RGB
        return np.ascontiguousarray(drawn[:, :, ::-1])


def build_detection_demo(
    config: str,
    checkpoint: str,
    device: str,
    opts: Sequence[str],
    scheduler: KeyFrameScheduler | None,
    score_threshold: float,
) -> DetectionDemo:
    """The demo of the ``DFFRCNN`` of ``config`` (YAML, ``KEY VALUE`` ``opts``) with
    ``checkpoint``, on ``device``; key frames by ``scheduler``, default: the config's."""
    cfg = get_dff_cfg(config, [*opts, "MODEL.DEVICE", device])
    model = load_model(cfg, checkpoint)
    if not isinstance(model, DFFRCNN):
        raise ValueError(f"{config}: expected a DFFRCNN, got {type(model).__name__}")
    scheduler = resolve_scheduler(scheduler, model.scheduler, model.propagation is not None)
    return DetectionDemo(model, cfg, scheduler, score_threshold)
