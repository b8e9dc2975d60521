"""The Deep Feature Flow video detector around any R-CNN or RetinaNet (Zhu et al., CVPR 2017,
Fig. 2, Algorithm 1, Sec. 3-4).

::

    training on (key, current) pairs (Fig. 2b):
      I_k --N_feat--> f_k --W(f_k, F(I_k, I_i), S(I_k, I_i)) per level--> f_i  (f_i = f_k if i = k)
      f_i --N_task--> [task prefix] -> proposal generator + ROI heads, or dense head (losses)
    inference:
      a pair ("key_image" given)     as in training, without losses
      a video (MODEL.DFF.TEST.MODE "video")   Algorithm 1 through dff_common's
                                     DFFInferenceEngine: a key frame at the start of every
                                     video and then per the scheduler, caches reset per video
      a frame (mode "frame")         the image detector N on every frame (Fig. 2a)

N is a detectron2 ``GeneralizedRCNN`` (same modules and parameter names, so its checkpoints
load as they are): N_feat is the backbone, or its part before a split point
(``backbone.feature_part``: the paper's dilated ResNet, Table 5); N_task is the rest of the
backbone (``backbone.task_prefix``: for R-FCN the split of the 1024-d maps into the RPN's and
the R-FCN's halves) with the proposal generator and the ROI heads (:class:`DFFRCNN`), or a
``RetinaNet``'s dense head with its anchors and box decoding (:class:`DFFRetinaNet`). Every
level the backbone outputs is propagated (an FPN's P2-P6 each at its own stride).
"""

import contextlib
import logging

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN, RetinaNet
from detectron2.structures import ImageList

from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import build_scheduler
from dff_detectron2.config import check_dff_config
from dff_detectron2.modeling.flow_functions import build_propagation

logger = logging.getLogger(__name__)

__all__ = ["DFFMixin", "DFFRCNN", "DFFRetinaNet"]

TEST_MODES = ("video", "frame")


def _features_only(features, frames: torch.Tensor):
    """The engine's task network: the features themselves (N_task needs the image sizes)."""
    return features


class DFFMixin:
    """DFF for a detectron2 detector class: feature network, propagation and task network.

    A meta-architecture is ``class DFFX(DFFMixin, X)`` with :meth:`task_network` (N_task on
    propagated maps) and :meth:`recognition_modules` (N, frozen by "DFF fix N"); the detector
    ``X`` keeps its modules and parameter names, so its checkpoints load as they are.
    """

    @configurable
    def __init__(
        self,
        *,
        propagation: torch.nn.Module | None,
        scheduler,
        test_mode: str = "video",
        freeze_recognition: bool = False,
        freeze_flow: bool = False,
        **kwargs,
    ):
        """
        Args:
            propagation (FeaturePropagation | None): F + S + W over the backbone's levels;
                None trains and tests per frame.
            scheduler (KeyFrameScheduler): key-frame decision of Algorithm 1, line 6.
            test_mode (str): "video" (Algorithm 1) or "frame" (N on every frame).
            freeze_recognition (bool): "DFF fix N" (Table 3): N takes no gradient.
            freeze_flow (bool): "DFF fix F" (Table 3): F and S take no gradient.
            **kwargs: the detector's (``GeneralizedRCNN``'s backbone, proposal_generator,
                roi_heads, ...; ``RetinaNet``'s backbone, head, anchor_generator, ...).
        """
        super().__init__(**kwargs)
        if test_mode not in TEST_MODES:
            raise ValueError(f"MODEL.DFF.TEST.MODE must be one of {TEST_MODES}, got {test_mode!r}")
        self.propagation = propagation
        self.scheduler = scheduler
        self.test_mode = test_mode
        if freeze_recognition:
            for module in self.recognition_modules():
                module.requires_grad_(False)
        if freeze_flow and propagation is not None:
            propagation.requires_grad_(False)
        self._engine = None  # built on first video inference (it holds no parameters)

    @staticmethod
    def dff_arguments(cfg, backbone) -> dict:
        """The DFF arguments of ``__init__`` from ``cfg.MODEL.DFF`` and the built backbone."""
        dff = cfg.MODEL.DFF
        if hasattr(backbone, "channels_at_split"):  # split inside the backbone: one map
            level_channels = [backbone.channels_at_split]
        else:
            level_channels = [spec.channels for spec in backbone.output_shape().values()]
        scheduler = {"type": dff.SCHEDULER}
        if dff.SCHEDULER == "fixed":
            scheduler["interval"] = dff.KEY_FRAME_INTERVAL
        return {
            "propagation": build_propagation(cfg, level_channels),
            "scheduler": build_scheduler(scheduler),
            "test_mode": dff.TEST.MODE,
            "freeze_recognition": dff.FREEZE_RECOGNITION,
            "freeze_flow": dff.FREEZE_FLOW,
        }

    def recognition_modules(self) -> tuple:
        """The modules of N (N_feat and N_task)."""
        raise NotImplementedError

    def training_context(self, gt_instances: list):
        """A context for one training step on ``gt_instances`` (default: none)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ the sub-networks
    def propagation_levels(self) -> list[str]:
        """Names of the maps N_feat gives and DFF propagates, in the scale field's order."""
        if hasattr(self.backbone, "feature_part"):
            return [self.backbone.propagated]
        return list(self.backbone.output_shape())

    def propagation_strides(self) -> dict[str, int]:
        """Stride of each map N_feat gives (:meth:`propagation_levels`), in image pixels."""
        if hasattr(self.backbone, "feature_part"):
            return {self.backbone.propagated: self.backbone.net.stride}
        shapes = self.backbone.output_shape()
        return {name: shapes[name].stride for name in self.propagation_levels()}

    def feature_network(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """N_feat: images ``(N, 3, H, W)`` -> the propagated maps ``{level: (N, C, h, w)}``."""
        if hasattr(self.backbone, "feature_part"):
            return self.backbone.feature_part(images)
        features = self.backbone(images)
        return {name: features[name] for name in self.propagation_levels()}

    def task_features(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The heads' input from propagated maps (the backbone's task prefix, if any)."""
        if hasattr(self.backbone, "task_prefix"):
            return self.backbone.task_prefix(features)
        return features

    def preprocess_frames(self, batched_inputs: list[dict], keys=("image",)) -> list[ImageList]:
        """Normalise and pad the images under ``keys`` to one common size.

        Returns:
            list[ImageList]: one per key, ``tensor`` ``(N, 3, H, W)``, all of the same size (a
            multiple of the backbone's ``size_divisibility``).
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

    def pair_features(self, batched_inputs: list[dict]):
        """Features f_i of the current frames from their key frames (Fig. 2b).

        Returns:
            tuple: ``(f_i, images)`` with ``f_i`` ``{level: (N, C, h, w)}`` and the current
            frames as an ``ImageList``.
        """
        if self.propagation is None or "key_image" not in batched_inputs[0]:
            (images,) = self.preprocess_frames(batched_inputs)
            return self.feature_network(images.tensor), images
        images, key_images = self.preprocess_frames(batched_inputs, ("image", "key_image"))
        same_frame = torch.tensor(
            [x.get("key_offset", 0) == 0 for x in batched_inputs], device=self.device
        )
        f_key = self.feature_network(key_images.tensor)
        f_cur = self.propagation(f_key, key_images.tensor, images.tensor, same_frame=same_frame)
        return f_cur, images

    def forward(self, batched_inputs: list[dict]):
        """Losses in training, else ``[{"instances": Instances}]`` per input.

        Args:
            batched_inputs (list[dict]): detectron2 inputs: ``image`` ``(3, H, W)`` in
                ``INPUT.FORMAT``, and for pairs ``key_image`` (same size and transform) and
                ``key_offset`` (k - i); ``instances`` in training; ``video_id``, ``frame_idx``
                for video inference; optional ``height``, ``width`` of the output.
        """
        if not self.training:
            return self.inference(batched_inputs)
        if "instances" not in batched_inputs[0]:
            raise ValueError("training inputs need 'instances' (ground truth)")
        f_cur, images = self.pair_features(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        with self.training_context(gt_instances):
            return self.task_network(f_cur, images, gt_instances)[1]

    def inference(self, batched_inputs: list[dict], do_postprocess: bool = True):
        """Detections for a batch: pairs, Algorithm 1 on videos, or per frame (module doc).

        Returns:
            list[dict]: ``instances`` per input (or, without ``do_postprocess``, the
            ``Instances``); on videos also ``key_frame_idx``, the key frame k whose features
            were propagated to the frame (its own index on a key frame).
        """
        assert not self.training
        video = (
            self.test_mode == "video"
            and self.propagation is not None
            and "key_image" not in batched_inputs[0]
            and "video_id" in batched_inputs[0]
        )
        if video:
            instances, images, key_indices = self.video_inference(batched_inputs)
        else:
            f_cur, images = self.pair_features(batched_inputs)
            instances = self.task_network(f_cur, images)[0]
        if not do_postprocess:
            return instances
        results = GeneralizedRCNN._postprocess(instances, batched_inputs, images.image_sizes)
        if video:
            for result, key_index in zip(results, key_indices):
                result["key_frame_idx"] = key_index
        return results

    def video_inference(self, batched_inputs: list[dict]):
        """Algorithm 1 on frames of one or more videos, arriving in order per video.

        Each input needs ``video_id`` and ``frame_idx``; a video starts (key frame, cache
        reset) at ``frame_idx == 0`` or an unseen ``video_id``. With ``num_frames`` given, the
        cache of a video is freed after its last frame.

        Returns:
            tuple: ``(instances, images, key_indices)``, detections in the (resized) input
            frame's coordinates, the frames as an ``ImageList`` and the key frame index of each.
        """
        if self._engine is None:
            self._engine = DFFInferenceEngine(
                self.feature_network, _features_only, self.propagation, self.scheduler
            )
        (images,) = self.preprocess_frames(batched_inputs)
        out = self._engine.step(
            images.tensor,
            [x["video_id"] for x in batched_inputs],
            [int(x["frame_idx"]) for x in batched_inputs],
        )
        for x in batched_inputs:  # free the cache after the last frame of a video
            if "num_frames" in x and x["frame_idx"] >= x["num_frames"] - 1:
                self._engine.end_video(x["video_id"])
        return self.task_network(out.results, images)[0], images, out.key_indices

    def reset_videos(self) -> None:
        """Forget every cached key frame (e.g. before evaluating a dataset)."""
        self._engine = None


@META_ARCH_REGISTRY.register()
class DFFRCNN(DFFMixin, GeneralizedRCNN):
    """DFF around a ``GeneralizedRCNN``: N_task is the proposal generator and the ROI heads."""

    _said_no_masks = False  # the box-only warning of _boxes_only_without_masks, said once

    @classmethod
    def from_config(cls, cfg):
        check_dff_config(cfg)
        try:
            ret = super().from_config(cfg)
        except KeyError as err:  # a head asks for a map the backbone does not give
            from detectron2.modeling import build_backbone

            given = sorted(build_backbone(cfg).output_shape())
            raise ValueError(
                f"DFFRCNN wraps a two-stage GeneralizedRCNN (Faster / Mask / Cascade R-CNN: RPN "
                f"+ ROI heads); its heads ask for the map {err}, which the backbone of this "
                f"config does not give (it gives {given}; MODEL.RPN.IN_FEATURES "
                f"{list(cfg.MODEL.RPN.IN_FEATURES)}, MODEL.ROI_HEADS.IN_FEATURES "
                f"{list(cfg.MODEL.ROI_HEADS.IN_FEATURES)}). For a one-stage RetinaNet, "
                "META_ARCHITECTURE is DFFRetinaNet"
            ) from err
        return {**ret, **cls.dff_arguments(cfg, ret["backbone"])}

    def recognition_modules(self) -> tuple:
        return (self.backbone, self.proposal_generator, self.roi_heads)

    def task_network(self, features: dict, images: ImageList, gt_instances=None):
        """N_task on (propagated) maps: task prefix, proposal generator, ROI heads.

        Args:
            features (dict[str, Tensor]): ``(N, C, h, w)`` maps at the split point.
            images (ImageList): the current frames (sizes for anchors and clipping).
            gt_instances (list[Instances], optional): targets, in training.

        Returns:
            tuple: ``(instances, losses)``; losses empty at test time.
        """
        features = self.task_features(features)
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        instances, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        return instances, {**proposal_losses, **detector_losses}

    def training_context(self, gt_instances: list):
        return self._boxes_only_without_masks(gt_instances)

    @contextlib.contextmanager
    def _boxes_only_without_masks(self, gt_instances: list):
        """A mask head (``MODEL.MASK_ON``, e.g. a wrapped zoo Mask R-CNN) trains on batches
        with masks only: on boxes alone (ImageNet VID / DET) the box part trains, said once."""
        heads = self.roi_heads
        if not getattr(heads, "mask_on", False) or all(x.has("gt_masks") for x in gt_instances):
            yield
            return
        if not self._said_no_masks:
            logger.warning(
                "the training data have no masks (gt_masks): the mask head of this "
                "MODEL.MASK_ON model is not trained, its box part is (MODEL.MASK_ON False "
                "builds it without)"
            )
            self._said_no_masks = True
        heads.mask_on = False
        try:
            yield
        finally:
            heads.mask_on = True


@META_ARCH_REGISTRY.register()
class DFFRetinaNet(DFFMixin, RetinaNet):
    """DFF around detectron2's one-stage ``RetinaNet``: N_task is its dense head, anchors and
    box decoding (``forward_training`` / ``forward_inference``) on the propagated levels."""

    @classmethod
    def from_config(cls, cfg):
        check_dff_config(cfg)
        ret = super().from_config(cfg)
        return {**ret, **cls.dff_arguments(cfg, ret["backbone"])}

    def recognition_modules(self) -> tuple:
        return (self.backbone, self.head)

    def task_network(self, features: dict, images: ImageList, gt_instances=None):
        """N_task on (propagated) maps: the dense head, then its losses against
        ``gt_instances`` (training) or its decoded, NMS-ed detections.

        Returns:
            tuple: ``(instances, losses)``; instances None in training, losses empty at test.
        """
        features = self.task_features(features)
        maps = [features[name] for name in self.head_in_features]
        predictions = self.head(maps)
        if gt_instances is not None:
            return None, self.forward_training(images, maps, predictions, gt_instances)
        return self.forward_inference(images, maps, predictions), {}
