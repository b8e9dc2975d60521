"""Initial weights of a DFF model as one ``MODEL.WEIGHTS`` file, the detectron2 way.

detectron2 loads every weight through ``MODEL.WEIGHTS`` and its ``DetectionCheckpointer``; its
``tools/convert-torchvision-to-d2.py`` turns foreign checkpoints into that file. Here the
paper's starting points (Sec. 4: an ImageNet ResNet in torchvision's layout, a FlowNet
pre-trained on Flying Chairs in the mmflow, FlowNetPytorch or this project's layout) and,
optionally, a detectron2 checkpoint to start from (a Frame model, a model-zoo detector) are
merged into one file in the parameter names of the config's model. ``tools/convert_weights.py``
is its command line.
"""

from __future__ import annotations

import math
import os

import torch
from detectron2.modeling import build_model

from dff_common.checkpoint import load_flownets, load_torchvision_resnet
from dff_detectron2.checkpoint.checkpointer import DFFCheckpointer

__all__ = ["initial_weights", "save_weights"]

AUTHOR = "dff_detectron2.checkpoint.convert"


def _prefixed(module: torch.nn.Module, prefix: str, keep=lambda key: True) -> dict:
    return {prefix + k: v.detach().clone() for k, v in module.state_dict().items() if keep(k)}


def _base_weights(model: torch.nn.Module, path: str) -> dict:
    """The model weights of a detectron2 checkpoint (``.pth``, or a model-zoo ``.pkl``)."""
    loaded = DFFCheckpointer(model)._load_file(path)
    if loaded.get("matching_heuristics"):
        raise ValueError(
            f"{path}: a {loaded.get('__author__', 'foreign')} checkpoint needs detectron2's name "
            "matching heuristics; give a detectron2 checkpoint (trained here or from the model zoo)"
        )
    return {k: torch.as_tensor(v) for k, v in loaded["model"].items()}


def initial_weights(
    cfg,
    resnet: str | None = None,
    flow: str | None = None,
    flow_layout: str = "auto",
    bgr_to_rgb: bool | None = None,
    base: str | None = None,
) -> dict[str, torch.Tensor]:
    """The weights to start the model of ``cfg`` from, in its parameter names.

    Args:
        cfg (CfgNode): the DFF config of the model to train.
        resnet (str, optional): ImageNet ResNet-50/101 in torchvision's layout, for the
            ``DFFResNetBackbone`` (its ``fc`` dropped, ``conv_feat`` left out, Sec. 4).
        flow (str, optional): a FlowNetS checkpoint for the model's flow network (its scale
            field left out: it starts at weights 0, bias 1, Sec. 3); a warning when the test
            frames F gets are much larger than its pre-training pairs
            (:func:`~dff_common.checkpoint.check_flow_input_size`).
        flow_layout (str): ``"auto"``, ``"mmflow"``, ``"flownet_pytorch"`` or ``"dff"``.
        bgr_to_rgb (bool | None): reverse the colour channels of the flow network's first
            layer: for weights trained on BGR frames (mmflow) in a model fed RGB
            (``INPUT.FORMAT``), or weights trained on RGB in a BGR model (detectron2's model
            zoo). None (default): derived from the two; a value against them is refused.
        base (str, optional): a detectron2 checkpoint whose weights come first (e.g. a Frame
            model or a model-zoo detector); ``resnet`` and ``flow`` replace theirs.

    Returns:
        dict[str, Tensor]: the merged state dict.

    Raises:
        ValueError: when a file does not fit the model (naming it and the reason).
    """
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    weights = _base_weights(model, base) if base else {}
    if resnet:
        net = getattr(model.backbone, "net", None)
        if net is None or not hasattr(net, "body"):
            raise ValueError(
                f"{resnet}: a torchvision ResNet fits the DFFResNetBackbone only, the model has "
                f"{type(model.backbone).__name__}; start it from a detectron2 checkpoint (base)"
            )
        load_torchvision_resnet(net, resnet, prefix="body.", strict=True)
        weights.update(_prefixed(net, "backbone.net.", lambda k: k.startswith("body.")))
    if flow:
        flow_net = getattr(model.propagation, "flow_net", None)
        if flow_net is None or not hasattr(flow_net, "scale_field"):
            raise ValueError(
                f"{flow}: the model of this config has no flow network to load it into"
            )
        short_side = math.ceil(cfg.INPUT.MIN_SIZE_TEST * cfg.MODEL.DFF.FLOW.INPUT_SCALE)
        load_flownets(
            flow_net, flow, flow_layout, bgr_to_rgb=bgr_to_rgb, keep_scale_field=False,
            input_short_side=short_side, channel_order=cfg.INPUT.FORMAT,
        )  # fmt: skip
        keep = lambda k: not k.startswith("scale_field.")  # noqa: E731
        weights.update(_prefixed(flow_net, "propagation.flow_net.", keep))
    return weights


def save_weights(weights: dict, path: str, overwrite: bool = False) -> None:
    """Write ``weights`` as a detectron2 checkpoint (``{"model": ...}``) for ``MODEL.WEIGHTS``.

    Raises:
        FileExistsError: if ``path`` exists and not ``overwrite``.
    """
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save({"model": weights, "__author__": AUTHOR, "matching_heuristics": False}, path)
