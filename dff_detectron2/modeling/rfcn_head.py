"""R-FCN detection branch (Dai et al., NIPS 2016) as used by DFF (Zhu et al., CVPR 2017, Sec. 4).

On the detection half of the feature maps, two sibling 1x1 convs give ``k^2 (C+1)``
position-sensitive score maps and ``k^2 * 4`` class-agnostic box maps; position-sensitive RoI
pooling reads bin ``(i, j)`` of a region from the ``(i, j)``-th bank of maps, and the ``k^2``
bins vote by averaging. "No free parameters are involved in the per-region computation."
Training samples (or, with OHEM, mines) RoIs; inference applies detectron2's class-wise NMS
(0.3 in the paper).

torchvision's ``ps_roi_align`` works in continuous coordinates (pixel ``c`` covers
``[c, c + 1)``) and is the default; ``ps_roi_pool`` quantises bins as the R-FCN original does,
but torchvision's forward (0.29, the CPU and the CUDA kernel alike) clips the exclusive bin
ends to ``H - 1`` / ``W - 1``, so it never reads the last row and column of the map (a bin
lying only there pools to 0), where R-FCN's PSROIPooling clips to ``H`` / ``W``.
"""

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat, cross_entropy
from detectron2.modeling import ROI_HEADS_REGISTRY, ROIHeads
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.roi_heads.fast_rcnn import _log_classification_stats, fast_rcnn_inference
from detectron2.structures import Instances
from fvcore.nn import smooth_l1_loss
from torch import nn
from torchvision.ops import ps_roi_align, ps_roi_pool

__all__ = ["RFCNROIHeads", "position_sensitive_vote"]

POOLERS = ("PSROIAlign", "PSROIPool")


def position_sensitive_vote(
    score_maps: torch.Tensor,
    boxes: list[torch.Tensor],
    k: int,
    spatial_scale: float,
    pooler_type: str = "PSROIAlign",
    sampling_ratio: int = 2,
) -> torch.Tensor:
    """Position-sensitive RoI pooling followed by average voting over the ``k x k`` bins.

    Args:
        score_maps (Tensor): ``(N, D * k * k, H, W)``; channel ``(d * k + i) * k + j`` is the
            map of output ``d`` for bin row ``i``, column ``j``.
        boxes (list[Tensor]): N tensors ``(R_n, 4)`` of x1, y1, x2, y2 in image pixels.
        k (int): bins per side.
        spatial_scale (float): feature pixels per image pixel (1/16).
        pooler_type (str): "PSROIAlign" or "PSROIPool".
        sampling_ratio (int): PSROIAlign samples per bin side.

    Returns:
        Tensor: ``(R, D)`` with ``R = sum(R_n)``: the mean of the k*k position-sensitive bins.
    """
    if pooler_type == "PSROIAlign":
        pooled = ps_roi_align(score_maps, boxes, k, spatial_scale, sampling_ratio)
    elif pooler_type == "PSROIPool":
        pooled = ps_roi_pool(score_maps, boxes, k, spatial_scale)
    else:
        raise ValueError(f"unknown pooler_type {pooler_type!r}; valid: {POOLERS}")
    return pooled.mean(dim=(2, 3))  # (R, D, k, k) -> (R, D)


@ROI_HEADS_REGISTRY.register()
class RFCNROIHeads(ROIHeads):
    """The R-FCN head: position-sensitive scores and class-agnostic boxes (Sec. 4, [8]).

    ``R`` below is the number of regions over the batch, ``C`` the number of classes.
    """

    @configurable
    def __init__(
        self,
        *,
        in_feature: str,
        in_channels: int,
        stride: int,
        pooler_resolution: int = 7,
        pooler_type: str = "PSROIAlign",
        sampling_ratio: int = 2,
        box2box_transform: Box2BoxTransform,
        smooth_l1_beta: float = 1.0,
        test_score_thresh: float = 0.001,
        test_nms_thresh: float = 0.3,
        test_topk_per_image: int = 300,
        ohem_rois_per_image: int = 0,
        **kwargs,
    ):
        """
        Args:
            in_feature (str): name of the detection half of the feature maps.
            in_channels (int): its channels (512 in the paper).
            stride (int): its stride (16).
            pooler_resolution (int): k, bins per side (7).
            pooler_type (str): "PSROIAlign" or "PSROIPool".
            sampling_ratio (int): PSROIAlign samples per bin side.
            box2box_transform (Box2BoxTransform): box delta parametrisation.
            smooth_l1_beta (float): smooth-L1 transition point of the box loss.
            test_score_thresh (float): minimum score kept at test time.
            test_nms_thresh (float): class-wise NMS IoU at test time (0.3).
            test_topk_per_image (int): detections kept per image.
            ohem_rois_per_image (int): > 0 enables OHEM: all proposals are scored and the
                losses use the ``ohem_rois_per_image`` hardest per image.
            **kwargs: ``ROIHeads`` arguments (num_classes, proposal matcher, sampling).
        """
        super().__init__(**kwargs)
        if pooler_type not in POOLERS:
            raise ValueError(f"unknown pooler_type {pooler_type!r}; valid: {POOLERS}")
        self.in_feature = in_feature
        self.k = pooler_resolution
        self.spatial_scale = 1.0 / stride
        self.pooler_type = pooler_type
        self.sampling_ratio = sampling_ratio
        self.box2box_transform = box2box_transform
        self.smooth_l1_beta = smooth_l1_beta
        self.test_score_thresh = test_score_thresh
        self.test_nms_thresh = test_nms_thresh
        self.test_topk_per_image = test_topk_per_image
        self.ohem_rois_per_image = ohem_rois_per_image
        k2 = self.k * self.k
        self.cls_score_maps = nn.Conv2d(in_channels, k2 * (self.num_classes + 1), 1)
        self.box_delta_maps = nn.Conv2d(in_channels, k2 * 4, 1)
        for conv, std in ((self.cls_score_maps, 0.01), (self.box_delta_maps, 0.001)):
            nn.init.normal_(conv.weight, std=std)
            nn.init.zeros_(conv.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: dict[str, ShapeSpec]):
        ret = super().from_config(cfg)
        (name,) = cfg.MODEL.ROI_HEADS.IN_FEATURES
        rfcn = cfg.MODEL.DFF.RFCN
        ret.update(
            in_feature=name,
            in_channels=input_shape[name].channels,
            stride=input_shape[name].stride,
            pooler_resolution=rfcn.POOLER_RESOLUTION,
            pooler_type=rfcn.POOLER_TYPE,
            sampling_ratio=rfcn.POOLER_SAMPLING_RATIO,
            box2box_transform=Box2BoxTransform(weights=cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS),
            smooth_l1_beta=cfg.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA,
            test_score_thresh=cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST,
            test_nms_thresh=cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST,
            test_topk_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
            ohem_rois_per_image=rfcn.OHEM_ROIS_PER_IMAGE,
        )
        return ret

    def _sample_proposals(self, matched_idxs, matched_labels, gt_classes):
        """With OHEM every labelled proposal is kept (the hard ones are mined from the loss)."""
        if self.ohem_rois_per_image <= 0:
            return super()._sample_proposals(matched_idxs, matched_labels, gt_classes)
        if gt_classes.numel() > 0:
            gt_classes = gt_classes[matched_idxs]
            gt_classes[matched_labels == 0] = self.num_classes
            gt_classes[matched_labels == -1] = -1
        else:
            gt_classes = torch.full_like(matched_idxs, self.num_classes)
        keep = (gt_classes >= 0).nonzero().squeeze(1)
        return keep, gt_classes[keep]

    def predict(self, features: torch.Tensor, boxes: list[torch.Tensor]):
        """Per-region class logits and class-agnostic box deltas.

        Args:
            features (Tensor): ``(N, in_channels, H, W)`` detection half of the feature maps.
            boxes (list[Tensor]): N tensors ``(R_n, 4)`` of regions in image pixels.

        Returns:
            tuple[Tensor, Tensor]: logits ``(R, C + 1)`` (last = background) and deltas
            ``(R, 4)``.
        """
        args = (self.k, self.spatial_scale, self.pooler_type, self.sampling_ratio)
        logits = position_sensitive_vote(self.cls_score_maps(features), boxes, *args)
        deltas = position_sensitive_vote(self.box_delta_maps(features), boxes, *args)
        return logits, deltas

    def forward(self, images, features, proposals, targets=None):
        """See ``detectron2.modeling.ROIHeads.forward``; features hold ``in_feature``.

        Returns:
            tuple: ``(instances, {})`` at test time (``pred_boxes``, ``scores``,
            ``pred_classes``), ``(proposals, losses)`` in training.
        """
        if self.training:
            proposals = self.label_and_sample_proposals(proposals, targets)
        boxes = [p.proposal_boxes.tensor for p in proposals]
        logits, deltas = self.predict(features[self.in_feature], boxes)
        if self.training:
            return proposals, self.losses(logits, deltas, proposals)
        pred_boxes = self.box2box_transform.apply_deltas(deltas, cat(boxes)).split(
            [len(b) for b in boxes]
        )
        scores = logits.softmax(dim=1).split([len(b) for b in boxes])
        instances, _ = fast_rcnn_inference(
            pred_boxes,
            scores,
            [p.image_size for p in proposals],
            self.test_score_thresh,
            self.test_nms_thresh,
            self.test_topk_per_image,
        )
        return instances, {}

    def losses(self, logits, deltas, proposals: list[Instances]) -> dict:
        """Softmax cross-entropy and smooth-L1 box loss (foreground only), optionally on the
        ``ohem_rois_per_image`` highest-loss RoIs per image (R-FCN's OHEM).

        Both are normalised by the number of RoIs used, as in Fast R-CNN / R-FCN.
        """
        gt_classes = cat([p.gt_classes for p in proposals])
        proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals])
        gt_boxes = cat(
            [(p.gt_boxes if p.has("gt_boxes") else p.proposal_boxes).tensor for p in proposals]
        )
        _log_classification_stats(logits, gt_classes, prefix="rfcn")
        loss_cls = cross_entropy(logits, gt_classes, reduction="none")
        # smooth-L1 on foreground RoIs only (background "gt_boxes" are placeholders)
        fg = ((gt_classes >= 0) & (gt_classes < self.num_classes)).nonzero().squeeze(1)
        target_deltas = self.box2box_transform.get_deltas(proposal_boxes[fg], gt_boxes[fg])
        loss_fg = smooth_l1_loss(deltas[fg], target_deltas, self.smooth_l1_beta, reduction="none")
        loss_box = loss_cls.new_zeros(len(gt_classes)).index_put((fg,), loss_fg.sum(dim=1))
        if self.ohem_rois_per_image > 0:
            keep = self._hardest(loss_cls.detach() + loss_box.detach(), proposals)
            loss_cls, loss_box = loss_cls[keep], loss_box[keep]
        num_rois = max(loss_cls.numel(), 1)
        return {"loss_cls": loss_cls.sum() / num_rois, "loss_box_reg": loss_box.sum() / num_rois}

    def _hardest(self, roi_losses: torch.Tensor, proposals: list[Instances]) -> torch.Tensor:
        """Indices of the ``ohem_rois_per_image`` highest-loss RoIs of each image, shape (R',)."""
        keep, start = [], 0
        for p in proposals:
            losses = roi_losses[start : start + len(p)]
            top = losses.topk(min(self.ohem_rois_per_image, len(p))).indices
            keep.append(top + start)
            start += len(p)
        return cat(keep) if keep else roi_losses.new_zeros(0, dtype=torch.long)

    def extra_repr(self) -> str:
        return (
            f"k={self.k}, pooler={self.pooler_type}, spatial_scale={self.spatial_scale}, "
            f"num_classes={self.num_classes}, ohem_rois_per_image={self.ohem_rois_per_image}"
        )
