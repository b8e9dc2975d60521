"""R-FCN head: position-sensitive pooling and voting against hand-computed values, losses."""

import math

import pytest
import torch
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import EventStorage

import dff_detectron2  # noqa: F401
from dff_detectron2.rfcn_head import RFCNROIHeads, position_sensitive_vote


def _column_ramp(channels: int = 1) -> torch.Tensor:
    """(1, channels, 4, 4) map whose value is the column index x."""
    return torch.arange(4.0).repeat(4, 1).expand(1, channels, 4, 4).contiguous()


def _head(num_classes=1, k=2, ohem=0, pooler="PSROIAlign") -> RFCNROIHeads:
    head = RFCNROIHeads(
        in_feature="f",
        in_channels=1,
        stride=2,
        pooler_resolution=k,
        pooler_type=pooler,
        sampling_ratio=2,
        box2box_transform=Box2BoxTransform(weights=(10.0, 10.0, 5.0, 5.0)),
        smooth_l1_beta=1.0,
        test_score_thresh=0.0,
        test_nms_thresh=0.3,
        test_topk_per_image=10,
        ohem_rois_per_image=ohem,
        num_classes=num_classes,
        batch_size_per_image=8,
        positive_fraction=0.5,
        proposal_matcher=Matcher([0.5], [0, 1], allow_low_quality_matches=False),
        proposal_append_gt=False,
    )
    return head


def test_position_sensitive_vote_hand_computed():
    # channel (d * k + i) * k + j holds ch + x; k = 2, two outputs d.
    maps = _column_ramp(8) + torch.arange(8.0).view(1, 8, 1, 1)
    # box [0, 8) x [0, 8) at scale 1/2 covers feature pixels [-0.5, 3.5): bins of 2 pixels,
    # samples at x = 2j and 2j + 1, mean x = 2j + 0.5 (the map is linear in x)
    # d = 0: (0 + 0.5) + (1 + 2.5) + (2 + 0.5) + (3 + 2.5) = 12 -> 3; d = 1: 28 -> 7
    out = position_sensitive_vote(maps, [torch.tensor([[0.0, 0.0, 8.0, 8.0]])], 2, 0.5)
    assert out.tolist() == [[3.0, 7.0]]
    # a box over the right half covers feature x in [1.5, 3.5): bins of 1 pixel, samples at
    # x = 1.75, 2.25 (bin j = 0, mean 2) and 2.75, 3.25 (j = 1); 3.25 lies past the last pixel
    # centre and reads the border value 3, so bin 1 has mean 2.875
    out = position_sensitive_vote(maps, [torch.tensor([[4.0, 0.0, 8.0, 8.0]])], 2, 0.5)
    # d = 0: (0 + 1 + 2 + 3) / 4 + (2 + 2.875) / 2 = 3.9375; d = 1: 5.5 + 2.4375 = 7.9375
    assert out.tolist() == [[3.9375, 7.9375]]


def test_position_sensitive_pool_quantises_bins():
    maps = _column_ramp(4) * 0 + torch.arange(4.0).view(1, 4, 1, 1)
    out = position_sensitive_vote(maps, [torch.tensor([[0.0, 0.0, 4.0, 4.0]])], 2, 1.0, "PSROIPool")
    assert out.tolist() == [[1.5]]  # constant maps 0, 1, 2, 3 per bin, averaged
    with pytest.raises(ValueError, match="unknown pooler_type"):
        position_sensitive_vote(maps, [torch.zeros(1, 4)], 2, 1.0, "RoIPool")


def test_head_predict_uses_the_score_and_box_maps():
    head = _head(num_classes=1, k=2)
    with torch.no_grad():
        head.cls_score_maps.weight.fill_(1.0)  # score map ch = x + ch
        head.cls_score_maps.bias.copy_(torch.arange(8.0))
        head.box_delta_maps.weight.zero_()  # box map ch = ch
        head.box_delta_maps.bias.copy_(torch.arange(16.0))
    logits, deltas = head.predict(_column_ramp(), [torch.tensor([[0.0, 0.0, 8.0, 8.0]])])
    assert logits.tolist() == [[3.0, 7.0]]
    # deltas d: mean of channels 4d .. 4d + 3
    assert deltas.tolist() == [[1.5, 5.5, 9.5, 13.5]]
    assert head.cls_score_maps.out_channels == 2 * 2 * (1 + 1)  # k^2 (C + 1)
    assert head.box_delta_maps.out_channels == 2 * 2 * 4  # k^2 * 4, class-agnostic


def _proposals(boxes, gt_boxes, gt_classes, size=(8, 8)):
    proposals = Instances(size)
    proposals.proposal_boxes = Boxes(torch.tensor(boxes))
    proposals.objectness_logits = torch.zeros(len(boxes))
    target = Instances(size)
    target.gt_boxes = Boxes(torch.tensor(gt_boxes))
    target.gt_classes = torch.tensor(gt_classes)
    return proposals, target


def test_losses_and_ohem_pick_the_hardest_roi():
    head = _head(num_classes=2, k=2, ohem=1)
    proposals, target = _proposals(
        [[0.0, 0.0, 4.0, 4.0], [4.0, 4.0, 8.0, 8.0], [0.0, 0.0, 8.0, 8.0]],
        [[0.0, 0.0, 4.0, 4.0]],
        [1],
    )
    images = ImageList(torch.zeros(1, 3, 8, 8), [(8, 8)])
    features = {"f": torch.randn(1, 1, 4, 4)}
    head.train()
    with EventStorage():
        _, losses = head(images, features, [proposals], [target])
        labelled = head.label_and_sample_proposals([proposals], [target])[0]
    # every proposal is labelled (1 foreground: class 1; 2 background: class 2)
    assert sorted(labelled.gt_classes.tolist()) == [1, 2, 2]
    logits, deltas = head.predict(features["f"], [labelled.proposal_boxes.tensor])
    ce = torch.nn.functional.cross_entropy(logits, labelled.gt_classes, reduction="none")
    fg = labelled.gt_classes == 1
    targets = head.box2box_transform.get_deltas(
        labelled.proposal_boxes.tensor[fg], labelled.gt_boxes.tensor[fg]
    )
    box = torch.zeros(3)
    diff = (deltas[fg] - targets).abs()
    box[fg] = torch.where(diff < 1, 0.5 * diff**2, diff - 0.5).sum(1)
    hardest = int((ce + box).argmax())
    assert losses["loss_cls"].item() == pytest.approx(ce[hardest].item(), rel=1e-5)
    assert losses["loss_box_reg"].item() == pytest.approx(box[hardest].item(), rel=1e-5, abs=1e-7)
    (losses["loss_cls"] + losses["loss_box_reg"]).backward()
    assert head.cls_score_maps.weight.grad is not None


def test_losses_without_ohem_sample_and_normalise_by_rois():
    head = _head(num_classes=2, k=2, ohem=0)
    proposals, target = _proposals(
        [[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 8.0, 8.0]], [[0.0, 0.0, 4.0, 4.0]], [0]
    )
    head.train()
    torch.manual_seed(0)
    with EventStorage():
        _, losses = head(
            ImageList(torch.zeros(1, 3, 8, 8), [(8, 8)]),
            {"f": torch.zeros(1, 1, 4, 4)},
            [proposals],
            [target],
        )
    # zero features and bias: uniform logits over 3 classes; the foreground RoI is exact
    assert losses["loss_cls"].item() == pytest.approx(math.log(3))
    assert losses["loss_box_reg"].item() == pytest.approx(0.0)


def test_inference_nms_03_and_class_agnostic_boxes():
    head = _head(num_classes=1, k=2).eval()
    with torch.no_grad():
        head.cls_score_maps.weight.zero_()
        head.cls_score_maps.bias.copy_(torch.tensor([1.0] * 4 + [0.0] * 4))  # class 0 > bg
        head.box_delta_maps.weight.zero_()
        head.box_delta_maps.bias.zero_()
    proposals = Instances((8, 8))
    # IoU of the first two is 0.6 > 0.3: one is suppressed; the third is disjoint
    proposals.proposal_boxes = Boxes(
        torch.tensor([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 2.4], [5.0, 5.0, 8.0, 8.0]])
    )
    instances, losses = head(
        ImageList(torch.zeros(1, 3, 8, 8), [(8, 8)]), {"f": torch.zeros(1, 1, 4, 4)}, [proposals]
    )
    assert losses == {}
    (result,) = instances
    assert len(result) == 2
    assert result.scores.tolist() == pytest.approx([math.e / (math.e + 1)] * 2)
    assert result.pred_classes.tolist() == [0, 0]
