"""Every config of configs/dff_mmseg loads and builds; the Table 3 and Table 5 variants differ
from their base config exactly where the paper says (split point, frozen networks)."""

import functools
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from torch import nn

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "configs" / "dff_mmseg"
CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*.py"))
PAPER = "_8xb1-20k_cityscapes-video-1024x2048.py"
SYNTH = "_1xb2-200it_synthcity-128x256.py"
DFF = "dff_r101-flownet" + PAPER
# {algorithm}_{components}_{gpus}xb{batch}-{schedule}_{dataset}[-{crop}].py (mmseg style)
NAME = re.compile(r"[a-z0-9-]+_[a-z0-9-]+_(\d+)xb(\d+)-(\d+)(k|it)_[a-z0-9-]+\.py")

# Table 5: layers of N_task -> channels of the propagated maps (19 class scores for split 0,
# res5b's 2048 for 5, a res4 unit's 1024 for 12 and 21)
SPLITS = {0: 19, 5: 2048, 12: 1024, 21: 1024}
# Table 3 variants: (config, base config, model key, what it freezes, load_from)
FIXES = {
    "paper fix N": (
        "dff-fixn_r101-flownet" + PAPER,
        DFF,
        "fix_image_net",
        "N",
        "work_dirs/frame_r101_8xb1-20k_cityscapes-video-1024x2048/iter_20000.pth",
    ),
    "paper fix F": ("dff-fixf_r101-flownet" + PAPER, DFF, "fix_flow_net", "F", None),
    "synthetic fix N": (
        "dff-fixn_r50-flownet" + SYNTH,
        "dff-ft_r50-flownet" + SYNTH,
        "fix_image_net",
        "N",
        "work_dirs/table4_seed0/frame/iter_400.pth",
    ),
    "synthetic fix F": (
        "dff-fixf_r50-flownet" + SYNTH,
        "dff-ft_r50-flownet" + SYNTH,
        "fix_flow_net",
        "F",
        "work_dirs/table4_seed0/frame/iter_400.pth",
    ),
}


def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


@functools.cache
def summary(name: str) -> dict:
    """Build the model of a config without its pre-trained weights; what the tests check.

    Returns:
        dict: ``num_task_layers``; ``task_layers``, the convolutions of N_task; ``n_feat``,
        ``n_task`` and ``n_ids``, ids of the parameters of N_feat, N_task and N; ``N`` and
        ``F``, names of the parameters of the image network N (feature network and
        classifier) and of the flow network (with S); ``all`` and ``frozen``, names of all
        parameters and of those without gradient; ``propagated``, the channels of the scale
        field (None without a learned F).
    """
    torch.manual_seed(0)
    model = MODELS.build(load(name).model)  # no weight file is read: init_weights() is not run
    params = dict(model.named_parameters())
    scale_field = getattr(getattr(model.propagation, "flow_net", None), "scale_field", None)
    image_net = ("backbone.", "neck.", "decode_head.", "auxiliary_head.")
    return dict(
        num_task_layers=task_layers_of(load(name)),
        task_layers=sum(isinstance(m, nn.Conv2d) for m in model.n_task().modules()),
        n_feat={id(p) for p in model.n_feat().parameters()},
        n_task={id(p) for p in model.n_task().parameters()},
        n_ids={id(p) for k, p in params.items() if k.startswith(image_net)},
        N={k for k in params if k.startswith(image_net)},
        F={k for k in params if k.startswith("propagation.")},
        all=set(params),
        frozen={k for k, p in params.items() if not p.requires_grad},
        propagated=None if scale_field is None else scale_field.out_channels,
    )


def task_layers_of(cfg: Config) -> int | None:
    """Learnable weight layers of N_task by Table 5: 0 when the scores are propagated (None
    for a zoo backbone, which has no split point)."""
    return 0 if cfg.model.split == "decode_head" else cfg.model.backbone.get("num_task_layers")


def model_without(cfg: Config, *keys: str) -> dict:
    """``cfg.model`` as a dict without ``keys`` (dotted paths, e.g. ``backbone.depth``)."""
    model = cfg.model.to_dict()
    for key in keys:
        *parents, last = key.split(".")
        functools.reduce(dict.get, parents, model).pop(last, None)
    return model


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_and_builds(name):
    match = NAME.fullmatch(name)
    assert match, f"{name} does not follow mmseg's config naming"
    gpus, batch, schedule, unit = match.groups()
    cfg = load(name)
    assert cfg.model.type == "DFFSegmentor" and "dff_mmseg" in cfg.custom_imports.imports
    assert cfg.train_dataloader.batch_size == int(batch)
    assert cfg.train_cfg.max_iters == int(schedule) * (1000 if unit == "k" else 1)
    built = summary(name)
    assert built["N"] | built["F"] == built["all"]  # every parameter is in N or in F
    if cfg.model.backbone.type == "DilatedResNet":  # the paper's network, split by Table 5
        assert built["num_task_layers"] in (0, 1, 5, 12, 21)


@pytest.mark.parametrize("layers", sorted(SPLITS))
def test_split_point_configs_move_the_paper_layers_into_n_task(layers):
    name = f"dff-split{layers}_r101-flownet" + PAPER
    cfg, base = load(name), load(DFF)
    assert task_layers_of(cfg) == layers and task_layers_of(base) == 1
    split_keys = ("split", "backbone.num_task_layers")
    assert model_without(cfg, *split_keys) == model_without(base, *split_keys)
    built = summary(name)
    assert built["task_layers"] == layers  # learnable weight layers of N_task (Table 5)
    assert summary(DFF)["task_layers"] == 1  # the default: the 1x1 classifier only
    # N_feat and N_task share out N: each parameter of N in exactly one of them
    assert not built["n_feat"] & built["n_task"]
    assert built["n_feat"] | built["n_task"] == built["n_ids"]
    assert built["propagated"] == SPLITS[layers]  # S has one channel per propagated map


@pytest.mark.parametrize("variant", sorted(FIXES))
def test_fix_configs_freeze_exactly_one_network(variant):
    name, base_name, key, network, load_from = FIXES[variant]
    cfg, base = load(name), load(base_name)
    assert cfg.model[key] is True and base.model[key] is False
    assert model_without(cfg, key) == model_without(base, key)
    assert cfg.load_from == load_from
    built, reference = summary(name), summary(base_name)
    frozen = built[network]
    assert built["frozen"] == reference["frozen"] | frozen  # all of it, nothing else
    other = built["F" if network == "N" else "N"]
    assert other - built["frozen"] == other - reference["frozen"]
    assert other - built["frozen"], "the other network must still train"
