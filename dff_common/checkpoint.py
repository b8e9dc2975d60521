"""Checkpoint import for the networks of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 4).

- ImageNet ResNet-50/101 weights in torchvision's layout (``conv1.weight``, ``bn1.*``,
  ``layer1.0.conv1.weight``, ...; the 1000-way ``fc`` is discarded, Sec. 4) into a
  torchvision-structured ResNet such as ``DilatedResNetFeatureNet.body``. Dilation does not
  change any weight shape. Only torchvision's layout is read: detectron2 / caffe2 ``R-50.pkl``
  style files are rejected with an error.
- FlowNetS weights (pre-trained on Flying Chairs, Sec. 4) from two public layouts into
  ``FlowNetSimple``: open-mmlab mmflow (``encoder.layers.0.layers.0.conv.weight``,
  ``decoder.decoders.level6.pred_out.weight``, ...) and ClementPinard/FlowNetPytorch
  (``conv1.0.weight``, ``deconv5.0.weight``, ``predict_flow6.weight``,
  ``upsampled_flow6_to_5.weight``, ...). The scale field is new (Sec. 3): its keys are absent
  from every FlowNet checkpoint and keep their initialisation to ones.

The weights expect the input they were trained with (another input normalisation is a common
mistake), see ``FLOWNETS_TRAINED_INPUT``; the channel order can be fixed exactly here
(``bgr_to_rgb``), the value range belongs to the propagation's input normalisation.
"""

import logging
import os
import pickle
import re
from typing import NamedTuple

import torch
from torch import nn

from dff_common.flow_nets import FLOW_DIV, FLOW_STRIDE, FLOWNET_LAYERS

__all__ = [
    "FLOWNETS_CHANNEL_ORDER",
    "FLOWNETS_LAYOUTS",
    "FLOWNETS_TRAINED_INPUT",
    "MAX_FLOW_INPUT_RATIO",
    "LoadResult",
    "check_flow_input_size",
    "convert_flownets",
    "load_flownets",
    "load_torchvision_resnet",
]

logger = logging.getLogger(__name__)

FLOWNETS_LAYOUTS = ("mmflow", "flownet_pytorch", "dff")
# the colour order of the frames each layout's weights were trained on (FLOWNETS_TRAINED_INPUT)
FLOWNETS_CHANNEL_ORDER = {"mmflow": "BGR", "flownet_pytorch": "RGB", "dff": "RGB"}
# F's input may be at most this much larger than its pre-training pairs (shorter sides)
MAX_FLOW_INPUT_RATIO = 2.0

# What the public weights of each layout were trained on (image pair order: image 1 = the
# frame the flow starts from = our current frame).
FLOWNETS_TRAINED_INPUT = {
    "mmflow": "BGR / 255, no mean subtraction (mmflow flownets configs: mean 0, std 255, "
    "to_rgb False); pass bgr_to_rgb=True to feed RGB frames",
    "flownet_pytorch": "RGB / 255 - (0.45, 0.432, 0.411); flow divided by the checkpoint's "
    "'div_flow' (20 unless recorded otherwise)",
    "dff": "this package's own FlowNetSimple checkpoints: (RGB - mean) / 255",
}

# mmflow FlowNetEncoder: encoder.layers.{level - 1}.layers.{j} -> our layer name.
_MMFLOW_ENCODER = {
    (0, 0): "conv1",
    (1, 0): "conv2",
    (2, 0): "conv3",
    (2, 1): "conv3_1",
    (3, 0): "conv4",
    (3, 1): "conv4_1",
    (4, 0): "conv5",
    (4, 1): "conv5_1",
    (5, 0): "conv6",
    (5, 1): "conv6_1",
}
_MMFLOW_NORM = {"conv": "conv", "bn": "norm"}
_BN_BOOKKEEPING = "num_batches_tracked"


class LoadResult(NamedTuple):
    """Key names left unmatched by a checkpoint import (a ``(missing, unexpected)`` tuple).

    Attributes:
        missing (list[str]): parameters/buffers of the module that the checkpoint lacks.
        unexpected (list[str]): checkpoint entries that the module does not have.
    """

    missing: list[str]
    unexpected: list[str]


def _read_checkpoint(path_or_state_dict) -> tuple[dict, dict]:
    """Read a checkpoint into ``(state_dict, extras)``.

    Files are read with ``torch.load(..., map_location="cpu", weights_only=True)``. A
    ``{"state_dict": ...}`` wrapper (mmengine/mmcv, FlowNetPytorch) is unwrapped, its other
    top-level entries (e.g. FlowNetPytorch's ``div_flow``) returned as ``extras``; non-tensor
    entries are dropped and a ``module.`` prefix (DataParallel) is stripped.

    Args:
        path_or_state_dict (str | os.PathLike | dict): a file or an in-memory checkpoint.

    Returns:
        tuple[dict[str, Tensor], dict]: ``(state_dict, extras)``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file cannot be read safely or holds no tensors.
    """
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        path = os.fspath(path_or_state_dict)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            raise ValueError(
                f"cannot read checkpoint {path} with torch.load(weights_only=True): {err}. "
                "If the file is a PyTorch checkpoint from a source you trust, load it with "
                "torch.load(path, map_location='cpu', weights_only=False) and pass the "
                "resulting dict instead of the path."
            ) from err
        source = path
    else:
        checkpoint, source = path_or_state_dict, "the given state dict"
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{source} holds a {type(checkpoint).__name__}, not a state dict")
    extras = {}
    if isinstance(checkpoint.get("state_dict"), dict):
        extras = {k: v for k, v in checkpoint.items() if k != "state_dict"}
        checkpoint = checkpoint["state_dict"]
    state_dict = {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if not state_dict:
        raise ValueError(f"{source} contains no tensors (keys: {list(checkpoint)[:8]})")
    if all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    return state_dict, extras


def _load_checked(
    module: nn.Module,
    state_dict: dict,
    source: str,
    scope: str = "",
    expected_missing: tuple[str, ...] = (),
    strict: bool = False,
) -> LoadResult:
    """Load ``state_dict`` into ``module``, reporting unmatched keys by name.

    Args:
        module (nn.Module): the target.
        state_dict (dict): entries already in the module's naming.
        source (str): what is being loaded, for messages.
        scope (str): only module keys starting with this prefix can be missing.
        expected_missing (tuple[str]): prefixes of module keys that are new and not reported.
        strict (bool): raise if a key is missing or unexpected.

    Returns:
        LoadResult: ``(missing, unexpected)`` key names.

    Raises:
        ValueError: on a shape mismatch (naming the key), or with ``strict`` on unmatched keys.
    """
    target = module.state_dict()
    for key, value in state_dict.items():
        if key in target and value.shape != target[key].shape:
            raise ValueError(
                f"{source}: shape mismatch for {key}: checkpoint {tuple(value.shape)}, "
                f"model {tuple(target[key].shape)}"
            )
    # BatchNorm's step counter is bookkeeping: absent from FrozenBatchNorm2d and from old
    # torchvision checkpoints; it is never reported.
    missing = [
        k
        for k in target
        if k.startswith(scope)
        and k not in state_dict
        and not k.endswith(_BN_BOOKKEEPING)
        and not k.startswith(expected_missing)
    ]
    unexpected = [k for k in state_dict if k not in target and not k.endswith(_BN_BOOKKEEPING)]
    if missing or unexpected:
        message = f"{source}: missing keys {missing}, unexpected keys {unexpected}"
        if strict:
            raise ValueError(message)
        logger.warning(message)
    module.load_state_dict({k: v for k, v in state_dict.items() if k in target}, strict=False)
    return LoadResult(missing, unexpected)


def load_torchvision_resnet(
    resnet_module: nn.Module, path_or_state_dict, prefix: str = "", strict: bool = False
) -> LoadResult:
    """Load ImageNet ResNet-50/101 weights in torchvision's layout (Sec. 4, feature network).

    The classifier ``fc.*`` is dropped ("the last 1000-way classification layer is
    discarded"). Works for any module whose keys are torchvision's names under ``prefix``,
    with dilated res5 and ``FrozenBatchNorm2d`` (no ``num_batches_tracked``) alike.

    Args:
        resnet_module (nn.Module): the target, e.g. a ``DilatedResNetFeatureNet``.
        path_or_state_dict (str | os.PathLike | dict): torchvision checkpoint (``.pth``).
        prefix (str): prefix of the ResNet's keys inside ``resnet_module``, e.g. ``"body."``;
            keys of the module outside it (e.g. ``conv_feat``) are not reported missing.
        strict (bool): raise on missing or unexpected keys. Defaults to False (warn).

    Returns:
        LoadResult: ``(missing, unexpected)`` key names (with ``prefix``).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the checkpoint is not in torchvision's ResNet layout, on a shape
            mismatch, or with ``strict`` on unmatched keys.
    """
    state_dict = _read_checkpoint(path_or_state_dict)[0]
    if "conv1.weight" not in state_dict or "layer1.0.conv1.weight" not in state_dict:
        raise ValueError(
            "not a torchvision ResNet state dict (expected keys conv1.weight, bn1.weight, "
            "layer1.0.conv1.weight, ...; detectron2/caffe2 .pkl layouts are not supported); "
            f"first keys: {list(state_dict)[:5]}"
        )
    state_dict = {prefix + k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    return _load_checked(
        resnet_module, state_dict, "torchvision ResNet", scope=prefix, strict=strict
    )


def _detect_flownets_layout(state_dict: dict) -> str:
    keys = list(state_dict)
    if any(k.startswith(("encoder.layers.", "decoder.decoders.")) for k in keys):
        return "mmflow"
    if "predict_flow6.weight" in state_dict or "conv1.0.weight" in state_dict:
        return "flownet_pytorch"
    if "decoder.predict_flow6.weight" in state_dict:
        return "dff"
    raise ValueError(
        f"cannot detect the FlowNetS checkpoint layout (one of {FLOWNETS_LAYOUTS}) from keys "
        f"such as {keys[:5]}"
    )


def _mmflow_name(key: str) -> str:
    match = re.fullmatch(r"encoder\.layers\.(\d)\.layers\.(\d)\.(conv|bn)\.(\w+)", key)
    if match and (int(match[1]), int(match[2])) in _MMFLOW_ENCODER:
        layer = _MMFLOW_ENCODER[int(match[1]), int(match[2])]
        return f"{layer}.{_MMFLOW_NORM[match[3]]}.{match[4]}"
    match = re.fullmatch(r"decoder\.decoders\.level(\d)\.(\w+?)(\.deconvs\.0)?\.(weight|bias)", key)
    if match:
        level, part, param = int(match[1]), match[2], match[4]
        if part == "pred_out":
            return f"decoder.predict_flow{level}.{param}"
        if part == "deconv_out":
            return f"decoder.deconv{level - 1}.conv.{param}"
        if part == "upsample_pred":
            return f"decoder.upsampled_flow{level}_to_{level - 1}.{param}"
    return key


def _flownet_pytorch_name(key: str) -> str:
    match = re.fullmatch(r"(conv\d(?:_1)?)\.([01])\.(\w+)", key)
    if match and match[1] in FLOWNET_LAYERS:
        return f"{match[1]}.{'conv' if match[2] == '0' else 'norm'}.{match[3]}"
    match = re.fullmatch(r"deconv(\d)\.0\.(weight|bias)", key)
    if match:
        return f"decoder.deconv{match[1]}.conv.{match[2]}"
    if re.fullmatch(r"(predict_flow\d|upsampled_flow\d_to_\d)\.(weight|bias)", key):
        return f"decoder.{key}"
    return key


def convert_flownets(state_dict: dict, layout: str, bgr_to_rgb: bool = False) -> dict:
    """Rename a FlowNetS state dict into ``FlowNetSimple``'s naming.

    Keys that match no rule of the layout keep their name (and will be reported as
    unexpected by ``load_flownets``). FlowNetPytorch's bias-free ``deconv*`` and
    ``predict_flow*`` layers get zero biases, which computes the same function.

    Args:
        state_dict (dict[str, Tensor]): the checkpoint's state dict.
        layout (str): ``"mmflow"``, ``"flownet_pytorch"`` or ``"dff"`` (already ours).
        bgr_to_rgb (bool): reverse the colour channels of each frame in conv1's input, for
            weights trained on BGR frames (mmflow) that will receive RGB frames.

    Returns:
        dict[str, Tensor]: the state dict in our naming (no scale-field keys).

    Raises:
        ValueError: for an unknown layout.
    """
    if layout not in FLOWNETS_LAYOUTS:
        raise ValueError(f"unknown FlowNetS layout {layout!r}; valid: {FLOWNETS_LAYOUTS}")
    rename = {"mmflow": _mmflow_name, "flownet_pytorch": _flownet_pytorch_name}.get(layout)
    converted = {rename(k) if rename else k: v for k, v in state_dict.items()}
    if layout == "flownet_pytorch":
        for key, weight in list(converted.items()):
            if re.fullmatch(r"decoder\.(deconv\d\.conv|predict_flow\d)\.weight", key):
                # ConvTranspose2d weights are (in, out, k, k), Conv2d weights (out, in, k, k).
                channels = weight.shape[1] if ".deconv" in key else weight.shape[0]
                converted.setdefault(key[: -len("weight")] + "bias", weight.new_zeros(channels))
    if bgr_to_rgb and "conv1.conv.weight" in converted:
        converted["conv1.conv.weight"] = converted["conv1.conv.weight"][:, [2, 1, 0, 5, 4, 3]]
    return converted


def check_flow_input_size(extras: dict, input_short_side: int, source: str) -> None:
    """Warn when F will get frames much larger than its pre-training pairs.

    A FlowNet does not carry over to inputs several times its training size: FlowNet Half
    pre-trained on 64x128 pairs erred by 0.2 feature cells at key distance 1 on 96x128 input
    (1.5x), 3.1 on 144x192 (2.25x) and 10 on 192x256 (3x), where zero flow errs by 0.3
    (synthetic VID; ``python tools/flow_error.py``). Hence the bound
    ``MAX_FLOW_INPUT_RATIO`` on the ratio of the shorter sides.
    The pre-training size is the ``input_size`` that ``tools/pretrain_flow.py`` records in the
    checkpoint's ``meta``; checkpoints without it are not checked.

    Args:
        extras (dict): the checkpoint's top-level entries besides the weights.
        input_short_side (int): shorter side of the frames F will get.
        source (str): the checkpoint's name, for the message.
    """
    if isinstance(input_short_side, bool) or not isinstance(input_short_side, int):
        raise ValueError(f"input_short_side must be an int, got {input_short_side!r}")
    meta = extras.get("meta")
    trained = meta.get("input_size") if isinstance(meta, dict) else None
    if not trained:
        return
    ratio = input_short_side / min(trained)
    if ratio > MAX_FLOW_INPUT_RATIO:
        logger.warning(
            "%s: F was pre-trained on %sx%s pairs and will get frames of shorter side %d "
            "(%.1fx): FlowNets fail on inputs this much larger than their training ones; "
            "pre-train F at the size it will see (tools/pretrain_flow.py --synthetic-size, "
            "--crop)",
            source,
            *trained,
            input_short_side,
            ratio,
        )


def _reverse_colours(layout: str, channel_order: str | None, bgr_to_rgb, source: str) -> bool:
    """Whether conv1's colour channels must be reversed for frames in ``channel_order``."""
    if channel_order is None:
        return bool(bgr_to_rgb)
    trained = FLOWNETS_CHANNEL_ORDER[layout]
    needed = trained != channel_order.upper()
    if bgr_to_rgb is not None and bool(bgr_to_rgb) != needed:
        fix = "reversed (--bgr-to-rgb)" if needed else "kept (no --bgr-to-rgb)"
        raise ValueError(
            f"{source}: {layout} weights were trained on {trained} frames and F gets "
            f"{channel_order.upper()} frames, so conv1's colour channels must be {fix}; leave "
            "the option out to have it derived"
        )
    return needed


def _check_norm_layers(flow_net: nn.Module, converted: dict, source: str) -> None:
    """Refuse BatchNorm weights for a flow network built without normalisation."""
    norms = sorted({k.rsplit(".", 1)[0] for k in converted if re.search(r"\.norm\.running_", k)})
    if norms and not any(".norm." in k for k in flow_net.state_dict()):
        raise ValueError(
            f"{source}: a FlowNetS checkpoint with BatchNorm after its convs ({len(norms)} norm "
            f"layers, e.g. {norms[0]}; FlowNetPytorch's flownets_bn), for a flow network built "
            "without normalisation: build it with norm 'BN' (MODEL.DFF.FLOW.NORM 'BN', or "
            "flow_net=dict(norm='BN'))"
        )


def load_flownets(
    flow_net: nn.Module,
    path_or_state_dict,
    layout: str = "auto",
    bgr_to_rgb: bool | None = False,
    strict: bool = False,
    keep_scale_field: bool = True,
    input_short_side: int | None = None,
    channel_order: str | None = None,
) -> LoadResult:
    """Load FlowNetS weights (Flying Chairs pre-training, Sec. 4) into a ``FlowNetSimple``.

    The scale-field keys are not in any FlowNet checkpoint and are not reported: the scale
    field keeps weights 0 and bias 1 (Sec. 3). With ``keep_scale_field=False`` a scale field
    stored in the checkpoint (our own "dff" layout, e.g. from ``tools/pretrain_flow.py``) is
    ignored too: the plugins start DFF training that way, since the paper adds the scale field
    anew after the flow pre-training (Sec. 3). A FlowNetPytorch checkpoint that records a
    ``div_flow`` other than 20 sets ``flow_net.flow_factor = div_flow / 8`` (with a warning),
    since the output scale belongs to the weights.

    Args:
        flow_net (nn.Module): a ``FlowNetSimple`` (norm ``None`` for non-BN checkpoints,
            ``"BN"`` for FlowNetPytorch's ``flownets_bn``).
        path_or_state_dict (str | os.PathLike | dict): checkpoint file or loaded checkpoint.
        layout (str): ``"auto"`` (detected from the keys) or one of ``FLOWNETS_LAYOUTS``.
        bgr_to_rgb (bool | None): see ``convert_flownets``; True for mmflow weights fed RGB
            frames. None: derived from ``channel_order`` and the layout's
            (``FLOWNETS_CHANNEL_ORDER``).
        strict (bool): raise on missing or unexpected keys. Defaults to False (warn).
        keep_scale_field (bool): load a scale field found in the checkpoint. Defaults to True.
        input_short_side (int, optional): the shorter side of the frames F will get (after the
            propagation's ``flow_input_scale``), checked by :func:`check_flow_input_size`.
        channel_order (str, optional): ``"RGB"`` or ``"BGR"``, the order of the frames F will
            get; a ``bgr_to_rgb`` that contradicts it and the layout's is refused.

    Returns:
        LoadResult: ``(missing, unexpected)`` key names, in our naming.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: for an undetectable layout, a shape mismatch (naming the key), a
            checkpoint with BatchNorm for a network without it, a ``bgr_to_rgb`` against
            ``channel_order``, or with ``strict`` on missing/unexpected keys.
    """
    state_dict, extras = _read_checkpoint(path_or_state_dict)
    source = (
        os.fspath(path_or_state_dict)
        if isinstance(path_or_state_dict, (str, os.PathLike))
        else "the given state dict"
    )
    if input_short_side is not None:
        check_flow_input_size(extras, input_short_side, source)
    if layout == "auto":
        layout = _detect_flownets_layout(state_dict)
    bgr_to_rgb = _reverse_colours(layout, channel_order, bgr_to_rgb, source)
    converted = convert_flownets(state_dict, layout, bgr_to_rgb=bgr_to_rgb)
    _check_norm_layers(flow_net, converted, source)
    if not keep_scale_field:
        converted = {k: v for k, v in converted.items() if not k.startswith("scale_field.")}
    result = _load_checked(
        flow_net,
        converted,
        f"FlowNetS ({layout} layout)",
        expected_missing=("scale_field.",),
        strict=strict,
    )
    div_flow = float(extras.get("div_flow", FLOW_DIV))
    if div_flow != FLOW_DIV:
        flow_net.flow_factor = div_flow / FLOW_STRIDE
        logger.warning(
            "checkpoint trained with div_flow=%s: flow_factor set to %s",
            div_flow,
            flow_net.flow_factor,
        )
    return result
