"""The synthetic configs seed every run: the same config trains the same DFF segmentor."""

import random
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "dff_mmseg"
DFF = CONFIGS / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"


def test_every_synthetic_config_has_a_fixed_seed_and_deterministic_algorithms():
    synthetic = sorted(CONFIGS.glob("*synthcity*.py"))
    assert len(synthetic) >= 9
    for path in synthetic:
        assert Config.fromfile(path).randomness == dict(seed=0, deterministic=True), path.name


def _train(tmp_path: Path, data_root: Path, name: str, **options) -> dict:
    """Two iterations of a tiny variant of the synthetic DFF config (pairs, random resize,
    crop and flip), after moving every generator on by a different amount."""
    for _ in range(len(name)):
        random.random(), np.random.rand(), torch.rand(1)
    cfg = Config.fromfile(DFF)
    cfg.merge_from_dict(
        {
            "model.data_preprocessor.size": (32, 64),
            "model.backbone.out_channels": 8,
            "model.decode_head.in_channels": 8,
            "model.decode_head.channels": 8,
            "model.flow_net": dict(type="FlowNetHalf", norm=None, init_cfg=None),
            "train_dataloader.batch_size": 1,
            "train_dataloader.dataset.data_root": str(data_root),
            "train_dataloader.dataset.pipeline.1.scale": (64, 32),
            "train_dataloader.dataset.pipeline.2.crop_size": (32, 64),
            "train_cfg.max_iters": 2,
            "default_hooks.checkpoint.interval": 2,
            "work_dir": str(tmp_path / name),
            "val_dataloader": None,  # training only
            "val_cfg": None,
            "val_evaluator": None,
            **options,
        }
    )
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_a_shortened_run_twice_gives_identical_weights(synthetic_root, tmp_path):
    first = _train(tmp_path, synthetic_root, "a")
    second = _train(tmp_path, synthetic_root, "bb")
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    other = _train(tmp_path, synthetic_root, "ccc", **{"randomness.seed": 1})
    assert not torch.equal(
        other["decode_head.conv_seg.weight"], first["decode_head.conv_seg.weight"]
    )
