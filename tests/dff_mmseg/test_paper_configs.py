"""The Cityscapes configs carry the paper's settings (Zhu et al., CVPR 2017, Sec. 4, 5.1, 5.2).

l = 5 (model and data), training key offsets in [-4, 0], SGD lr 1e-3 for 15K then 1e-4 for
5K iterations, 1 pair per GPU, the flow network on half-size frames, the feature network on
frames of shorter side 1024, a dilated ResNet-101 with frozen BatchNorm and a 1024-channel
conv_feat, FlowNet with the scale field. Values are read from the configs as loaded by
mmengine, and where cheap also from what they build (model, dataset, transforms, scheduler).
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS
from mmseg.registry import DATASETS, MODELS, TRANSFORMS
from mmseg.structures import SegDataSample
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from dff_common.flow_nets import FlowNetSimple

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "dff_mmseg"
DFF = "dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"
# {algorithm}_r{depth}[-{flow}]_8xb1-20k_...: the paper's networks (not the wrapped zoo models)
PAPER_NAME = re.compile(r"([a-z0-9-]+)_r(50|101)(?:-([a-z-]+))?_8xb1-20k_.*\.py")
PAPER_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*.py") if PAPER_NAME.fullmatch(p.name))
# the flow component of a config name -> (flow_net.type, its Flying Chairs checkpoint name)
FLOWS = {
    "flownet": ("FlowNetSimple", "flownet"),
    "flownet-half": ("FlowNetHalf", "flownet_half"),
    "flownet-inception": ("FlowNetInception", "flownet_inception"),
    "dis": ("DISFlow", None),
}
RESIZE = dict(type="Resize", scale=(2048, 1024), keep_ratio=True)  # shorter side 1024


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def components(name: str) -> tuple[str, int, str | None]:
    """(algorithm, ResNet depth, (flow_net type, checkpoint name)) from
    ``{algo}_r{depth}[-{flow}]_...``."""
    match = PAPER_NAME.fullmatch(name)
    assert match, name
    algorithm, depth, flow = match.groups()
    return algorithm, int(depth), FLOWS[flow] if flow else None


def datasets(cfg: Config) -> dict:
    return {
        "train": cfg.train_dataloader.dataset,
        "val": cfg.val_dataloader.dataset,
        "test": cfg.test_dataloader.dataset,
    }


@pytest.fixture(scope="module")
def dff_model():
    """The paper model of the DFF config, built (which reads none of its absent initial files)."""
    torch.manual_seed(0)
    return MODELS.build(load(DFF).model)


def test_paper_config_model_settings():
    model = load(DFF).model
    assert model.interval == 5  # l on Cityscapes (Sec. 5.2)
    assert model.decode_head.num_classes == 19
    backbone = model.backbone
    assert backbone.type == "DilatedResNet" and backbone.depth == 101  # ResNet-101 (Sec. 4)
    assert backbone.out_channels == 1024  # conv_feat, 1024 channels (Sec. 4)
    assert backbone.norm == "FrozenBN"
    assert backbone.frozen_stages == 2  # conv1 and res2, as in the original code
    # ImageNet (Sec. 4), read by init_weights() when training starts
    assert backbone.init_cfg == dict(
        type="Pretrained", checkpoint="checkpoints/resnet101-63fe2227.pth"
    )
    assert backbone.num_task_layers == 1 and model.split == "neck"  # N_task: the 1x1 classifier
    head = model.decode_head  # one 1x1 conv: FCNHead without convs, no dropout (Sec. 4)
    assert head.type == "FCNHead" and head.num_convs == 0 and head.concat_input is False
    assert head.dropout_ratio == 0 and head.in_channels == head.channels == 1024
    assert model.flow_net.type == "FlowNetSimple"  # FlowNet (Table 6), pre-trained on Flying Chairs
    assert model.flow_net.init_cfg == dict(
        type="Pretrained", checkpoint="checkpoints/flownet_flyingchairs_dff.pth"
    )
    assert model.flow_net.get("norm") is None  # the paper's FlowNet has no BatchNorm
    assert model.flow_net.flow_factor == 2.5  # 20 / 8 (Sec. 4)
    assert model.flow_input_scale == 0.5  # F on half-size frames (Sec. 4, 5.1)
    assert model.use_scale is True  # the scale field S of Eq. 3
    assert model.fix_image_net is False and model.fix_flow_net is False  # joint training
    assert model.test_cfg.protocol == "pairs"  # the Sec. 5.2 protocol
    assert model.data_preprocessor.size == (1024, 2048)


def test_paper_config_builds_the_paper_networks(dff_model):
    net = dff_model.backbone
    assert [len(getattr(net.body, f"layer{i}")) for i in (1, 2, 3, 4)] == [3, 4, 23, 3]
    norms = [
        m for m in net.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm))
    ]
    assert not norms and any(isinstance(m, FrozenBatchNorm2d) for m in net.modules())
    frozen = {k.split(".")[1] for k, p in net.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1", "layer1"}  # frozen_stages=2: conv1 and res2 only (body.*)
    trained = {k.rsplit(".", 1)[0] for k, p in net.named_parameters() if p.requires_grad}
    assert {"body.layer2.0.conv1", "body.layer4.2.conv3", "conv_feat"} <= trained
    assert net.conv_feat.out_channels == 1024 and net.conv_feat.dilation == (6, 6)
    conv_seg = dff_model.decode_head.conv_seg
    assert (
        conv_seg.in_channels == 1024
        and conv_seg.out_channels == 19
        and conv_seg.kernel_size == (1, 1)
    )
    assert isinstance(dff_model.decode_head.convs, nn.Identity)
    propagation = dff_model.propagation
    flow_net = propagation.flow_net
    assert isinstance(flow_net, FlowNetSimple) and flow_net.conv1.conv.out_channels == 64  # full
    assert flow_net.conv6_1.conv.out_channels == 1024
    assert propagation.use_scale and flow_net.scale_field.out_channels == 1024
    assert propagation.flow_input_scale == 0.5
    assert dff_model.interval == 5
    # a 1024x2048 frame reaches F as 512x1024 (shorter side 512, Sec. 5.1)
    assert propagation._flow_input(torch.zeros(1, 3, 1024, 2048)).shape == (1, 3, 512, 1024)


def test_paper_model_feeds_the_flow_network_half_size_frames(dff_model):
    seen = []
    handle = dff_model.propagation.flow_net.register_forward_hook(
        lambda module, args, out: seen.append((args[0].shape, out[0].shape, out[1].shape))
    )
    samples = [SegDataSample(metainfo=dict(key_distance=3, img_shape=(64, 128)))]
    pair = torch.randn(1, 6, 64, 128, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            scores = dff_model.eval()._forward(pair, samples)
    finally:
        handle.remove()
    # frames 32x64 into F; flow and scale on the stride-16 feature grid of the 64x128 frame
    assert seen == [((1, 3, 32, 64), (1, 2, 4, 8), (1, 1024, 4, 8))]
    assert scores.shape == (1, 19, 4, 8)


def test_paper_config_data_settings(synthetic_root):
    cfg = load(DFF)
    for split, dataset in datasets(cfg).items():
        assert dataset.interval == 5, split  # l = 5 for the data too (Sec. 5.2)
        assert dataset.get("key_distances") is None, split  # all l pairs (Sec. 5.2)
    assert cfg.train_dataloader.batch_size == 1  # one pair per GPU, 8 GPUs (Sec. 5.1)
    assert cfg.train_dataloader.sampler.shuffle is True
    # shorter side 1024 for N_feat (Sec. 5.1): one fixed resize, no scale jitter or crop
    train_pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t["type"] for t in train_pipeline] == [
        "LoadVideoFrames",
        "Resize",
        "RandomFlip",
        "PackSegInputs",
    ]
    assert train_pipeline[1] == RESIZE
    test_pipeline = cfg.test_dataloader.dataset.pipeline
    assert [t["type"] for t in test_pipeline] == ["LoadVideoFrames", "Resize", "PackSegInputs"]
    assert test_pipeline[1] == RESIZE and cfg.val_dataloader.dataset.pipeline == test_pipeline
    resize = TRANSFORMS.build(train_pipeline[1])
    for size in ((1024, 2048), (512, 1024), (2048, 4096)):  # Cityscapes frames are 1024x2048
        out = resize(dict(img=np.zeros((*size, 6), np.uint8), img_shape=size, ori_shape=size))
        assert out["img_shape"] == (1024, 2048) and out["img"].shape == (1024, 2048, 6), size
    # training key frames: offsets k - i uniform in [-4, 0] (Sec. 3 / 5.1)
    train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(synthetic_root)))
    offsets = {-train.get_data_info(0)["key_distance"] for _ in range(80)}
    assert offsets == {-4, -3, -2, -1, 0}
    val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(synthetic_root)))
    assert [val.get_data_info(j)["key_distance"] for j in range(5)] == [4, 3, 2, 1, 0]


@pytest.mark.filterwarnings("ignore:Detected call of `scheduler.step\\(\\)`")
def test_paper_config_schedule():
    cfg = load(DFF)
    assert cfg.optim_wrapper.optimizer.type == "SGD" and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.type == "IterBasedTrainLoop" and cfg.train_cfg.max_iters == 20000
    # the learning rate of each of the 20K iterations, from the configured scheduler
    optim_wrapper = build_optim_wrapper(nn.Linear(1, 1), cfg.optim_wrapper)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optim_wrapper)) for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(optim_wrapper.get_lr()["lr"][0])
        for scheduler in schedulers:
            scheduler.step()
    assert lrs[:15000] == [1e-3] * 15000
    assert lrs[15000:] == pytest.approx([1e-4] * 5000, rel=1e-9)


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_every_cityscapes_config_keeps_the_paper_settings(name):
    algorithm, depth, flow = components(name)
    cfg = load(name)
    model, reference = cfg.model, load(DFF)
    # the shared settings: schedule, batch, resolution, feature network
    assert cfg.optim_wrapper == reference.optim_wrapper
    assert cfg.param_scheduler == reference.param_scheduler
    assert cfg.train_cfg.max_iters == 20000 and cfg.train_dataloader.batch_size == 1
    assert cfg.train_dataloader.dataset.pipeline[1] == RESIZE
    assert cfg.test_dataloader.dataset.pipeline[1] == RESIZE
    assert model.data_preprocessor.size == (1024, 2048)
    backbone = model.backbone
    assert backbone.depth == depth
    checkpoint = {
        50: "checkpoints/resnet50-0676ba61.pth",
        101: "checkpoints/resnet101-63fe2227.pth",
    }
    assert backbone.init_cfg == dict(type="Pretrained", checkpoint=checkpoint[depth])
    assert backbone.out_channels == 1024
    assert backbone.norm == "FrozenBN" and backbone.frozen_stages == 2
    assert model.flow_input_scale == 0.5 and model.use_scale is True
    # l: 5 with a flow (DFF, SFF), 1 for the per-frame baseline, in the model and the data
    interval = 1 if algorithm == "frame" else 5
    assert model.interval == interval
    for split, dataset in datasets(cfg).items():
        assert dataset.interval == interval, split
    if flow is None:
        assert model.flow_net is None
    else:
        flow_type, flow_file = flow
        assert model.flow_net.type == flow_type
        if flow_file:  # learned flow networks start from Flying Chairs weights
            assert model.flow_net.init_cfg == dict(
                type="Pretrained", checkpoint=f"checkpoints/{flow_file}_flyingchairs_dff.pth"
            )
