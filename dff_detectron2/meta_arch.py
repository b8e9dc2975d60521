"""The Deep Feature Flow video detector (Zhu et al., CVPR 2017, Fig. 2, Algorithm 1, Sec. 4).

::

    training on (key, current) pairs (Fig. 2b):
      I_k --N_feat--> f_k --W(f_k, F(I_k, I_i), S(I_k, I_i))--> f_i   (f_i = f_k where i = k)
      f_i --N_task--> [task prefix] -> split 512 | 512 -> RPN (losses) | R-FCN (losses)
    inference:
      a pair ("key_image" given)     as in training, without losses
      a video (MODEL.DFF.TEST.MODE "video")   Algorithm 1 through dff_common's
                                     DFFInferenceEngine: a key frame at the start of every
                                     video and then per the scheduler, caches reset per video
      a frame (mode "frame")         N = N_task(N_feat(I_i)) on every frame (Fig. 2a)
"""

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.modeling.proposal_generator import build_proposal_generator
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import ImageList
from torch import nn

from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import build_scheduler
from dff_detectron2.config import check_dff_config
from dff_detectron2.flow_functions import build_propagation

__all__ = ["DFFRCNN"]

RPN_FEATURE, RFCN_FEATURE = "dff_rpn", "dff_rfcn"
TEST_MODES = ("video", "frame")


def _features_only(features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """The engine's task network: the features themselves (N_task needs the image sizes)."""
    return features


@META_ARCH_REGISTRY.register()
class DFFRCNN(nn.Module):
    """DFF with an R-FCN task network: feature network, propagation and task network."""

    @configurable
    def __init__(
        self,
        *,
        backbone: nn.Module,
        propagation: nn.Module | None,
        proposal_generator: nn.Module,
        roi_heads: nn.Module,
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
        scheduler,
        test_mode: str = "video",
        freeze_recognition: bool = False,
        freeze_flow: bool = False,
    ):
        """
        Args:
            backbone (DFFResNetBackbone): N_feat and the task prefix (split point, Table 5).
            propagation (FeaturePropagation | None): F + S + W; None trains and tests per frame.
            proposal_generator (nn.Module): RPN on the first half of the task-network input.
            roi_heads (nn.Module): R-FCN head on the second half.
            pixel_mean, pixel_std (tuple[float]): RGB normalisation of the input images.
            scheduler (KeyFrameScheduler): key-frame decision of Algorithm 1, line 6.
            test_mode (str): "video" (Algorithm 1) or "frame" (N on every frame).
            freeze_recognition (bool): "DFF fix N" (Table 3): N takes no gradient.
            freeze_flow (bool): "DFF fix F" (Table 3): F and S take no gradient.
        """
        super().__init__()
        if test_mode not in TEST_MODES:
            raise ValueError(f"MODEL.DFF.TEST.MODE must be one of {TEST_MODES}, got {test_mode!r}")
        self.backbone = backbone
        self.propagation = propagation
        self.proposal_generator = proposal_generator
        self.roi_heads = roi_heads
        self.scheduler = scheduler
        self.test_mode = test_mode
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if freeze_recognition:
            for module in (backbone, proposal_generator, roi_heads):
                module.requires_grad_(False)
        if freeze_flow and propagation is not None:
            propagation.requires_grad_(False)
        self._engine = None  # built on first video inference (it holds no parameters)

    @classmethod
    def from_config(cls, cfg):
        check_dff_config(cfg)
        backbone = build_backbone(cfg)
        channels = backbone.output_shape()[backbone.out_feature].channels
        if channels % 2:
            raise ValueError(f"the task-network input must split in two halves, got {channels}")
        half = {"channels": channels // 2, "stride": backbone.net.stride}
        dff = cfg.MODEL.DFF
        return {
            "backbone": backbone,
            "propagation": build_propagation(cfg, backbone.channels_at_split),
            "proposal_generator": build_proposal_generator(cfg, {RPN_FEATURE: ShapeSpec(**half)}),
            "roi_heads": build_roi_heads(cfg, {RFCN_FEATURE: ShapeSpec(**half)}),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "scheduler": build_scheduler(
                {"type": dff.SCHEDULER, "interval": dff.KEY_FRAME_INTERVAL}
                if dff.SCHEDULER == "fixed"
                else {"type": dff.SCHEDULER}
            ),
            "test_mode": dff.TEST.MODE,
            "freeze_recognition": dff.FREEZE_RECOGNITION,
            "freeze_flow": dff.FREEZE_FLOW,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: list[dict], keys=("image",)) -> list[ImageList]:
        """Normalise and pad the images under ``keys`` to one common size (multiple of 16).

        Returns:
            list[ImageList]: one per key, ``tensor`` ``(N, 3, H, W)``, all of the same size.
        """
        images = [
            (x[k].to(self.device) - self.pixel_mean) / self.pixel_std
            for k in keys
            for x in batched_inputs
        ]
        padded = ImageList.from_tensors(images, self.backbone.size_divisibility)
        n = len(batched_inputs)
        return [
            ImageList(padded.tensor[i * n : (i + 1) * n], padded.image_sizes[i * n : (i + 1) * n])
            for i in range(len(keys))
        ]

    def task_network(self, features: torch.Tensor, images: ImageList, gt_instances=None):
        """N_task on (propagated) features: task prefix, 512 | 512 split, RPN and R-FCN.

        Args:
            features (Tensor): ``(N, C_split, h, w)`` maps at the split point.
            images (ImageList): the current frames (sizes for anchors and clipping).
            gt_instances (list[Instances], optional): targets, in training.

        Returns:
            tuple: ``(instances, losses)``; losses empty at test time.
        """
        rpn_features, rfcn_features = self.backbone.task_prefix(features).chunk(2, dim=1)
        proposals, rpn_losses = self.proposal_generator(
            images, {RPN_FEATURE: rpn_features}, gt_instances
        )
        instances, det_losses = self.roi_heads(
            images, {RFCN_FEATURE: rfcn_features}, proposals, gt_instances
        )
        return instances, {**rpn_losses, **det_losses}

    def pair_features(self, batched_inputs: list[dict]):
        """Features f_i of the current frames from their key frames (Fig. 2b).

        Returns:
            tuple: ``(f_i, images)`` with ``f_i`` ``(N, C_split, h, w)`` and the current
            frames as an ``ImageList``.
        """
        if self.propagation is None or "key_image" not in batched_inputs[0]:
            (images,) = self.preprocess_image(batched_inputs)
            return self.backbone.feature_part(images.tensor), images
        images, key_images = self.preprocess_image(batched_inputs, ("image", "key_image"))
        same_frame = torch.tensor(
            [x.get("key_offset", 0) == 0 for x in batched_inputs], device=self.device
        )
        f_key = self.backbone.feature_part(key_images.tensor)
        f_cur = self.propagation(f_key, key_images.tensor, images.tensor, same_frame=same_frame)
        return f_cur, images

    def forward(self, batched_inputs: list[dict]):
        """Losses in training, else ``[{"instances": Instances}]`` per input.

        Args:
            batched_inputs (list[dict]): detectron2 inputs: ``image`` ``(3, H, W)`` RGB, and
                for pairs ``key_image`` (same size and transform) and ``key_offset`` (k - i);
                ``instances`` in training; ``video_id``, ``frame_idx`` for video inference;
                optional ``height``, ``width`` of the output.
        """
        if not self.training:
            return self.inference(batched_inputs)
        if "instances" not in batched_inputs[0]:
            raise ValueError("training inputs need 'instances' (ground truth)")
        f_cur, images = self.pair_features(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        return self.task_network(f_cur, images, gt_instances)[1]

    def inference(self, batched_inputs: list[dict], do_postprocess: bool = True):
        """Detections for a batch: pairs, Algorithm 1 on videos, or per frame (module doc)."""
        video = (
            self.test_mode == "video"
            and self.propagation is not None
            and "key_image" not in batched_inputs[0]
            and "video_id" in batched_inputs[0]
        )
        if video:
            instances = self.video_inference(batched_inputs)
        else:
            f_cur, images = self.pair_features(batched_inputs)
            instances = self.task_network(f_cur, images)[0]
        if not do_postprocess:
            return instances
        return [
            {
                "instances": detector_postprocess(
                    r, x.get("height", r.image_size[0]), x.get("width", r.image_size[1])
                )
            }
            for r, x in zip(instances, batched_inputs)
        ]

    def video_inference(self, batched_inputs: list[dict]):
        """Algorithm 1 on frames of one or more videos, arriving in order per video.

        Each input needs ``video_id`` and ``frame_idx``; a video starts (key frame, cache
        reset) at ``frame_idx == 0`` or an unseen ``video_id``. With ``num_frames`` given, the
        cache of a video is freed after its last frame.

        Returns:
            list[Instances]: detections in the (resized) input frame's coordinates.
        """
        if self._engine is None:
            self._engine = DFFInferenceEngine(
                self.backbone.feature_part, _features_only, self.propagation, self.scheduler
            )
        (images,) = self.preprocess_image(batched_inputs)
        out = self._engine.step(
            images.tensor,
            [x["video_id"] for x in batched_inputs],
            [int(x["frame_idx"]) for x in batched_inputs],
        )
        for x in batched_inputs:  # free the cache after the last frame of a video
            if "num_frames" in x and x["frame_idx"] >= x["num_frames"] - 1:
                self._engine.end_video(x["video_id"])
        return self.task_network(out.results, images)[0]

    def reset_videos(self) -> None:
        """Forget every cached key frame (e.g. before evaluating a dataset)."""
        self._engine = None
