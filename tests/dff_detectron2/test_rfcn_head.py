"""R-FCN head: position-sensitive pooling and voting against hand-computed values, losses."""

import math
import struct

import pytest
import torch
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import EventStorage
from torchvision.ops import roi_pool

import dff_detectron2  # noqa: F401
from dff_detectron2.modeling import rfcn_head
from dff_detectron2.modeling.rfcn_head import RFCNROIHeads, position_sensitive_vote


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


# --- position-sensitive pooling against a plain-Python reference ------------------------------
# The maps below give every channel of every bank its own values, so the bin -> channel mapping
# matters: bin (i, j) of output d must read channel (d * k + i) * k + j. Two wrong layouts
# (bins transposed; d innermost) are evaluated by the same reference and must disagree.


def _rfcn_channel(d, i, j, k, num_out):
    return (d * k + i) * k + j


def _transposed_channel(d, i, j, k, num_out):
    return (d * k + j) * k + i


def _d_innermost_channel(d, i, j, k, num_out):
    return (i * k + j) * num_out + d


def _f32(v: float) -> float:
    """``v`` rounded to float32, as the C++ kernels compute bin edges."""
    return struct.unpack("f", struct.pack("f", v))[0]


def _round_half_away(v: float) -> int:
    """C's ``round``."""
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _bilinear(plane, y, x):
    """torchvision's bilinear_interpolate: 0 more than one pixel outside, border-clamped."""
    h, w = len(plane), len(plane[0])
    if not (-1.0 <= y <= h and -1.0 <= x <= w):
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * plane[y0][x0]
        + (1 - ly) * lx * plane[y0][x1]
        + ly * (1 - lx) * plane[y1][x0]
        + ly * lx * plane[y1][x1]
    )


def _ref_ps_roi_align(maps, box, k, scale, ratio, channel=_rfcn_channel):
    """Per-bin ``[D][k][k]`` of PSROIAlign on one image's ``[C][H][W]`` maps.

    Continuous coordinates with pixel centres at integers (hence the - 0.5), no rounding; bin
    (i, j) averages ``ratio x ratio`` bilinear samples at the centres of its sub-cells.
    """
    num_out = len(maps) // (k * k)
    x1, y1, x2, y2 = (c * scale - 0.5 for c in box)
    bin_h, bin_w = (y2 - y1) / k, (x2 - x1) / k
    out = []
    for d in range(num_out):
        rows = []
        for i in range(k):
            row = []
            for j in range(k):
                plane = maps[channel(d, i, j, k, num_out)]
                total = 0.0
                for sy in range(ratio):
                    y = y1 + i * bin_h + (sy + 0.5) * bin_h / ratio
                    for sx in range(ratio):
                        x = x1 + j * bin_w + (sx + 0.5) * bin_w / ratio
                        total += _bilinear(plane, y, x)
                row.append(total / ratio**2)
            rows.append(row)
        out.append(rows)
    return out


def _ref_ps_roi_pool(maps, box, k, scale, channel=_rfcn_channel, drop_last=True):
    """Per-bin ``[D][k][k]`` of PSROIPool on one image's ``[C][H][W]`` maps.

    The box is rounded to pixels (at least 1 x 1); bin (i, j) averages pixels
    ``[floor(i * bin_h), ceil((i + 1) * bin_h))`` (and likewise in x) from the box's origin.
    torchvision clips those exclusive ends to ``H - 1`` / ``W - 1`` (``drop_last``), so the last
    row and column are never read and a bin lying only there is empty and pools to 0; R-FCN's
    PSROIPooling clips to ``H`` / ``W`` (``drop_last=False``).
    """
    num_out = len(maps) // (k * k)
    h, w = len(maps[0]), len(maps[0][0])
    lim_h, lim_w = (h - 1, w - 1) if drop_last else (h, w)
    x1, y1, x2, y2 = (_round_half_away(_f32(c * scale)) for c in box)
    bin_h, bin_w = _f32(max(y2 - y1, 1) / k), _f32(max(x2 - x1, 1) / k)

    def span(t, size, start, lim):
        lo = math.floor(_f32(t * size)) + start
        hi = math.ceil(_f32((t + 1) * size)) + start
        return min(max(lo, 0), lim), min(max(hi, 0), lim)

    out = []
    for d in range(num_out):
        rows = []
        for i in range(k):
            hs, he = span(i, bin_h, y1, lim_h)
            row = []
            for j in range(k):
                ws, we = span(j, bin_w, x1, lim_w)
                plane = maps[channel(d, i, j, k, num_out)]
                cells = [plane[y][x] for y in range(hs, he) for x in range(ws, we)]
                row.append(sum(cells) / len(cells) if cells else 0.0)
            rows.append(row)
        out.append(rows)
    return out


def _vote(bins):
    """Mean over the k x k bins of each output: ``[D][k][k]`` -> ``[D]``."""
    return [sum(sum(row) for row in out) / sum(len(row) for row in out) for out in bins]


def _recording(monkeypatch, name):
    """Wrap rfcn_head's torchvision pooler ``name`` to record its per-bin output."""
    calls = []
    original = getattr(rfcn_head, name)

    def wrapper(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(rfcn_head, name, wrapper)
    return calls


def _hot_bank_maps():
    """(1, 8, 6, 6): channel (d, i, j) = 4d + 2i + j + 1 on its own bin's 2 x 2 pixels of the
    box [1, 5) x [1, 5), 0 everywhere else (R-FCN's Fig. 1 pattern), for k = 2, D = 2."""
    maps = torch.zeros(1, 8, 6, 6)
    for d in range(2):
        for i in range(2):
            for j in range(2):
                c = (d * 2 + i) * 2 + j
                maps[0, c, 1 + 2 * i : 3 + 2 * i, 1 + 2 * j : 3 + 2 * j] = c + 1.0
    return maps


@pytest.mark.parametrize("pooler", ["PSROIAlign", "PSROIPool"])
def test_each_bin_reads_its_own_bank(monkeypatch, pooler):
    calls = _recording(monkeypatch, "ps_roi_align" if pooler == "PSROIAlign" else "ps_roi_pool")
    maps, box = _hot_bank_maps(), [torch.tensor([[1.0, 1.0, 5.0, 5.0]])]
    # PSROIAlign: feature box [0.5, 4.5), bins of 2 px, samples at the pixel centres 1, 2 | 3, 4;
    # PSROIPool: pixels [1, 3) | [3, 5). Either way bin (i, j) sees only its bank's 2 x 2 block.
    out = position_sensitive_vote(maps, box, 2, 1.0, pooler, sampling_ratio=2)
    (pooled,) = calls
    assert pooled.tolist() == [[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]]
    assert out.tolist() == [[2.5, 6.5]]  # (1 + 2 + 3 + 4) / 4, (5 + 6 + 7 + 8) / 4
    # a transposed mapping would read zeros off the diagonal: (1 + 4) / 4, (5 + 8) / 4
    wrong = _vote(_ref_ps_roi_pool(maps[0].tolist(), [1, 1, 5, 5], 2, 1.0, _transposed_channel))
    assert wrong == [1.25, 3.25]


# k = 7 (the paper's), two outputs, 12 x 12 maps at stride 2, a batch of two images: an
# unaligned box, one crossing the top and right borders, and one rounding to a single pixel.
K7_BOXES = [
    [[1.3, 2.7, 19.1, 21.9]],
    [[6.2, -2.6, 30.0, 24.0], [9.2, 8.6, 10.2, 10.4]],
]


def _random_maps(channels, size=12, images=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(images, channels, size, size, generator=gen) * 4.0 - 1.0


def _assert_bins_and_votes(pooled, out, refs, atol):
    """Per-bin ``(R, D, k, k)`` outputs and votes ``(R, D)`` equal the references ``[D][k][k]``."""
    for r, ref in enumerate(refs):
        assert pooled[r].flatten().tolist() == pytest.approx(
            [v for out_d in ref for row in out_d for v in row], rel=1e-5, abs=atol
        )
        assert out[r].tolist() == pytest.approx(_vote(ref), rel=1e-5, abs=atol)


@pytest.mark.parametrize("ratio", [1, 2, 3])
def test_ps_roi_align_k7_unaligned_matches_hand_computed_bins(monkeypatch, ratio):
    k, num_out, scale = 7, 2, 0.5
    calls = _recording(monkeypatch, "ps_roi_align")
    maps = _random_maps(num_out * k * k)
    boxes = [torch.tensor(b) for b in K7_BOXES]
    out = position_sensitive_vote(maps, boxes, k, scale, "PSROIAlign", ratio)
    (pooled,) = calls
    assert pooled.shape == (3, num_out, k, k)
    refs = [
        _ref_ps_roi_align(maps[n].tolist(), box, k, scale, ratio)
        for n, image_boxes in enumerate(K7_BOXES)
        for box in image_boxes
    ]
    _assert_bins_and_votes(pooled, out, refs, atol=1e-5)
    # the border box samples beyond the map (y < -1 and x > W read 0): not a plain crop
    assert any(v == 0.0 for v in pooled[1, :, 0].flatten().tolist())
    # only the documented layout gives these values
    for wrong in (_transposed_channel, _d_innermost_channel):
        other = _vote(_ref_ps_roi_align(maps[0].tolist(), K7_BOXES[0][0], k, scale, ratio, wrong))
        assert max(abs(a - b) for a, b in zip(other, out[0].tolist())) > 1e-2


def test_ps_roi_pool_k7_unaligned_matches_hand_computed_quantised_bins(monkeypatch):
    k, num_out, scale = 7, 2, 0.5
    calls = _recording(monkeypatch, "ps_roi_pool")
    maps = _random_maps(num_out * k * k, seed=1)
    boxes = [torch.tensor(b) for b in K7_BOXES]
    out = position_sensitive_vote(maps, boxes, k, scale, "PSROIPool")
    (pooled,) = calls
    refs = [
        _ref_ps_roi_pool(maps[n].tolist(), box, k, scale)
        for n, image_boxes in enumerate(K7_BOXES)
        for box in image_boxes
    ]
    _assert_bins_and_votes(pooled, out, refs, atol=1e-6)
    # box 0 rounds to pixels x [1, 10), y [1, 11); bin (0, 0) is pixels y [1, 3) x x [1, 3) of
    # channel 0, bin (6, 6) pixels y [9, 11) x x [8, 10) of channel 48 (d = 0) / 97 (d = 1)
    assert pooled[0, 0, 0, 0].item() == pytest.approx(maps[0, 0, 1:3, 1:3].mean().item())
    assert pooled[0, 1, 6, 6].item() == pytest.approx(maps[0, 97, 9:11, 8:10].mean().item())
    # the tiny box rounds to x [5, 5), y [4, 5): forced to 1 x 1, every bin reads pixel (4, 5)
    assert pooled[2, 1].flatten().tolist() == pytest.approx(maps[1, 49:98, 4, 5].tolist())
    # the border box rounds to x [3, 15), y [-1, 12): bin columns 5 and 6 start at x >= 11
    # and are clipped to the empty [11, 11) (0); column 4 is x [9, 12) clipped to [9, 11)
    assert pooled[1, :, :, 5:].abs().sum().item() == 0.0
    assert pooled[1, 0, 0, 4].item() == pytest.approx(maps[1, 4, 0:1, 9:11].mean().item())
    for wrong in (_transposed_channel, _d_innermost_channel):
        other = _vote(_ref_ps_roi_pool(maps[0].tolist(), K7_BOXES[0][0], k, scale, wrong))
        assert max(abs(a - b) for a, b in zip(other, out[0].tolist())) > 1e-2


def test_ps_roi_pool_never_reads_the_last_row_and_column():
    # 4 x 4 maps of ones, 9 in the last row and column; the box covers the whole map, k = 2
    maps = torch.ones(1, 4, 4, 4)
    maps[..., 3, :] = 9.0
    maps[..., :, 3] = 9.0
    box = [torch.tensor([[0.0, 0.0, 4.0, 4.0]])]
    # torchvision's PSROIPool: bins [0, 2) and [2, 4) -> [2, 3): the 9s are never read
    assert position_sensitive_vote(maps, box, 2, 1.0, "PSROIPool").tolist() == [[1.0]]
    assert _vote(_ref_ps_roi_pool(maps[0].tolist(), [0, 0, 4, 4], 2, 1.0)) == [1.0]
    # clipping to the map size (R-FCN's PSROIPooling): bins (0, 1), (1, 0) = (1 + 1 + 9 + 9) / 4,
    # bin (1, 1) = (1 + 9 + 9 + 9) / 4 -> (1 + 5 + 5 + 7) / 4
    full = _ref_ps_roi_pool(maps[0].tolist(), [0, 0, 4, 4], 2, 1.0, drop_last=False)
    assert full == [[[1.0, 5.0], [5.0, 7.0]]] and _vote(full) == [4.5]
    # PSROIAlign samples the pixel centres 0, 1 | 2, 3 and so reads the border: the same 4.5
    assert position_sensitive_vote(maps, box, 2, 1.0, "PSROIAlign").tolist() == [[4.5]]
    # ones only in the last row/column: PSROIPool gives 0, roi_pool (max) gives ones
    edge = maps - 1.0
    edge[edge > 0] = 1.0
    assert position_sensitive_vote(edge, box, 2, 1.0, "PSROIPool").tolist() == [[0.0]]
    assert roi_pool(edge[:, :1], box, 2, 1.0).flatten().tolist() == [0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("pooler", ["PSROIAlign", "PSROIPool"])
def test_head_inference_hand_computed(pooler):
    k, num_classes, size = 3, 2, 16
    head = _head(num_classes=num_classes, k=k, pooler=pooler).eval()
    gen = torch.Generator().manual_seed(3)
    feat = torch.rand(1, 1, size // 2, size // 2, generator=gen)
    with torch.no_grad():
        for conv, gain in ((head.cls_score_maps, 2.0), (head.box_delta_maps, 0.5)):
            conv.weight.copy_(torch.rand(conv.weight.shape, generator=gen) * 2 * gain - gain)
            conv.bias.copy_(torch.rand(conv.bias.shape, generator=gen) * gain - gain / 2)
    box = [2.3, 3.1, 11.7, 13.4]
    proposals = Instances((size, size))
    proposals.proposal_boxes = Boxes(torch.tensor([box]))
    (result,), _ = head(
        ImageList(torch.zeros(1, 3, size, size), [(size, size)]), {"f": feat}, [proposals]
    )

    # reference: the 1x1 convs by hand, then pooling and voting in plain Python (stride 2)
    f = feat[0, 0].tolist()

    def conv_maps(conv):
        w, b = conv.weight.flatten().tolist(), conv.bias.tolist()
        return [[[w[c] * v + b[c] for v in row] for row in f] for c in range(len(b))]

    if pooler == "PSROIAlign":
        pool = lambda m: _ref_ps_roi_align(m, box, k, 0.5, 2)  # noqa: E731
    else:
        pool = lambda m: _ref_ps_roi_pool(m, box, k, 0.5)  # noqa: E731
    logits = _vote(pool(conv_maps(head.cls_score_maps)))
    dx, dy, dw, dh = _vote(pool(conv_maps(head.box_delta_maps)))
    total = sum(math.exp(v) for v in logits)
    scores = [math.exp(v) / total for v in logits[:num_classes]]  # last = background
    # Box2BoxTransform with weights (10, 10, 5, 5), class-agnostic, clipped to the image
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = box[0] + w / 2 + dx / 10 * w, box[1] + h / 2 + dy / 10 * h
    pw, ph = math.exp(dw / 5) * w, math.exp(dh / 5) * h
    expected = [cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2]
    expected = [min(max(v, 0.0), float(size)) for v in expected]

    order = sorted(range(num_classes), key=lambda c: -scores[c])
    assert result.pred_classes.tolist() == order  # one box, two classes: NMS keeps both
    assert result.scores.tolist() == pytest.approx([scores[c] for c in order], rel=1e-5)
    for pred in result.pred_boxes.tensor.tolist():
        assert pred == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert abs(scores[0] - scores[1]) > 1e-3 and abs(dx) + abs(dy) > 1e-3  # non-trivial
