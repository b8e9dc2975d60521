"""DFF around detectron2's model-zoo Faster R-CNNs (``configs/dff_detectron2/model_zoo``).

Each config wraps an unchanged zoo config; the zoo's ``GeneralizedRCNN`` built from that config
(random weights) lends its state dict to the DFF model, which must then be that detector at
key interval 1, train F and S end to end, skip the backbone on non-key frames (Algorithm 1) and,
for FPN, warp every level at its own stride.
"""

import glob
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2 import model_zoo
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import GeneralizedRCNN, RetinaNet, build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

from analysis_tools.detection import PREFIX, schedule_opts, start_from, synthetic_cfg
from analysis_tools.detection_flow_error import use_exact_flow
from analysis_tools.flow_error import exact_feature_flow
from analysis_tools.model_zoo_costs import model_zoo_part_macs
from dff_common import propagation
from dff_common.classical_flow import IMAGENET_MEAN
from dff_common.complexity import cost_ratio
from dff_common.flow_nets import FlowNetHalf
from dff_common.propagation import FeaturePropagation, resize_flow
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.synthetic.vid import render_vid_snippet
from dff_common.warp import warp
from dff_detectron2 import DFFRCNN, DFFRetinaNet, add_dff_config, get_dff_cfg

ARCHS = ("C4", "DC5", "FPN")
CONFIGS = "configs/dff_detectron2/model_zoo"
TOOL = Path(__file__).resolve().parents[2] / "tools" / "convert_weights.py"
# CPU-sized, the same for the zoo model and the DFF model: fewer proposals and RoIs
SMALL = [
    "MODEL.DEVICE", "cpu",
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN", 300, "MODEL.RPN.POST_NMS_TOPK_TRAIN", 20,
    "MODEL.RPN.PRE_NMS_TOPK_TEST", 300, "MODEL.RPN.POST_NMS_TOPK_TEST", 20,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 32,
]  # fmt: skip
COCO_CLASSES = ["MODEL.ROI_HEADS.NUM_CLASSES", 80]
RETINANET = "COCO-Detection/retinanet_R_50_FPN_1x.yaml"  # the zoo detector's, to take its weights


def _dff_config(arch: str) -> str:
    return f"{CONFIGS}/DFF_FasterRCNN_R50_{arch}_FlowNet.yaml"


def _zoo_cfg(arch: str, opts=(), name: str | None = None):
    """The zoo's config ``name`` (default its Faster R-CNN R50-``arch``), unchanged but for
    ``opts`` (with the DFF keys, to compare configs)."""
    cfg = get_cfg()
    add_dff_config(cfg)
    name = name or f"COCO-Detection/faster_rcnn_R_50_{arch}_1x.yaml"
    cfg.merge_from_file(model_zoo.get_config_file(name))
    cfg.merge_from_list(list(opts))
    return cfg


def _flat(node, prefix=""):
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _differences(a, b) -> set:
    a, b = _flat(a), _flat(b)
    return {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def _frames(n, h=128, w=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(n)]


def _calibrate(model: GeneralizedRCNN, image: torch.Tensor) -> None:
    """Make random weights well-conditioned: every FrozenBN takes its input's per-channel mean
    and variance on ``image`` as statistics (identity FrozenBNs grow a random ResNet's
    activations to ~1e3 and saturate every score), and the classifier's logits spread (its
    zoo initialisation, std 0.01, gives every class the same score, under the 0.05 threshold)."""

    def set_statistics(module, args):
        module.running_mean.copy_(args[0].mean((0, 2, 3)))
        module.running_var.copy_(args[0].var((0, 2, 3)))

    hooks = [
        m.register_forward_pre_hook(set_statistics)
        for m in model.modules()
        if isinstance(m, FrozenBatchNorm2d)
    ]
    with torch.no_grad():
        model.eval()([{"image": image}])
        cls_score = model.roi_heads.box_predictor.cls_score
        cls_score.weight.normal_(0, cls_score.in_features**-0.5)
    for hook in hooks:
        hook.remove()


def _zoo_and_dff(arch: str, seed: int = 0):
    """The zoo detector (calibrated random weights) and the DFF model holding its weights."""
    torch.manual_seed(seed)
    zoo = build_model(_zoo_cfg(arch, SMALL))
    assert type(zoo) is GeneralizedRCNN
    _calibrate(zoo, _frames(1, seed=99)[0])
    dff = build_model(get_dff_cfg(_dff_config(arch), SMALL + COCO_CLASSES))
    assert isinstance(dff, DFFRCNN)
    loaded = dff.load_state_dict(zoo.state_dict(), strict=False)
    assert not loaded.unexpected_keys
    assert loaded.missing_keys and all(k.startswith("propagation.") for k in loaded.missing_keys)
    return zoo.eval(), dff.eval()


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(arch):
        if arch not in cache:
            cache[arch] = _zoo_and_dff(arch)
        return cache[arch]

    return get


def _same(a: Instances, b: Instances):
    assert len(a) == len(b) > 0
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert torch.equal(a.scores, b.scores)
    assert torch.equal(a.pred_classes, b.pred_classes)


def _detect(model, inputs) -> Instances:
    with torch.no_grad():
        return model([inputs])[0]["instances"]


# ---------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("arch", ARCHS)
def test_configs_wrap_the_zoo_config_unchanged(arch):
    dff = get_dff_cfg(_dff_config(arch))
    zoo = _zoo_cfg(arch)
    # the detector is the zoo's; only the meta-architecture, weights, classes, data, input
    # size, schedule and output differ (the DFF keys are at their defaults: l = 10, pairs
    # with offsets in [-9, 0], FlowNetSimple, Algorithm 1 at test time)
    assert _differences(dff, zoo) == {
        "MODEL.META_ARCHITECTURE", "MODEL.WEIGHTS", "MODEL.ROI_HEADS.NUM_CLASSES",
        "DATASETS.TRAIN", "DATASETS.TEST", "INPUT.MIN_SIZE_TRAIN", "INPUT.MAX_SIZE_TRAIN",
        "INPUT.MIN_SIZE_TEST", "INPUT.MAX_SIZE_TEST", "SOLVER.IMS_PER_BATCH", "SOLVER.BASE_LR",
        "SOLVER.STEPS", "SOLVER.MAX_ITER", "SOLVER.CHECKPOINT_PERIOD", "OUTPUT_DIR",
    }  # fmt: skip
    assert dff.MODEL.META_ARCHITECTURE == "DFFRCNN" and dff.MODEL.ROI_HEADS.NUM_CLASSES == 30
    assert dff.MODEL.DFF.MODE == "dff" and dff.MODEL.DFF.KEY_FRAME_INTERVAL == 10
    assert tuple(dff.MODEL.DFF.KEY_OFFSET_RANGE) == (-9, 0)
    assert dff.MODEL.DFF.FLOW.NAME == "FlowNetSimple" and dff.MODEL.DFF.TEST.MODE == "video"
    assert dff.DATASETS.TRAIN == ("imagenet_vid_train_15frames", "imagenet_det_train_30classes")
    # the zoo model reads BGR and normalises with PIXEL_STD 1: F sees (BGR - mean) / 255, whose
    # channels reversed are (RGB - ImageNet mean) / 255, the input of RGB-trained flow weights
    assert dff.INPUT.FORMAT == "BGR" and tuple(dff.MODEL.PIXEL_STD) == (1.0, 1.0, 1.0)
    assert tuple(reversed(dff.MODEL.PIXEL_MEAN)) == IMAGENET_MEAN
    assert dff.MODEL.WEIGHTS.endswith(f"DFF_FasterRCNN_R50_{arch}_FlowNet_init.pth")
    header = Path(_dff_config(arch)).read_text()
    assert f"--output {dff.MODEL.WEIGHTS}" in header and "--bgr-to-rgb" in header

    frame = get_dff_cfg(f"{CONFIGS}/Frame_FasterRCNN_R50_{arch}.yaml")
    assert _differences(frame, dff) == {
        "MODEL.WEIGHTS", "MODEL.DFF.MODE", "MODEL.DFF.KEY_OFFSET_RANGE", "MODEL.DFF.TEST.MODE",
        "OUTPUT_DIR",
    }  # fmt: skip
    assert frame.MODEL.WEIGHTS == zoo.MODEL.WEIGHTS  # the zoo's ImageNet ResNet-50
    assert f"--base {frame.OUTPUT_DIR}/model_final.pth" in header


@pytest.mark.parametrize("path", sorted(glob.glob("configs/dff_detectron2/*.yaml")))
def test_configs_without_a_zoo_base_load_as_detectron2_loads_them(path):
    reference = get_cfg()
    add_dff_config(reference)
    reference.merge_from_file(path)
    assert _differences(get_dff_cfg(path), reference) == set()


def test_a_zoo_model_the_docs_do_not_mention_wraps_with_a_composed_config():
    # Faster R-CNN R101-FPN 3x: the zoo config and the shipped VID base, nothing copied
    path = f"{CONFIGS}/DFF_FasterRCNN_R101_FPN_FlowNet.yaml"
    lines = [line for line in Path(path).read_text().splitlines() if not line.startswith("#")]
    assert len(lines) <= 5
    dff = get_dff_cfg(path)
    zoo = _zoo_cfg("FPN", name="COCO-Detection/faster_rcnn_R_101_FPN_3x.yaml")
    assert _differences(dff, zoo) == _differences(get_dff_cfg(_dff_config("FPN")), _zoo_cfg("FPN"))
    model = build_model(get_dff_cfg(path, ["MODEL.DEVICE", "cpu"]))
    assert type(model).__name__ == "DFFRCNN" and len(model.backbone.bottom_up.res4) == 23


def test_bases_listed_are_merged_in_order_and_a_bad_base_is_named(tmp_path):
    (tmp_path / "a.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  MAX_ITER: 7\n")
    (tmp_path / "b.yaml").write_text("SOLVER:\n  BASE_LR: 0.25\n")
    leaf = tmp_path / "leaf.yaml"
    leaf.write_text('_BASE_: ["a.yaml", "b.yaml"]\nSOLVER:\n  IMS_PER_BATCH: 3\n')
    cfg = get_dff_cfg(str(leaf))
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER, cfg.SOLVER.IMS_PER_BATCH) == (0.25, 7, 3)
    leaf.write_text("_BASE_: 3\n")
    with pytest.raises(ValueError, match=rf"{leaf}: _BASE_ must be a file name or a list"):
        get_dff_cfg(str(leaf))


def test_a_missing_zoo_config_is_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text('_BASE_: "model_zoo:COCO-Detection/no_such_model.yaml"\n')
    with pytest.raises(FileNotFoundError, match=rf"{config}: _BASE_ 'model_zoo:COCO-Detection"):
        get_dff_cfg(str(config))


# ------------------------------------------------------------------------- the image model
@pytest.mark.parametrize("arch", ARCHS)
def test_key_interval_one_and_offset_zero_are_the_zoo_detector(models, arch):
    """Bit-exact: at l = 1 every frame is a key frame and N_task runs on the backbone's own
    maps; a pair at offset 0 uses the key frame's maps unchanged (Sec. 3)."""
    zoo, dff = models(arch)
    frames = _frames(3, seed=1)
    saved = dff.scheduler
    dff.scheduler = FixedIntervalScheduler(1)
    dff.reset_videos()
    try:
        for i, frame in enumerate(frames):
            expected = _detect(zoo, {"image": frame})
            _same(_detect(dff, {"image": frame, "video_id": "v", "frame_idx": i}), expected)
            pair = {"image": frame, "key_image": frame, "key_offset": 0}
            _same(_detect(dff, pair), expected)
    finally:
        dff.scheduler = saved
        dff.reset_videos()


@pytest.mark.parametrize("arch", ARCHS)
def test_a_pair_training_step_reaches_every_parameter_of_f_and_s(models, arch):
    _, dff = models(arch)
    target = Instances((128, 160))
    target.gt_boxes = Boxes(torch.tensor([[8.0, 10.0, 80.0, 90.0], [60.0, 5.0, 150.0, 100.0]]))
    target.gt_classes = torch.tensor([0, 2])
    cur, key = _frames(2, seed=2)
    dff.train()
    dff.zero_grad()
    try:
        with EventStorage():
            losses = dff([{"image": cur, "key_image": key, "key_offset": -3, "instances": target}])
        assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
        assert all(torch.isfinite(v) and v > 0 for v in losses.values())
        sum(losses.values()).backward()
        flow_params = dict(dff.propagation.named_parameters())
        assert "flow_net.scale_field.weight" in flow_params
        for name, p in flow_params.items():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for {name}"
        # N takes the task loss too, beyond the zoo's frozen stem and res2 (FREEZE_AT 2)
        backbone = [p for p in dff.backbone.parameters() if p.requires_grad]
        assert backbone and all(p.grad is not None for p in backbone)
    finally:
        dff.zero_grad()
        dff.eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_algorithm_1_runs_the_backbone_on_key_frames_only(models, arch):
    zoo, dff = models(arch)
    calls = []
    hook = dff.backbone.register_forward_hook(lambda *args: calls.append(1))
    frames = _frames(12, seed=3)
    dff.reset_videos()
    try:
        video = [
            _detect(dff, {"image": f, "video_id": "v", "frame_idx": i, "num_frames": 12})
            for i, f in enumerate(frames)
        ]
    finally:
        hook.remove()
    assert dff.scheduler.interval == 10
    assert len(calls) == 2  # key frames 0 and 10 (l = 10)
    assert dff._engine.video_ids == ()  # the cache is freed after the last frame
    for i in (0, 10):  # key frames: the zoo detector
        _same(video[i], _detect(zoo, {"image": frames[i]}))
    for i, k in ((1, 0), (9, 0), (11, 10)):  # non-key frames: propagated from their key frame
        pair = {"image": frames[i], "key_image": frames[k], "key_offset": k - i}
        _same(video[i], _detect(dff, pair))
        assert not torch.equal(video[i].scores, _detect(zoo, {"image": frames[i]}).scores)


# ------------------------------------------------------------------ FPN: a stride per level
class _ConstantFlow(nn.Module):
    """A flow function returning a known constant flow on the stride-8 grid of its half-size
    input (stride 16 of the image), in pixels of that grid, and no scale field."""

    def __init__(self, flow_x: float, flow_y: float):
        super().__init__()
        self.flow = (flow_x, flow_y)

    def forward(self, key, cur):
        n, _, h, w = cur.shape
        flow = cur.new_empty(n, 2, -(-h // 8), -(-w // 8))
        flow[:, 0], flow[:, 1] = self.flow
        return flow, None


def _pad_circularly(backbone: nn.Module) -> None:
    """Pad every convolution and the stem's max pool circularly instead of with zeros.

    A test device: a convolutional network is then exactly equivariant to circular shifts by
    multiples of its strides on the whole map, borders included; with zero padding, each
    level's features near any border depend on the border, within ResNet-50's receptive field
    (hundreds of pixels: no interior is left on a CPU-sized image).
    """
    for module in backbone.modules():
        if isinstance(module, nn.Conv2d) and any(module.padding):
            (ph, pw), module.padding = module.padding, (0, 0)
            module.register_forward_pre_hook(
                lambda m, args, p=(pw, pw, ph, ph): (F.pad(args[0], p, mode="circular"),)
            )
    stem = backbone.bottom_up.stem  # conv1 -> ReLU -> 3x3 stride-2 max pool, padding 1
    stem.forward = lambda x: F.max_pool2d(F.pad(F.relu(stem.conv1(x)), (1,) * 4, "circular"), 3, 2)


def test_fpn_levels_are_warped_each_at_its_own_stride():
    """I_i is I_k moved by (-64, +64) pixels: M_{i->k} = (+64, -64) image pixels, a multiple of
    every FPN stride (4 ... 64 for P6). Given that flow on the stride-16 grid, DFF resizes it to
    each level's grid in its pixels (16 at P2 ... 1 at P6); every propagated level must equal
    the backbone's features of I_i computed directly, except the columns and rows whose source
    lies outside the key frame (W pads with zeros there)."""
    zoo, dff = _zoo_and_dff("FPN", seed=1)
    for model in (zoo, dff):
        _pad_circularly(model.backbone)
    key = _frames(1, h=192, w=256, seed=4)[0]  # multiples of 64: P6 covers the image exactly
    cur = torch.roll(key, shifts=(64, -64), dims=(1, 2))  # I_i(x, y) = I_k(x + 64, y - 64)
    dff.propagation.flow_net = _ConstantFlow(64 / 16, -64 / 16)
    with torch.no_grad():
        propagated, _ = dff.pair_features([{"image": cur, "key_image": key, "key_offset": -1}])
        direct = zoo.backbone(zoo.preprocess_image([{"image": cur}]).tensor)
        copied = zoo.backbone(zoo.preprocess_image([{"image": key}]).tensor)
    strides = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}
    assert list(propagated) == list(strides)
    for name, stride in strides.items():
        s = 64 // stride  # the shift in this level's pixels
        inside = (slice(None), slice(None), slice(s, None), slice(None, -s))
        expected = direct[name][inside]
        assert expected.numel() > 0 and propagated[name].shape == direct[name].shape
        # float32 sums in another order at other positions: 1e-4 of the features' spread
        tol = 1e-4 * expected.std().item()
        torch.testing.assert_close(propagated[name][inside], expected, rtol=0, atol=tol)
        # the key frame's own features are far off: the test sees the shift at every level
        assert (copied[name][inside] - expected).abs().max() > 100 * tol, name


def test_the_exact_motion_reaches_every_fpn_level_from_the_p2_grid(monkeypatch):
    """The Exact flow rows of an FPN model: the motion on P2's stride-4 grid, resized to each
    level, not a stride-16 motion (coarser than P2 and P3's cells) resized up."""
    video = render_vid_snippet(np.random.default_rng(3), 4, 128, 160, [0], max_speed=0.3)
    torch.manual_seed(0)
    dff = build_model(get_dff_cfg(_dff_config("FPN"), SMALL + COCO_CLASSES)).eval()
    use_exact_flow(dff, {"v": video})
    warped = []

    def spy(features, flow, scale=None, **kwargs):
        warped.append((features.shape[2:], flow))
        return warp(features, flow, scale, **kwargs)

    monkeypatch.setattr(propagation, "warp", spy)
    with torch.no_grad():
        for i in range(4):  # key frame 0 (l = 10), then frames 1-3 propagated from it
            frame = torch.from_numpy(video.frames[i][..., ::-1].copy()).permute(2, 0, 1)  # BGR
            dff([{"image": frame, "video_id": "v", "frame_idx": i, "height": 128, "width": 160}])
    assert len(warped) == 3 * 5  # P2-P6 of frames 1-3
    exact = exact_feature_flow(video, 3, 0, 4)[None]
    coarse = resize_flow(exact_feature_flow(video, 3, 0, 16)[None], (32, 40))
    assert (exact - coarse).abs().max() > 0.5  # the stride-16 motion misses P2's cells
    for size, flow in warped[-5:]:
        torch.testing.assert_close(flow, resize_flow(exact, tuple(size)))
    assert [tuple(size) for size, _ in warped[-5:]] == [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)]


# ------------------------------------------------------------------ weights: the converter
def _convert_tool():
    spec = importlib.util.spec_from_file_location("convert_weights", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_checkpoint_and_rgb_flow_weights_merge_into_a_bgr_dff_model(tmp_path):
    """``tools/convert_weights.py --base ZOO.pkl --flow FLOW.pth --bgr-to-rgb``: the zoo
    detector's weights as they are, and F computing on the model's BGR frames exactly what the
    flow weights compute on RGB frames."""
    # a narrower R50-FPN keeps the files small; the conversion does not depend on widths
    narrow = [
        *SMALL, *COCO_CLASSES, "MODEL.RESNETS.WIDTH_PER_GROUP", 16,
        "MODEL.RESNETS.RES2_OUT_CHANNELS", 64, "MODEL.FPN.OUT_CHANNELS", 64,
        "MODEL.ROI_BOX_HEAD.FC_DIM", 128,
    ]  # fmt: skip
    torch.manual_seed(0)
    zoo = build_model(_zoo_cfg("FPN", narrow))
    zoo_file = tmp_path / "model_final_zoo.pkl"  # the zoo's .pkl layout: numpy arrays
    with open(zoo_file, "wb") as f:
        state = {k: v.numpy() for k, v in zoo.state_dict().items()}
        pickle.dump({"model": state, "__author__": "Detectron2 Model Zoo"}, f)
    rgb_flow = FlowNetHalf(feat_channels=16).eval()  # RGB-trained, tools/pretrain_flow.py's file
    flow_file = tmp_path / "flow.pth"
    meta = {"flow_net": "flownet_half"}
    torch.save({"state_dict": rgb_flow.state_dict(), "meta": meta}, flow_file)

    opts = [*narrow, "MODEL.DFF.FLOW.NAME", "FlowNetHalf"]
    cfg = get_dff_cfg(_dff_config("FPN"), opts)
    tool, flows = _convert_tool(), {}
    frames = torch.stack(_frames(2, h=64, w=96, seed=5)).float()  # (2, 3, H, W) RGB
    args = ["--config", _dff_config("FPN"), "--base", str(zoo_file), "--flow", str(flow_file)]
    for flip in (True, False):  # the flag given, or derived from the layout and INPUT.FORMAT
        out = tmp_path / f"init_{flip}.pth"
        flip_flag = ["--bgr-to-rgb"] if flip else []
        tool.main([*args, *flip_flag, "--output", str(out), *map(str, opts)])
        dff = build_model(cfg).eval()
        DetectionCheckpointer(dff).load(str(out))
        state = dff.state_dict()
        for key, value in zoo.state_dict().items():
            assert torch.equal(state[key], value), key
        scale_field = dff.propagation.flow_net.scale_field  # S = 1 at the start (Sec. 3)
        assert scale_field.out_channels == 5 * 64
        assert not scale_field.weight.any() and torch.all(scale_field.bias == 1)
        # the model's input: BGR frames normalised by its BGR PIXEL_MEAN / PIXEL_STD
        bgr = (frames.flip(1) - dff.pixel_mean) / dff.pixel_std
        with torch.no_grad():
            flows[flip] = dff.propagation.flow_and_scale(bgr[:1], bgr[1:])[0]
    reference = FeaturePropagation(rgb_flow, image_std=(1.0, 1.0, 1.0))
    rgb = frames - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference.flow_and_scale(rgb[:1], rgb[1:])[0]
    assert expected.abs().max() > 0
    torch.testing.assert_close(flows[True], expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(flows[False], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="trained on RGB frames and F gets BGR frames"):
        out = str(tmp_path / "init_wrong.pth")
        tool.main([*args, "--no-bgr-to-rgb", "--output", out, *map(str, opts)])


# ------------------------------------------------------------------ Eq. 5 costs of a zoo model
def test_fpn_part_costs_count_every_level_and_each_roi():
    cfg = get_dff_cfg(_dff_config("FPN"))
    costs, rpn_head, box_head = model_zoo_part_macs(cfg, (60, 64))  # padded to 64 x 64
    sizes = [64 // s for s in (4, 8, 16, 32, 64)]  # P2 ... P6 grids
    cells = sum(n * n for n in sizes)
    assert costs.warp == 5 * 256 * cells  # 4 bilinear multiply-adds and S, on every level
    # RPN head on every level: 3x3 conv 256 -> 256, objectness (3 anchors), deltas (3 x 4)
    assert rpn_head == cells * (256 * 256 * 9 + 256 * 3 + 256 * 12)
    # per RoI: 7x7x256 -> fc 1024 -> fc 1024, then 31 scores and 30 x 4 deltas
    assert box_head == 256 * 49 * 1024 + 1024 * 1024 + 1024 * 31 + 1024 * 120
    assert costs.task_net == rpn_head + 1000 * box_head
    assert costs.scale == 194 * 1280 * 4 * 4  # S: 1x1 conv to the 5 x 256 channels, stride 16
    assert 0 < cost_ratio(costs) < 1


# ------------------------------------------- synthetic Table 4 with a wrapped zoo detector
def test_synthetic_zoo_run_starts_from_frame_with_the_flow_colours_reversed(tmp_path):
    """``table4 --config`` with the synthetic zoo FPN: the run's config is the zoo detector's,
    and ``start_from`` merges the RGB-trained flow pre-training into the BGR model reversed."""
    base = f"{CONFIGS}/Synthetic_DFF_FasterRCNN_R50_FPN.yaml"
    narrow = (  # GroupNorm's 32 groups need multiples of 32 channels
        "MODEL.RESNETS.WIDTH_PER_GROUP", 32, "MODEL.RESNETS.RES2_OUT_CHANNELS", 128,
        "MODEL.FPN.OUT_CHANNELS", 32, "MODEL.ROI_BOX_HEAD.CONV_DIM", 32,
        "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
    )  # fmt: skip
    frame_cfg = synthetic_cfg(
        str(tmp_path / "frame"), 10, opts=("MODEL.DFF.MODE", "frame", *narrow), base=base
    )
    zoo = _zoo_cfg("FPN")
    assert frame_cfg.MODEL.BACKBONE.NAME == zoo.MODEL.BACKBONE.NAME
    assert frame_cfg.MODEL.ROI_HEADS.NAME == zoo.MODEL.ROI_HEADS.NAME
    # the zoo's from-scratch variant: GroupNorm in the ResNet, the FPN and the 4conv1fc box head
    scratch = _zoo_cfg("FPN", name="Misc/scratch_mask_rcnn_R_50_FPN_3x_gn.yaml")
    for key in ("RESNETS.NORM", "FPN.NORM", "ROI_BOX_HEAD.NUM_CONV", "ROI_BOX_HEAD.NORM"):
        group, name = key.split(".")
        assert frame_cfg.MODEL[group][name] == scratch.MODEL[group][name] != zoo.MODEL[group][name]
    assert not frame_cfg.MODEL.MASK_ON
    assert frame_cfg.INPUT.FORMAT == "BGR" and frame_cfg.DATASETS.TEST == (f"{PREFIX}_vid_val",)
    opts = schedule_opts(150, finetune=True, base=base)
    assert opts[opts.index("SOLVER.BASE_LR") + 1] == pytest.approx(0.002)  # its 0.02 / 10
    frame = build_model(frame_cfg)
    (tmp_path / "frame").mkdir()
    DetectionCheckpointer(frame, save_dir=str(tmp_path / "frame")).save("model_final")
    flow = FlowNetHalf(feat_channels=7, norm="BN")
    flow_path = tmp_path / "flownet_half_synthchairs.pth"
    meta = {"flow_net": "flownet_half", "norm": "BN"}
    torch.save({"state_dict": flow.state_dict(), "meta": meta}, flow_path)
    cfg = synthetic_cfg(
        str(tmp_path / "dff"), 10, flow_weights=str(flow_path), opts=narrow, base=base
    )
    started = start_from(cfg, str(tmp_path / "frame" / "model_final.pth"), str(flow_path))
    weights = torch.load(started.MODEL.WEIGHTS, weights_only=True)["model"]
    for key, value in frame.state_dict().items():
        assert torch.equal(weights[key], value), key
    conv1 = weights["propagation.flow_net.conv1.conv.weight"]
    assert torch.equal(conv1, flow.conv1.conv.weight[:, [2, 1, 0, 5, 4, 3]])
    assert torch.equal(weights["propagation.flow_net.conv2.conv.weight"], flow.conv2.conv.weight)


def test_a_mask_model_trains_its_box_part_on_data_without_masks(caplog):
    from detectron2.structures import BitMasks

    torch.manual_seed(0)
    dff = build_model(get_dff_cfg(_dff_config("FPN"), [*SMALL, "MODEL.MASK_ON", True])).train()
    assert dff.roi_heads.mask_on
    target = Instances((128, 160))
    target.gt_boxes = Boxes(torch.tensor([[8.0, 10.0, 80.0, 90.0], [60.0, 5.0, 150.0, 100.0]]))
    target.gt_classes = torch.tensor([0, 2])
    cur, key = _frames(2, seed=2)
    pair = {"image": cur, "key_image": key, "key_offset": -3, "instances": target}
    with EventStorage(), caplog.at_level("WARNING", logger="dff_detectron2.modeling.meta_arch"):
        boxes_only = [dff([pair]) for _ in range(2)]  # VID / DET: boxes, no gt_masks
    assert all("loss_mask" not in losses and "loss_cls" in losses for losses in boxes_only)
    assert caplog.text.count("the training data have no masks (gt_masks)") == 1  # said once
    assert dff.roi_heads.mask_on  # inference still predicts masks
    masks = torch.zeros(2, 128, 160, dtype=torch.bool)
    masks[0, 10:90, 8:80] = masks[1, 5:100, 60:150] = True
    target.gt_masks = BitMasks(masks)
    with EventStorage():
        losses = dff([pair])
    assert "loss_mask" in losses and torch.isfinite(losses["loss_mask"])


def test_a_one_stage_zoo_detector_under_dffrcnn_is_refused_naming_its_meta_architecture():
    cfg = _zoo_cfg("FPN", ["MODEL.META_ARCHITECTURE", "DFFRCNN", "MODEL.DEVICE", "cpu"],
                   name=RETINANET)  # fmt: skip
    message = (
        r"DFFRCNN wraps a two-stage GeneralizedRCNN .*its heads ask for the map 'res4', which "
        r"the backbone of this config does not give \(it gives \['p3', 'p4', 'p5', 'p6', 'p7'\];"
        r".*For a one-stage RetinaNet, META_ARCHITECTURE is DFFRetinaNet"
    )
    with pytest.raises(ValueError, match=message):
        build_model(cfg)


# ------------------------------------------------------------------- one-stage: RetinaNet
def _frozen_bn_statistics_from_input(module, args) -> None:
    module.running_mean.copy_(args[0].mean((0, 2, 3)))
    module.running_var.copy_(args[0].var((0, 2, 3)))


@pytest.fixture(scope="module")
def retinanet():
    """The zoo's RetinaNet R50-FPN (calibrated random weights) and DFFRetinaNet holding them."""
    torch.manual_seed(0)
    zoo = build_model(_zoo_cfg("FPN", ["MODEL.DEVICE", "cpu"], name=RETINANET))
    assert type(zoo) is RetinaNet
    hooks = [
        m.register_forward_pre_hook(_frozen_bn_statistics_from_input)
        for m in zoo.modules()
        if isinstance(m, FrozenBatchNorm2d)
    ]
    with torch.no_grad():
        zoo.eval()([{"image": _frames(1, seed=99)[0]}])
        cls_score = zoo.head.cls_score  # its prior-probability bias scores every anchor 0.01
        cls_score.weight.normal_(0, cls_score.in_channels**-0.5)
        cls_score.bias.zero_()
    for hook in hooks:
        hook.remove()
    dff_opts = ["MODEL.DEVICE", "cpu", "MODEL.META_ARCHITECTURE", "DFFRetinaNet"]
    dff = build_model(_zoo_cfg("FPN", dff_opts, name=RETINANET))
    assert isinstance(dff, DFFRetinaNet)
    loaded = dff.load_state_dict(zoo.state_dict(), strict=False)
    assert not loaded.unexpected_keys
    assert loaded.missing_keys and all(k.startswith("propagation.") for k in loaded.missing_keys)
    assert dff.propagation_levels() == ["p3", "p4", "p5", "p6", "p7"]
    return zoo.eval(), dff.eval()


def test_retinanet_at_interval_one_and_offset_zero_is_the_zoo_detector(retinanet):
    zoo, dff = retinanet
    saved, dff.scheduler = dff.scheduler, FixedIntervalScheduler(1)
    dff.reset_videos()
    try:
        for i, frame in enumerate(_frames(2, seed=1)):
            expected = _detect(zoo, {"image": frame})
            _same(_detect(dff, {"image": frame, "video_id": "v", "frame_idx": i}), expected)
            _same(_detect(dff, {"image": frame, "key_image": frame, "key_offset": 0}), expected)
    finally:
        dff.scheduler = saved
        dff.reset_videos()


def test_retinanet_algorithm_1_runs_the_backbone_on_key_frames_only(retinanet):
    zoo, dff = retinanet
    calls = []
    hook = dff.backbone.register_forward_hook(lambda *args: calls.append(1))
    frames = _frames(11, seed=3)
    dff.reset_videos()
    try:
        video = [
            _detect(dff, {"image": f, "video_id": "v", "frame_idx": i, "num_frames": 11})
            for i, f in enumerate(frames)
        ]
    finally:
        hook.remove()
    assert len(calls) == 2  # key frames 0 and 10 (l = 10)
    for i in (0, 10):
        _same(video[i], _detect(zoo, {"image": frames[i]}))
    pair = {"image": frames[4], "key_image": frames[0], "key_offset": -4}
    _same(video[4], _detect(dff, pair))
    assert not torch.equal(video[4].scores, _detect(zoo, {"image": frames[4]}).scores)


def test_retinanet_pair_training_reaches_f_and_s(retinanet):
    _, dff = retinanet
    target = Instances((128, 160))
    target.gt_boxes = Boxes(torch.tensor([[8.0, 10.0, 80.0, 90.0], [60.0, 5.0, 150.0, 100.0]]))
    target.gt_classes = torch.tensor([0, 2])
    cur, key = _frames(2, seed=2)
    dff.train()
    dff.zero_grad()
    try:
        with EventStorage():
            losses = dff([{"image": cur, "key_image": key, "key_offset": -3, "instances": target}])
        assert set(losses) == {"loss_cls", "loss_box_reg"}
        assert all(torch.isfinite(v) and v > 0 for v in losses.values())
        sum(losses.values()).backward()
        for name, p in dff.propagation.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for {name}"
        assert dff.head.cls_score.weight.grad.abs().sum() > 0
    finally:
        dff.zero_grad()
        dff.eval()


def test_retinanet_has_no_proposals_to_count(retinanet):
    """tools/benchmark.py counts a two-stage N_task's proposals; a one-stage detector has none
    (the RoIs column reads "-") instead of failing on a missing proposal generator."""
    from dff_detectron2.inference import record_proposals

    assert record_proposals(retinanet[1]) is None


def test_retinanet_config_wraps_the_zoo_config_unchanged():
    """The shipped one-stage config: the zoo's RetinaNet R50-FPN with only the DFF, data and
    schedule keys set, F = FlowNet Half on quarter-size frames, built as DFFRetinaNet."""
    path = f"{CONFIGS}/DFF_RetinaNet_R50_FPN_FlowNetHalf.yaml"
    dff, zoo = get_dff_cfg(path), _zoo_cfg("FPN", name=RETINANET)
    assert _differences(dff, zoo) == {
        "MODEL.META_ARCHITECTURE", "MODEL.WEIGHTS", "MODEL.RETINANET.NUM_CLASSES",
        "MODEL.ROI_HEADS.NUM_CLASSES", "MODEL.DFF.FLOW.NAME", "MODEL.DFF.FLOW.INPUT_SCALE",
        "DATASETS.TRAIN", "DATASETS.TEST", "INPUT.MIN_SIZE_TRAIN", "INPUT.MAX_SIZE_TRAIN",
        "INPUT.MIN_SIZE_TEST", "INPUT.MAX_SIZE_TEST", "SOLVER.IMS_PER_BATCH", "SOLVER.STEPS",
        "SOLVER.MAX_ITER", "SOLVER.CHECKPOINT_PERIOD", "OUTPUT_DIR",
    }  # fmt: skip
    # (SOLVER.BASE_LR is not among them: the zoo's RetinaNet lr, 0.01, is Base-DFF-VID's)
    assert dff.MODEL.RETINANET.NUM_CLASSES == 30 and dff.MODEL.DFF.KEY_FRAME_INTERVAL == 10
    model = build_model(get_dff_cfg(path, ["MODEL.DEVICE", "cpu"]))
    assert isinstance(model, DFFRetinaNet)
    assert type(model.propagation.flow_net).__name__ == "FlowNetHalf"
    assert model.propagation.flow_input_scale == 0.25
    assert model.propagation_levels() == ["p3", "p4", "p5", "p6", "p7"]
