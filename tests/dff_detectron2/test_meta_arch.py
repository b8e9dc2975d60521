"""DFFRCNN: training losses on pairs, pair / video / per-frame inference, the known cases."""

import cv2
import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from dff_common.classical_flow import DISFlow
from dff_common.scheduler import FixedIntervalScheduler


def _frames(n=4, h=64, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(n)]


def _instances(h=64, w=64):
    target = Instances((h, w))
    target.gt_boxes = Boxes(torch.tensor([[8.0, 10.0, 40.0, 50.0], [30.0, 5.0, 60.0, 30.0]]))
    target.gt_classes = torch.tensor([0, 2])
    return target


def _same(a: Instances, b: Instances):
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert torch.equal(a.scores, b.scores)
    assert torch.equal(a.pred_classes, b.pred_classes)


def _model(tiny_cfg, *opts):
    torch.manual_seed(0)
    return build_model(tiny_cfg(*opts))


@pytest.fixture(scope="module")
def model(tiny_cfg):
    """DFF with l = 2, random weights (shared: tests restore what they change)."""
    return _model(tiny_cfg, "MODEL.DFF.KEY_FRAME_INTERVAL", 2)


def test_training_losses_on_pairs_reach_every_parameter(model):
    model.train()
    model.zero_grad()
    cur, key = _frames(2), _frames(2, seed=1)
    batch = [
        {"image": cur[0], "key_image": key[0], "key_offset": -3, "instances": _instances()},
        {"image": cur[1], "key_image": cur[1], "key_offset": 0, "instances": _instances()},
    ]
    with EventStorage():
        losses = model(batch)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    # an untrained R-FCN head predicts ~uniform scores over C + 1 = 4 classes
    assert losses["loss_cls"].item() == pytest.approx(np.log(4), abs=0.05)
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient for {name}"
    assert model.propagation.flow_net.scale_field.weight.grad.abs().sum() > 0
    model.zero_grad()


def test_offset_zero_is_the_per_frame_detector(model):
    image = _frames(1)[0]
    pair = {"image": image, "key_image": image, "key_offset": 0, "instances": _instances()}
    single = {"image": image, "instances": _instances()}
    model.eval()
    with torch.no_grad():
        _same(model([pair])[0]["instances"], model([single])[0]["instances"])
    model.train()
    losses = []
    for inputs in ([pair], [single]):
        torch.manual_seed(1)  # same RPN / RoI sampling
        with EventStorage():
            losses.append({k: v.item() for k, v in model(inputs).items()})
    assert losses[0] == losses[1]


def test_offset_zero_equals_the_frame_mode_model_with_the_same_weights(model, tiny_cfg):
    """Key offset 0 degenerates to per-frame training (Sec. 3): DFF on (I_i, I_i) pairs is
    the per-frame network (MODE "frame", no flow network) with the same N_feat and N_task."""
    torch.manual_seed(7)  # other random weights, replaced by the DFF model's below
    frame_model = build_model(
        tiny_cfg("MODEL.DFF.KEY_FRAME_INTERVAL", 2, "MODEL.DFF.MODE", "frame")
    )
    assert frame_model.propagation is None
    dff_state = model.state_dict()
    shared = {k: v for k, v in dff_state.items() if not k.startswith("propagation.")}
    assert any(k.startswith("propagation.flow_net.") for k in dff_state)
    assert not all(torch.equal(v, frame_model.state_dict()[k]) for k, v in shared.items())
    frame_model.load_state_dict(shared)  # strict: every other weight, and nothing else
    images = _frames(2, seed=3)
    pairs = [
        {"image": im, "key_image": im, "key_offset": 0, "instances": _instances()} for im in images
    ]
    frames = [{"image": im, "instances": _instances()} for im in images]  # the frame mapper's
    model.eval(), frame_model.eval()
    with torch.no_grad():
        dff_out, frame_out = model(pairs), frame_model(frames)
    assert len(dff_out) == len(frame_out) == 2 and len(dff_out[0]["instances"]) > 0
    for a, b in zip(dff_out, frame_out):
        _same(a["instances"], b["instances"])
    model.train(), frame_model.train()
    losses, grads = [], []
    for net, inputs in ((model, pairs), (frame_model, frames)):
        net.zero_grad()
        torch.manual_seed(1)  # same RPN / RoI sampling
        with EventStorage():
            loss = net(inputs)
        sum(loss.values()).backward()
        losses.append({k: v.item() for k, v in loss.items()})
        grads.append({n: p.grad for n, p in net.named_parameters() if p.grad is not None})
        net.zero_grad()
    assert set(losses[0]) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
    assert all(v > 0 for v in losses[0].values())
    assert losses[0] == losses[1]  # exactly
    # the same gradients for every shared weight; the flow network learns nothing at offset 0
    assert set(grads[1]) == {n for n in grads[0] if not n.startswith("propagation.")}
    assert len(grads[1]) == sum(p.requires_grad for p in frame_model.parameters())
    for name, grad in grads[1].items():
        assert torch.equal(grads[0][name], grad), name
    flow_grads = [g for n, g in grads[0].items() if n.startswith("propagation.")]
    assert flow_grads and all(not g.any() for g in flow_grads)


def test_pair_inference_propagates_key_features(model):
    model.eval()
    cur, key = _frames(2)
    with torch.no_grad():
        pair = model([{"image": cur, "key_image": key, "key_offset": -2}])[0]["instances"]
        per_frame = model([{"image": cur}])[0]["instances"]
    assert len(pair) > 0 and not torch.equal(pair.scores, per_frame.scores[: len(pair)])


def test_video_inference_is_algorithm_1_with_per_video_reset(model):
    model.eval()
    model.reset_videos()
    frames = _frames(3)
    with torch.no_grad():
        outputs = [
            model([{"image": f, "video_id": "a", "frame_idx": i}])[0] for i, f in enumerate(frames)
        ]
        video = [out["instances"] for out in outputs]
        assert [out["key_frame_idx"] for out in outputs] == [0, 0, 2]  # l = 2
        assert model._engine.video_ids == ("a",)
        per_frame = [model([{"image": f}])[0] for f in frames]
        assert "key_frame_idx" not in per_frame[0]  # no key frame on a single image
        per_frame = [out["instances"] for out in per_frame]
        pair = model([{"image": frames[1], "key_image": frames[0], "key_offset": -1}])
        restart = model([{"image": frames[1], "video_id": "b", "frame_idx": 0}])
        model([{"image": frames[0], "video_id": "c", "frame_idx": 0, "num_frames": 1}])
        assert model._engine.video_ids == ("a", "b")  # "c" ended: its cache is freed
    _same(video[0], per_frame[0])  # key frame 0
    _same(video[1], pair[0]["instances"])  # propagated from key frame 0
    _same(video[2], per_frame[2])  # key frame 2 = 0 + l
    _same(restart[0]["instances"], per_frame[1])  # a new video starts with a key frame


def test_interval_one_and_frame_mode_are_per_frame(model):
    model.eval()
    frames = _frames(2)
    with torch.no_grad():
        per_frame = [model([{"image": f}])[0]["instances"] for f in frames]
        for scheduler, test_mode in ((FixedIntervalScheduler(1), "video"), (None, "frame")):
            saved = model.scheduler, model.test_mode
            model.scheduler, model.test_mode = scheduler or saved[0], test_mode
            model.reset_videos()
            for i, f in enumerate(frames):
                out = model([{"image": f, "video_id": "v", "frame_idx": i}])[0]["instances"]
                _same(out, per_frame[i])
            model.scheduler, model.test_mode = saved


def test_copy_mode_reuses_the_key_frame_features(tiny_cfg):
    model = _model(tiny_cfg, "MODEL.DFF.FLOW.NAME", "ZeroFlow").eval()
    assert not model.propagation.use_scale  # S = 1 for a hand-crafted flow
    frames = _frames(2)
    with torch.no_grad():
        outs = [
            model([{"image": f, "video_id": "v", "frame_idx": i}])[0]["instances"]
            for i, f in enumerate(frames)
        ]
    _same(outs[0], outs[1])  # frame 1 sees frame 0's features: the same detections


def test_frame_mode_builds_no_flow_network(tiny_cfg):
    model = _model(tiny_cfg, "MODEL.DFF.MODE", "frame")
    assert model.propagation is None
    assert not any("flow" in name for name, _ in model.named_parameters())


def test_freeze_flags(tiny_cfg):
    model = _model(tiny_cfg, "MODEL.DFF.FREEZE_FLOW", True)
    assert not any(p.requires_grad for p in model.propagation.parameters())
    assert all(p.requires_grad for p in model.roi_heads.parameters())
    model = _model(tiny_cfg, "MODEL.DFF.FREEZE_RECOGNITION", True)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"propagation"}


def test_split_point_5_moves_res5c_into_the_task_network(tiny_cfg):
    model = _model(tiny_cfg, "MODEL.DFF.NUM_TASK_LAYERS", 5).eval()
    assert model.backbone.channels_at_split == 2048
    assert model.propagation.flow_net.scale_field.out_channels == 2048
    cur, key = _frames(2)
    with torch.no_grad():
        out = model([{"image": cur, "key_image": key, "key_offset": -1}])[0]["instances"]
    assert out.pred_boxes.tensor.shape[1] == 4


def test_dis_flow_measures_a_translation():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((64, 96, 3)).astype(np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min()) * 255
    key = torch.tensor(texture[:64, :64].transpose(2, 0, 1), dtype=torch.float32)[None]
    cur = torch.tensor(texture[:64, 8:72].transpose(2, 0, 1), dtype=torch.float32)[None]
    mean = (100.0, 110.0, 120.0)
    norm = torch.tensor(mean).view(1, 3, 1, 1)
    flow, scale = DISFlow("medium", mean=mean, input_std=255.0)(
        (key - norm) / 255.0, (cur - norm) / 255.0
    )
    # cur(p) = key(p + 8 px): M = +8 input pixels = +1 unit of the stride-8 grid
    assert scale is None and flow.shape == (1, 2, 8, 8)
    assert flow[0, 0, 2:6, 2:6].median().item() == pytest.approx(1.0, abs=0.1)
    assert flow[0, 1, 2:6, 2:6].abs().median().item() < 0.1


def test_dis_flow_of_a_bgr_model_sees_the_colours_of_an_rgb_one(tiny_cfg):
    """DIS runs on grey images: a BGR detector (``INPUT.FORMAT``, the model zoo's) gets the
    grey of the same colours as an RGB one, so the same flow; with the channels read as RGB it
    would weigh blue as red and the flow would differ."""
    rng = np.random.default_rng(1)
    colours = rng.random((64, 96, 3)).astype(np.float32) * [1.0, 0.2, 0.6]  # unequal channels
    texture = cv2.GaussianBlur(colours, (0, 0), 1.5) * 255
    rgb_key = torch.tensor(texture[:64, :64].transpose(2, 0, 1))[None]
    rgb_cur = torch.tensor(texture[3 : 67 - 3, 5:69].transpose(2, 0, 1))[None]
    rgb_cur = torch.nn.functional.pad(rgb_cur, (0, 0, 0, 64 - rgb_cur.shape[2]))
    flows = {}
    for fmt, order in (("RGB", [0, 1, 2]), ("BGR", [2, 1, 0])):
        cfg = tiny_cfg("MODEL.DFF.FLOW.NAME", "DISFlow", "INPUT.FORMAT", fmt)
        dis = build_model(cfg).propagation.flow_net
        assert dis.channel_order == fmt
        mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
        key, cur = ((x[:, order] - mean) / 255.0 for x in (rgb_key, rgb_cur))
        flows[fmt] = dis(key, cur)[0]
    assert torch.equal(flows["RGB"], flows["BGR"])
    misread = DISFlow("medium", mean=tuple(cfg.MODEL.PIXEL_MEAN), input_std=255.0)
    assert not torch.equal(misread(key, cur)[0], flows["RGB"])  # BGR frames read as RGB
    with pytest.raises(ValueError, match="INPUT.FORMAT must be 'RGB' or 'BGR' for DISFlow"):
        build_model(tiny_cfg("MODEL.DFF.FLOW.NAME", "DISFlow", "INPUT.FORMAT", "L"))
