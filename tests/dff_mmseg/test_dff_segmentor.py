"""DFFSegmentor: loss and predict on pairs, the offset-0 identity, splits, stream mode, flows."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torchvision.ops import FrozenBatchNorm2d

from dff_common.synthetic.scenes import class_color, make_texture
from dff_mmseg.models import DISFlow, ZeroFlow

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
H, W = 32, 64


FLOW_TYPES = {"flownet_half": "FlowNetHalf", "zero": "ZeroFlow"}


def build(flow="flownet_half", num_task_layers=1, **kwargs):
    flow_net = kwargs.pop("flow_net", None if flow is None else dict(type=FLOW_TYPES[flow]))
    decode_head = kwargs.pop(
        "decode_head",
        dict(
            type="FCNHead",
            in_channels=8,
            in_index=0,
            channels=8,
            num_convs=0,
            concat_input=False,
            dropout_ratio=0.0,
            num_classes=5,
        ),
    )
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type="DFFSegmentor",
            backbone=dict(
                type="DilatedResNet",
                depth=50,
                out_channels=8,
                frozen_stages=0,
                num_task_layers=num_task_layers,
            ),
            decode_head=decode_head,
            flow_net=flow_net,
            data_preprocessor=dict(
                type="VideoSegDataPreProcessor", mean=MEAN, std=STD, size=(H, W)
            ),
            **kwargs,
        )
    )


def samples(distances, shape=(H, W), labels=True):
    out = []
    for distance in distances:
        sample = SegDataSample(
            metainfo=dict(
                key_distance=distance, img_shape=(H, W), ori_shape=shape, video_id=len(out)
            )
        )
        if labels:
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, H, W)))
        out.append(sample)
    return out


def frames(n, channels=6, seed=1):
    return torch.randn(n, channels, H, W, generator=torch.Generator().manual_seed(seed))


def per_frame_scores(model, images):
    """The image network N = decode_head(backbone(I)), computed without the DFF code path."""
    with torch.no_grad():
        return model.decode_head(model.backbone(images))


def test_loss_path_trains_every_part():
    model = build().train()
    losses = model.loss(frames(2), samples([0, 3]))
    assert set(losses) == {"decode.loss_ce", "decode.acc_seg"}
    assert torch.isfinite(losses["decode.loss_ce"]) and losses["decode.loss_ce"] > 0
    losses["decode.loss_ce"].backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"No gradient for {name}"
    flow_net = model.propagation.flow_net
    assert flow_net.scale_field.weight.grad.abs().sum() > 0  # S is trained (Eq. 3)
    assert flow_net.conv1.conv.weight.grad.abs().sum() > 0  # so is F, through the warp (Eq. 4)


def test_offset_zero_is_the_per_frame_network_exactly():
    model = build().eval()
    cur = frames(2)[:, 3:]
    pair = torch.cat([cur, cur], dim=1)
    with torch.no_grad():
        scores = model._forward(pair, samples([0, 0], labels=False))
    assert torch.equal(scores, per_frame_scores(model, cur))
    # the Frame model (no flow network) with the same weights predicts the same
    frame_model = build(flow=None).eval()
    frame_model.load_state_dict(model.state_dict(), strict=False)
    ours = model.predict(pair, samples([0, 0], labels=False))
    theirs = frame_model.predict(pair, samples([0, 0], labels=False))
    for a, b in zip(ours, theirs):
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)
    with pytest.raises(ValueError, match="interval=1"):
        frame_model._forward(pair, samples([0, 2], labels=False))


def test_a_single_frame_is_the_image_model(tmp_path):
    model = build().eval()
    cur = frames(2)[:, 3:]
    with torch.no_grad():
        scores = model._forward(cur, None)  # (N, 3, H, W): no pair, no key distance needed
    assert torch.equal(scores, per_frame_scores(model, cur))
    # so mmseg's own single-image API runs the DFF model as its image model
    from mmengine.config import Config
    from mmseg.apis import inference_model

    model.cfg = Config(dict(test_pipeline=[dict(type="LoadImageFromFile"),
                                           dict(type="PackSegInputs")]))  # fmt: skip
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)
    result = inference_model(model, image)
    rgb = torch.from_numpy(image[:, :, ::-1].copy()).permute(2, 0, 1)[None].float()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    expected = F.interpolate(per_frame_scores(model, (rgb - mean) / std), (H, W), mode="bilinear")
    assert torch.equal(result.pred_sem_seg.data[0], expected.argmax(1)[0])


def test_zero_flow_copies_the_key_frame_features():
    model = build(flow="zero").eval()
    pair = frames(2)
    with torch.no_grad():
        scores = model._forward(pair, samples([2, 4], labels=False))
    assert model.propagation.use_scale is False
    assert torch.equal(scores, per_frame_scores(model, pair[:, :3]))


def test_predict_returns_labels_at_the_original_size():
    model = build().eval()
    results = model.predict(frames(2), samples([1, 0], shape=(64, 128), labels=False))
    for result in results:
        pred = result.pred_sem_seg.data
        assert pred.shape == (1, 64, 128) and pred.min() >= 0 and pred.max() < 5
        assert result.seg_logits.data.shape == (5, 64, 128)
        assert torch.equal(pred[0], result.seg_logits.data.argmax(0))


@pytest.mark.parametrize(
    "split, num_task_layers, channels", [("decode_head", 1, 5), ("neck", 5, 2048)]
)
def test_split_points_of_table_5(split, num_task_layers, channels):
    model = build(split=split, num_task_layers=num_task_layers).eval()
    assert model.propagation.flow_net.scale_field.out_channels == channels
    assert model.propagation.level_channels == (channels,)
    cur = frames(1)[:, 3:]
    with torch.no_grad():
        (f_key,) = model.n_feat()(cur)
        assert f_key.shape == (1, channels, 2, 4)
        scores = model._forward(torch.cat([cur, cur], 1), samples([0], labels=False))
    torch.testing.assert_close(scores, per_frame_scores(model, cur), rtol=1e-5, atol=1e-6)
    model.train()
    model.loss(frames(2), samples([2, 0]))["decode.loss_ce"].backward()


def test_stream_mode_runs_algorithm_1_with_fixed_key_frames():
    model = build(flow="zero", interval=5, test_cfg=dict(protocol="stream")).eval()
    clip = frames(1, channels=3 * 7)  # frames 0..6 of one video: key frames 0 and 5
    data_samples = samples([-1], labels=False)
    with torch.no_grad():
        scores = model.stream_inference(clip, data_samples)
    assert data_samples[0].key_distance == 1
    expected = F.interpolate(per_frame_scores(model, clip[:, 15:18]), (H, W), mode="bilinear")
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)
    every_frame = build(interval=1, test_cfg=dict(protocol="stream")).eval()
    data_samples = samples([-1], labels=False)
    with torch.no_grad():
        scores = every_frame.stream_inference(clip, data_samples)
    expected = F.interpolate(per_frame_scores(every_frame, clip[:, 18:]), (H, W), mode="bilinear")
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-6)
    assert data_samples[0].key_distance == 0


def test_fix_n_fix_f_and_frozen_flow_batch_norm():
    fix_n = build(fix_image_net=True)
    assert not any(p.requires_grad for p in fix_n.backbone.parameters())
    assert not fix_n.decode_head.conv_seg.weight.requires_grad
    assert all(p.requires_grad for p in fix_n.propagation.parameters())
    fix_f = build(fix_flow_net=True)
    assert not any(p.requires_grad for p in fix_f.propagation.parameters())
    assert fix_f.decode_head.conv_seg.weight.requires_grad
    with_bn = build(flow_net=dict(type="FlowNetHalf", norm="BN")).train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.propagation.modules())
    frozen = [m for m in with_bn.propagation.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert frozen and with_bn.decode_head.training


def textured_pair(shift):
    texture = make_texture(64, 160, np.random.default_rng(0), class_color(3))
    key, cur = texture[:, 16:144], texture[:, 16 - shift : 144 - shift]  # cur(x) = key(x - shift)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    return [
        (torch.from_numpy(x.copy()).permute(2, 0, 1)[None].float() - mean) / 255 for x in (key, cur)
    ]


def test_dis_flow_points_from_current_into_key_frame_in_grid_pixels():
    key, cur = textured_pair(shift=8)
    flow, scale = DISFlow()(key, cur)
    assert scale is None and flow.shape == (1, 2, 8, 16)
    inner = flow[0, :, 2:-2, 2:-2]
    # cur(p) = key(p - 8 px): M_{i->k} = (-8, 0) input pixels = (-1, 0) stride-8 grid pixels
    assert inner[0].median().item() == pytest.approx(-1.0, abs=0.1)
    assert inner[1].abs().median().item() < 0.1
    zero, none = ZeroFlow()(key[:, :, :, :-3], cur[:, :, :, :-3])
    assert none is None and zero.shape == (1, 2, 8, 16) and not zero.any()


def test_a_flow_that_is_not_finite_names_the_frames():
    model = build().eval()
    with torch.no_grad():
        model.propagation.flow_net.conv1.conv.weight.fill_(float("nan"))
    pairs = samples([2, 1], labels=False)
    pairs[0].set_metainfo(dict(img_path="leftImg8bit_sequence/val/a/a_000000_000019.png"))
    message = (
        r"flow contains NaN or infinite values, in the batch of current frames "
        r"leftImg8bit_sequence/val/a/a_000000_000019.png \(key distance 2\), 1 \(key distance 1\)"
    )
    with pytest.raises(ValueError, match=message), torch.no_grad():
        model.predict(frames(2), pairs)


def test_one_pair_per_batch_into_a_pooled_batchnorm_names_the_layer():
    pooled_head = dict(
        type="PSPHead", in_channels=8, in_index=0, channels=4, pool_scales=(1, 2),
        dropout_ratio=0.0, num_classes=5, norm_cfg=dict(type="BN", requires_grad=True),
    )  # fmt: skip
    model = build(decode_head=pooled_head).train()
    message = (
        r"decode_head.psp_modules.0.1.bn \(BatchNorm2d\) gets a \(1, 4, 1, 1\) input in "
        r"training: BatchNorm needs more than one value per channel, and a batch of 1 gives it "
        r"1 \(a pooled 1x1 map\). Train with at least 2 samples per process"
    )
    with pytest.raises(ValueError, match=message):
        model.loss(frames(1), samples([2]))
    losses = model.loss(frames(2), samples([2, 0]))  # two pairs train
    assert torch.isfinite(losses["decode.loss_ce"])
