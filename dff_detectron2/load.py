"""Build a DFF config and a model with trained weights: the one path every tool uses."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.config import CfgNode, get_cfg
from detectron2.modeling import build_model
from torch import nn

from dff_detectron2.checkpoint import DFFCheckpointer
from dff_detectron2.config import add_dff_config

__all__ = ["get_dff_cfg", "load_model"]


def get_dff_cfg(config: str | CfgNode, opts: Sequence = ()) -> CfgNode:
    """A frozen detectron2 config with the DFF keys, from a YAML file (or a config) and opts.

    Args:
        config (str | CfgNode): a YAML file (``_BASE_`` chains allowed) or a config to copy.
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
        cfg.merge_from_file(config)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return cfg


def load_model(config: str | CfgNode, weights: str | None = None, opts: Sequence = ()) -> nn.Module:
    """The model of ``config`` with ``weights`` loaded by ``DFFCheckpointer``, in eval mode.

    Args:
        config (str | CfgNode): YAML file or config (see :func:`get_dff_cfg`).
        weights (str, optional): checkpoint; defaults to the config's ``MODEL.WEIGHTS``.
        opts (Sequence): ``KEY VALUE`` overrides.

    Returns:
        nn.Module: the model, on ``MODEL.DEVICE``, in eval mode.
    """
    # the checkpoint holds every weight: the initial ImageNet / Flying Chairs ones are not read
    # (temporary: building the model still reads them; to go once the builders stop reading)
    initial = ["MODEL.DFF.FEATURE.WEIGHTS", "", "MODEL.DFF.FLOW.WEIGHTS", ""]
    cfg = get_dff_cfg(config, [*opts, *initial])
    model = build_model(cfg)
    weights = cfg.MODEL.WEIGHTS if weights is None else weights
    if weights:
        DFFCheckpointer(model).load(weights)
    return model.eval()
