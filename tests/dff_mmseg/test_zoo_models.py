"""mmseg zoo models made DFF video models (Sec. 3: any image network split into N_feat, N_task).

Each ``configs/dff_mmseg/dff_<zoo model>-flownet_*`` config takes an unchanged mmseg 1.2.2 zoo
config (FCN, PSPNet, DeepLabV3+ R-50-D8, Semantic FPN R-50, SegFormer MiT-B0; Cityscapes) as
its base. Built from them on CPU with random weights (no file is read), on 64x128 frames: at
key distance 0 the DFF model is the zoo image model exactly; a pair step trains F and every
channel of S; Algorithm 1 runs N_feat on key frames only; each propagated level is warped at
its own stride, against the features of the moved image computed directly.
"""

import copy
import functools
from pathlib import Path

import mmseg
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import CheckpointLoader
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

from dff_mmseg.train import build_config

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "configs" / "dff_mmseg"
ZOO_DIR = Path(mmseg.__file__).parent / ".mim" / "configs"
VIDEO = "-flownet_8xb1-20k_cityscapes-video-"
# DFF config -> the zoo config it wraps (its `_base_`, mmseg::<path>)
ZOO = {
    f"dff_fcn-r50-d8{VIDEO}512x1024.py": "fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py",
    f"dff_pspnet-r50-d8{VIDEO}512x1024.py": "pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py",
    f"dff_deeplabv3plus-r50-d8{VIDEO}512x1024.py": (
        "deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py"
    ),
    f"dff_fpn-r50{VIDEO}512x1024.py": "sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py",
    f"dff_segformer-mit-b0{VIDEO}1024x1024.py": (
        "segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py"
    ),
    # composed from the zoo's model file and the shipped video data: nothing copied
    f"dff_deeplabv3-r50-d8{VIDEO}1024x2048.py": (
        "deeplabv3/deeplabv3_r50-d8_4xb2-40k_cityscapes-512x1024.py"
    ),
}
COMPOSED = {f"dff_deeplabv3-r50-d8{VIDEO}1024x2048.py"}  # full frames: no crop size
CONFIGS = sorted(ZOO)
# N_feat's levels that the heads read (propagated), those of them only the auxiliary head
# reads, and their channels
LEVELS = {
    "fcn": ((2, 3), (2,), (1024, 2048)),  # FCN head on level 3, auxiliary FCN head on level 2
    "pspnet": ((2, 3), (2,), (1024, 2048)),
    "deeplabv3": ((2, 3), (2,), (1024, 2048)),  # ASPP head on level 3, auxiliary on level 2
    "deeplabv3plus": ((0, 2, 3), (2,), (256, 1024, 2048)),  # the decoder reads level 0 too
    "fpn": ((0, 1, 2, 3), (), (256,) * 4),  # the FPN's 4 outputs
    "segformer": ((0, 1, 2, 3), (), (32, 64, 160, 256)),  # the Mix Transformer's 4 stages
}
H, W = 64, 128
NUM_CLASSES = 19


def short(name: str) -> str:
    return name.split("_")[1].split("-")[0]


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def load_zoo(name: str) -> Config:
    return Config.fromfile(str(ZOO_DIR / ZOO[name]))


def randomize_norms(model: nn.Module) -> None:
    """BatchNorm statistics and affine weights away from the identity (so that train / eval
    mode or a skipped layer would show)."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


@functools.cache
def zoo_and_dff(name: str):
    """The zoo image model (from the unchanged zoo config) and the DFF model of ``name`` with
    its weights, both in eval mode."""
    torch.manual_seed(0)
    zoo = MODELS.build(load_zoo(name).model)
    randomize_norms(zoo)
    dff = MODELS.build(load(name).model)
    missing, unexpected = dff.load_state_dict(zoo.state_dict(), strict=False)
    # the image checkpoint loads; it lacks F (+ S), and the mean and std of the video data
    # preprocessor (from the config; mmseg's own preprocessor does not save them)
    assert not unexpected
    not_flow = {key for key in missing if not key.startswith("propagation.flow_net.")}
    assert not_flow == {"data_preprocessor.mean", "data_preprocessor.std"}
    return zoo.eval(), dff.eval()


def frames(n: int, num_frames: int = 2, seed: int = 1) -> torch.Tensor:
    """``(n, 3 * num_frames, H, W)`` normalised frames."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3 * num_frames, H, W, generator=gen)


def samples(distances, labels: bool = False) -> list[SegDataSample]:
    out = []
    for j, distance in enumerate(distances):
        meta = dict(key_distance=distance, img_shape=(H, W), ori_shape=(H, W), video_id=j)
        sample = SegDataSample(metainfo=meta)
        if labels:
            gen = torch.Generator().manual_seed(j)
            sample.gt_sem_seg = PixelData(
                data=torch.randint(0, NUM_CLASSES, (1, H, W), generator=gen)
            )
        out.append(sample)
    return out


@pytest.mark.parametrize("name", CONFIGS)
def test_config_keeps_the_zoo_model_and_sets_only_dff(name):
    cfg, zoo = load(name).model, load_zoo(name).model
    for part in ("backbone", "neck", "decode_head", "auxiliary_head", "pretrained", "train_cfg"):
        assert cfg.get(part) == zoo.get(part), part  # untouched
    assert zoo.type == "EncoderDecoder" and cfg.type == "DFFSegmentor"
    expected = dict(zoo.data_preprocessor, type="VideoSegDataPreProcessor")
    if name in COMPOSED:
        expected.pop("size")  # the zoo's 512x1024 training crop
    assert cfg.data_preprocessor == expected
    assert cfg.test_cfg == dict(zoo.test_cfg, protocol="pairs")
    assert cfg.flow_net.type == "FlowNetSimple" and cfg.split == "neck" and cfg.interval == 5
    model = zoo_and_dff(name)[1]
    levels, auxiliary, channels = LEVELS[short(name)]
    assert model.propagated_levels == levels and model.auxiliary_levels == auxiliary
    assert model.propagation.level_channels == channels
    assert model.propagation.flow_net.scale_field.out_channels == sum(channels)  # S (Eq. 3)
    image = torch.zeros(1, 3, H, W)
    with torch.no_grad():
        training, testing = model.n_feat(auxiliary=True)(image), model.n_feat()(image)
    assert tuple(level.shape[1] for level in training) == channels
    # at test time the levels only the auxiliary head reads are not computed on
    assert [level is None for level in testing] == [i in auxiliary for i in levels]


@pytest.mark.parametrize("name", CONFIGS)
def test_key_distance_zero_is_the_zoo_image_model_exactly(name):
    zoo, dff = zoo_and_dff(name)
    images = frames(2, num_frames=1)
    with torch.no_grad():
        ours = dff.predict(torch.cat([images, images], 1), samples([0, 0]))
        theirs = zoo.predict(images, samples([0, 0]))
    for a, b in zip(ours, theirs):
        assert a.seg_logits.data.shape == (NUM_CLASSES, H, W)
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)


@pytest.mark.parametrize("name", CONFIGS)
def test_pair_training_step_reaches_every_parameter_of_f_and_s(name):
    model = copy.deepcopy(zoo_and_dff(name)[1]).train()  # train mode updates BN statistics
    losses = model.loss(frames(2), samples([1, 4], labels=True))  # key distances > 0
    assert "decode.loss_ce" in losses
    assert ("aux.loss_ce" in losses) == model.with_auxiliary_head
    sum(v for k, v in losses.items() if "loss" in k).backward()
    flow_net = model.propagation.flow_net
    for param_name, param in flow_net.named_parameters():
        assert param.grad is not None, f"No gradient for {param_name}"
        assert param.grad.abs().sum() > 0, f"Zero gradient for {param_name}"
    # every channel of S scales a propagated level that a loss reads (auxiliary ones included)
    per_channel = flow_net.scale_field.weight.grad.flatten(1).abs().sum(1)
    assert per_channel.shape == (sum(model.propagation.level_channels),)
    assert (per_channel > 0).all()
    n_feat = {id(p) for p in model.n_feat().parameters()}
    for param_name, param in model.named_parameters():
        if id(param) in n_feat:  # N_feat learns through the warp
            assert param.grad is not None, f"No gradient for {param_name}"


@pytest.mark.parametrize("name", CONFIGS)
def test_stream_protocol_runs_n_feat_on_key_frames_only(name):
    cfg = load(name)
    cfg.model.test_cfg.protocol = "stream"
    torch.manual_seed(0)
    stream_model = MODELS.build(cfg.model).eval()
    pairs_model = zoo_and_dff(name)[1]
    stream_model.load_state_dict(pairs_model.state_dict())
    backbone_calls, flow_calls = [], []
    stream_model.backbone.register_forward_hook(lambda m, args, out: backbone_calls.append(1))
    stream_model.propagation.flow_net.register_forward_hook(
        lambda m, args, out: flow_calls.append(args[0].shape[0])
    )
    clip = frames(1, num_frames=12)  # frames 0..11: key frames 0, 5, 10 (l = 5)
    data_samples = samples([None])
    with torch.no_grad():
        (result,) = stream_model.predict(clip, data_samples)
    assert len(backbone_calls) == 3  # N_feat on the 3 key frames only (Algorithm 1)
    assert sum(flow_calls) == 9  # F on the other frames
    assert result.key_distance == 1 and result.seg_logits.data.shape == (NUM_CLASSES, H, W)
    # frame 11 = the pair (frame 10, frame 11) at key distance 1 through the pairs protocol
    with torch.no_grad():
        (pair_result,) = pairs_model.predict(clip[:, 30:], samples([1]))
    torch.testing.assert_close(result.seg_logits.data, pair_result.seg_logits.data)


class ConstantFlow(nn.Module):
    """F giving the true flow of a horizontal shift: ``dx`` pixels of its grid (stride 8 of
    its half-size input = stride 16 of the frames), no scale field."""

    def __init__(self, dx: float):
        super().__init__()
        self.dx = dx

    def forward(self, key: torch.Tensor, cur: torch.Tensor):
        n, _, h, w = cur.shape
        flow = cur.new_zeros(n, 2, -(-h // 8), -(-w // 8))
        flow[:, 0] = self.dx
        return flow, None


# (zoo model, tolerance): the mean absolute error inside the border margin relative to the mean
# absolute feature. A CNN (FPN) is translation-equivariant away from the borders up to its
# receptive field's tails; the Mix Transformer's attention is global, so the content entering
# and leaving at the borders changes every position a little.
MULTI_LEVEL = {"fpn": 0.01, "segformer": 0.1}


@pytest.mark.parametrize("model_name", sorted(MULTI_LEVEL))
def test_each_level_is_warped_with_its_own_stride(model_name):
    (name,) = [n for n in CONFIGS if short(n) == model_name]
    cfg = load(name)
    cfg.model.flow_net = dict(type="ZeroFlow")  # replaced by the true flow below
    model = MODELS.build(cfg.model).eval()  # the zoo's initialisation
    shift, margin, height, width = 32, 64, 256, 512  # pixels; shift: the largest stride
    model.propagation.flow_net = ConstantFlow(-shift / 16)  # current -> key: -32 px
    gen = torch.Generator().manual_seed(0)
    size = (height, width + shift)  # texture at the scales of 32 and 8 pixels, and noise
    canvas = 0.3 * torch.randn(1, 3, *size, generator=gen)
    for cell in (32, 8):
        cells = torch.randn(1, 3, height // cell, (width + shift) // cell, generator=gen)
        canvas = canvas + F.interpolate(cells, size=size, mode="bilinear")
    key, cur = canvas[..., shift:], canvas[..., :width]  # cur(x) = key(x - 32)
    metas = [dict(key_distance=1)]
    with torch.no_grad():
        propagated = model.current_features(torch.cat([key, cur], 1), metas)
        direct = model.n_feat()(cur)  # the reference: N_feat on the current frame itself
        copied = model.n_feat()(key)
    strides = []
    for ours, reference, key_level in zip(propagated, direct, copied):
        stride = height // reference.shape[2]
        strides.append(stride)
        m = margin // stride  # away from the borders, and from the entering content (left)
        inner = (..., slice(m, -m), slice(m + shift // stride, -m))
        # the features' spatial variation: mean absolute deviation from each channel's mean
        scale = (reference - reference.mean((2, 3), keepdim=True))[inner].abs().mean()
        error = (ours[inner] - reference[inner]).abs().mean() / scale
        copy_error = (key_level[inner] - reference[inner]).abs().mean() / scale
        tolerance = MULTI_LEVEL[model_name]
        assert error < tolerance, f"stride {stride}: error {error:.4f}"
        # the test can fail: the unmoved key-frame features are 10 tolerances off or more
        assert copy_error > 10 * tolerance, f"stride {stride}: {copy_error:.4f}"
    assert strides == [4, 8, 16, 32]


@pytest.mark.parametrize("name", CONFIGS)
def test_training_from_the_zoo_checkpoint_reads_no_initial_weights(name, tmp_path, monkeypatch):
    zoo, _ = zoo_and_dff(name)
    checkpoint = tmp_path / "zoo.pth"  # N's weights (a few tensors of each part)
    state = zoo.state_dict()
    kept = {}
    for key, value in state.items():
        part = key.split(".")[0]
        if sum(k.startswith(part + ".") for k in kept) < 4:
            kept[key] = value
    torch.save({"state_dict": kept, "meta": {}}, checkpoint)
    flow_file = "checkpoints/flownet_flyingchairs_dff.pth"
    cfg = build_config(str(CONFIG_DIR / name), cfg_options={"load_from": str(checkpoint)})
    assert cfg.model.get("pretrained") is None  # the zoo's open-mmlab:// ImageNet ResNet
    assert cfg.model.backbone.get("init_cfg") is None  # the zoo's MiT ImageNet URL
    assert cfg.model.flow_net.init_cfg == dict(type="Pretrained", checkpoint=flow_file)  # F stays

    def refuse(*args, **kwargs):
        raise AssertionError(f"a checkpoint was read: {args}")

    monkeypatch.setattr(CheckpointLoader, "load_checkpoint", classmethod(refuse))
    cfg.model.flow_net.init_cfg = None  # the one initial file the zoo checkpoint lacks
    model = MODELS.build(cfg.model)  # building reads nothing
    model.init_weights()  # nor does mmengine's initialisation before load_from


OCRNET = "ocrnet/ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py"


def test_a_cascade_zoo_model_wraps_as_dff():
    # OCRNet: a CascadeEncoderDecoder whose OCR head refines the FCN head's scores
    zoo_cfg = Config.fromfile(str(ZOO_DIR / OCRNET)).model
    assert zoo_cfg.type == "CascadeEncoderDecoder" and zoo_cfg.num_stages == 2
    dff_cfg = copy.deepcopy(zoo_cfg)
    dff_cfg.update(
        type="DFFSegmentor",
        data_preprocessor=dict(zoo_cfg.data_preprocessor, type="VideoSegDataPreProcessor"),
        flow_net=dict(type="FlowNetHalf"),
        test_cfg=dict(zoo_cfg.test_cfg, protocol="pairs"),
    )
    three_stages = dict(copy.deepcopy(dff_cfg), num_stages=3)  # (building fills `pretrained` in)
    torch.manual_seed(0)
    zoo = MODELS.build(zoo_cfg)
    randomize_norms(zoo)
    dff = MODELS.build(dff_cfg)
    missing, unexpected = dff.load_state_dict(zoo.state_dict(), strict=False)  # its checkpoint
    assert not unexpected
    not_flow = {key for key in missing if not key.startswith("propagation.flow_net.")}
    assert not_flow == {"data_preprocessor.mean", "data_preprocessor.std"}
    assert dff.propagated_levels == (0, 1, 2, 3)  # the heads read HRNet's 4 branches
    images = frames(2, num_frames=1)
    with torch.no_grad():
        ours = dff.eval().predict(torch.cat([images, images], 1), samples([0, 0]))
        theirs = zoo.eval().predict(images, samples([0, 0]))
    for a, b in zip(ours, theirs):  # key distance 0 is the zoo image model exactly
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)
    losses = dff.train().loss(frames(2), samples([1, 4], labels=True))
    assert {"decode_0.loss_ce", "decode_1.loss_ce"} <= set(losses)  # one per stage, as mmseg
    sum(v for k, v in losses.items() if "loss" in k).backward()
    for name, param in dff.propagation.flow_net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"no gradient for {name}"
    with pytest.raises(ValueError, match=r"num_stages=3 .* needs a list of 3 decode_head configs"):
        MODELS.build(three_stages)
