"""Build a DFF segmentor from its config with trained weights: the one path every tool uses."""

from __future__ import annotations

from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from dff_mmseg.checkpoint import load_checkpoint

__all__ = ["load_model", "save_starting_weights"]


def load_model(
    config: str | Config,
    checkpoint: str | None = None,
    device: str = "cpu",
    cfg_options: dict | None = None,
) -> nn.Module:
    """The model of ``config`` with ``checkpoint`` loaded by mmengine, in eval mode.

    Like ``mmseg.apis.init_model``: building reads no file and ``init_weights()`` is not run,
    so the initial weights of ``init_cfg`` (ImageNet, Flying Chairs) are neither read nor
    needed; the checkpoint holds every weight. ``model.cfg`` is the config and
    ``model.dataset_meta`` the checkpoint's ``meta.dataset_meta`` (if any).

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
    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = MODELS.build(cfg.model)
    model.cfg = cfg
    model.dataset_meta = None
    if checkpoint:
        loaded = load_checkpoint(model, checkpoint, complete=True)  # names a bad file
        model.dataset_meta = loaded.get("meta", {}).get("dataset_meta")
    return model.to(device).eval()


def save_starting_weights(
    config: str | Config, load_from: str, out: str, cfg_options: dict | None = None
) -> str:
    """Save the weights a training of ``config`` from ``load_from`` would start with.

    mmengine's Runner runs ``init_weights()`` (the ``init_cfg`` initial weights) and then loads
    ``load_from``; this does the same (the initial weights of parts that ``load_from`` holds
    are not read) and saves the result, e.g. *DFF separate* (Table 3): N from the Frame
    model, F from its Flying Chairs pre-training, evaluated without training.

    Args:
        config (str | Config): the model's config.
        load_from (str): a checkpoint of (part of) the model, e.g. the Frame model's.
        out (str): the file to write (``{"state_dict": ...}``, as the Runner's).
        cfg_options (dict, optional): overrides merged into the config first.

    Returns:
        str: ``out``.
    """
    import torch
    from mmseg.registry import MODELS

    from .models.pretrained import skip_initial_weights_in

    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    skip_initial_weights_in(cfg, load_from)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    model = MODELS.build(cfg.model)
    model.init_weights()
    loaded = load_checkpoint(model, load_from)
    torch.save({"state_dict": model.state_dict(), "meta": loaded.get("meta", {})}, out)
    return out
