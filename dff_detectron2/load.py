"""Build a DFF config and a model with trained weights: the one path every tool uses."""

from __future__ import annotations

import os
from collections.abc import Sequence

import yaml
from detectron2 import model_zoo
from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import build_model
from torch import nn

from dff_detectron2.checkpoint.checkpointer import DFFCheckpointer
from dff_detectron2.config import add_dff_config

__all__ = ["MODEL_ZOO_PREFIX", "get_dff_cfg", "load_model"]

# ``_BASE_: "model_zoo:COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"`` in a DFF YAML: the
# image model is a config of detectron2's model zoo (as installed), wrapped unchanged.
MODEL_ZOO_PREFIX = "model_zoo:"


def _merge_dff_yaml(cfg: CfgNode, path: str) -> None:
    """``cfg.merge_from_file(path)``, where a ``_BASE_`` may be a model-zoo config or a list.

    A ``_BASE_`` of ``"model_zoo:<path>"`` is detectron2's installed model-zoo config
    ``<path>``; a relative one is merged first the same way, so a leaf (e.g. a Frame config)
    may inherit from a config that wraps a zoo config; a list of them is merged in order, so a
    DFF config composes a zoo model with a shipped video base (as mmengine's ``_base_`` lists).
    """
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    base = data.pop("_BASE_", None)
    if base is None:  # a root file: detectron2's own merge
        cfg.merge_from_file(path)
        return
    bases = [base] if isinstance(base, str) else base
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ValueError(f"{path}: _BASE_ must be a file name or a list of them, got {base!r}")
    for base in bases:
        if base.startswith(MODEL_ZOO_PREFIX):
            try:
                zoo_file = model_zoo.get_config_file(base[len(MODEL_ZOO_PREFIX) :])
            except RuntimeError as err:
                raise FileNotFoundError(f"{path}: _BASE_ {base!r}: {err}") from err
            cfg.merge_from_file(zoo_file)
        else:
            _merge_dff_yaml(cfg, os.path.join(os.path.dirname(path), os.path.expanduser(base)))
    cfg.merge_from_other_cfg(CfgNode(data))


def get_dff_cfg(config: str | CfgNode, opts: Sequence = ()) -> CfgNode:
    """A frozen detectron2 config with the DFF keys, from a YAML file (or a config) and opts.

    Args:
        config (str | CfgNode): a YAML file (``_BASE_`` chains and lists allowed; a
            ``_BASE_`` of ``"model_zoo:<path>"`` is detectron2's model-zoo config ``<path>``)
            or a config to copy.
        opts (Sequence): ``KEY VALUE`` overrides, as on detectron2's command lines.

    Returns:
        CfgNode: the frozen config.
    """
    if isinstance(config, CfgNode):
        cfg = config.clone()
        cfg.defrost()
    else:
        cfg = get_cfg()
        add_dff_config(cfg)
        _merge_dff_yaml(cfg, config)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def load_model(config: str | CfgNode, weights: str | None = None, opts: Sequence = ()) -> nn.Module:
    """The model of ``config`` with ``weights`` loaded by ``DFFCheckpointer``, in eval mode.

    Building reads no file: every weight comes from the checkpoint.

    Args:
        config (str | CfgNode): YAML file or config (see :func:`get_dff_cfg`).
        weights (str, optional): checkpoint; defaults to the config's ``MODEL.WEIGHTS``.
        opts (Sequence): ``KEY VALUE`` overrides.

    Returns:
        nn.Module: the model, on ``MODEL.DEVICE``, in eval mode.
    """
    cfg = get_dff_cfg(config, opts)
    model = build_model(cfg)
    weights = cfg.MODEL.WEIGHTS if weights is None else weights
    if weights:
        DFFCheckpointer(model, complete=True).load(weights)
    return model.eval()
