"""Build a DFF segmentor from its config with trained weights: the one path every tool uses."""

from __future__ import annotations

from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from dff_mmseg.checkpoint import load_checkpoint

__all__ = ["load_model"]


def load_model(
    config: str | Config,
    checkpoint: str | None = None,
    device: str = "cpu",
    cfg_options: dict | None = None,
) -> nn.Module:
    """The model of ``config`` with ``checkpoint`` loaded by mmengine, in eval mode.

    Like ``mmseg.apis.init_model``: the model's initial weights (``init_cfg``) are not read,
    the checkpoint holds them all. ``model.cfg`` is the config and ``model.dataset_meta`` the
    checkpoint's ``meta.dataset_meta`` (if any).

    Args:
        config (str | Config): mmseg Python config file or a loaded config.
        checkpoint (str, optional): weights of the whole model (``iter_*.pth`` of the Runner).
        device (str): where to put the model. Defaults to "cpu".
        cfg_options (dict, optional): overrides merged into the config first.

    Returns:
        nn.Module: the model, in eval mode.
    """
    from mmseg.registry import MODELS

    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    # temporary: building the model still reads the initial weights; to go once it stops
    cfg.model.feature_net.pretrained = None
    if cfg.model.get("flow_net") and "checkpoint" in cfg.model.flow_net:
        cfg.model.flow_net.checkpoint = None
    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    model.dataset_meta = None
    if checkpoint:
        loaded = load_checkpoint(model, checkpoint)  # names the file of a bad checkpoint
        model.dataset_meta = loaded.get("meta", {}).get("dataset_meta")
    return model.to(device).eval()
