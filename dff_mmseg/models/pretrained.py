"""``init_cfg=dict(type='Pretrained', ...)`` for the DFF networks, in mmseg's way.

mmseg's own backbones that read foreign checkpoint layouts (ViT, Swin, MiT) handle their
``Pretrained`` init themselves in ``init_weights()``, converting keys on the way. The DFF
networks do the same with ``dff_common``'s converters: the feature network reads
torchvision's ImageNet ResNets, the flow networks FlowNetS checkpoints of mmflow,
FlowNetPytorch or this project. Building a model never reads a file: ``init_weights()`` does,
called by mmengine's Runner before training (not for testing, where the checkpoint of the
whole model is loaded instead).
"""

from __future__ import annotations

import copy
import os

__all__ = ["PretrainedInitMixin"]


class PretrainedInitMixin:
    """Mixin for a ``dff_common`` network registered in mmseg: accepts ``init_cfg``.

    ``init_cfg`` is None (the network's own initialisation, e.g. the scale field's ones,
    Sec. 3) or ``dict(type='Pretrained', checkpoint=FILE, **options)``; ``options`` go to
    :meth:`load_pretrained` of the class (e.g. ``layout``, ``bgr_to_rgb`` for FlowNetS).
    mmengine's ``BaseModule.init_weights`` of the parent model calls :meth:`init_weights`.
    """

    def __init__(self, *args, init_cfg: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if init_cfg is not None and (not isinstance(init_cfg, dict) or "type" not in init_cfg):
            raise TypeError(
                f"{type(self).__name__}: init_cfg must be a dict with a type, got {init_cfg!r}"
            )
        if init_cfg is not None and init_cfg["type"] != "Pretrained":
            raise ValueError(
                f"{type(self).__name__}: only init_cfg=dict(type='Pretrained', checkpoint=...) is "
                f"supported (its own initialisation is the paper's), got type {init_cfg['type']!r}"
            )
        self.init_cfg = copy.deepcopy(init_cfg)
        self.is_init = False

    def load_pretrained(self, checkpoint: str, **options) -> None:
        """Load ``checkpoint`` into this network (implemented by each class)."""
        raise NotImplementedError

    def init_weights(self) -> None:
        """Load the ``Pretrained`` checkpoint of ``init_cfg``, if any, once."""
        if self.is_init:
            return
        if self.init_cfg is not None:
            options = {k: v for k, v in self.init_cfg.items() if k not in ("type", "checkpoint")}
            checkpoint = self.init_cfg.get("checkpoint")
            if not checkpoint or not os.path.isfile(checkpoint):
                raise FileNotFoundError(
                    f"{type(self).__name__}: init_cfg=dict(type='Pretrained', checkpoint="
                    f"{checkpoint!r}): no such file. Provide it, or start from a checkpoint of "
                    "the whole model (load_from / --resume), which skips initial weights it holds"
                )
            try:
                self.load_pretrained(checkpoint, **options)
            except ValueError as err:  # name the file: the message may only name keys
                raise ValueError(
                    f"{type(self).__name__}: init_cfg checkpoint={checkpoint}: {err}"
                ) from err
        self.is_init = True


# Parts of a DFFSegmentor config -> the prefix of their weights in its state dict.
PART_PREFIXES = {
    "backbone": "backbone.",
    "neck": "neck.",
    "decode_head": "decode_head.",
    "auxiliary_head": "auxiliary_head.",
    "flow_net": "propagation.flow_net.",
}


def starting_checkpoint(cfg) -> str | None:
    """The checkpoint a Runner of ``cfg`` starts from: ``load_from``, or with ``resume`` the
    latest one of the work dir (None if there is none)."""
    from mmengine.runner import find_latest_checkpoint

    if cfg.get("load_from"):
        return cfg.load_from
    if cfg.get("resume") and cfg.get("work_dir"):
        return find_latest_checkpoint(cfg.work_dir)
    return None


def skip_initial_weights_in(cfg, checkpoint: str) -> list[str]:
    """Drop the ``Pretrained`` initial weights of the model parts that ``checkpoint`` holds.

    mmengine's Runner initialises the model (``init_weights()``) and then loads ``load_from``
    or resumes, overwriting them: an initial file that the checkpoint replaces is not needed
    (and need not exist). Parts the checkpoint lacks (e.g. the flow network when DFF starts
    from a Frame checkpoint) keep theirs.

    Args:
        cfg (Config): the full config; ``cfg.model`` is edited in place.
        checkpoint (str): the starting checkpoint.

    Returns:
        list[str]: the parts whose initial weights were dropped.
    """
    from dff_mmseg.checkpoint import read_checkpoint

    loaded = read_checkpoint(checkpoint)  # names the file if it is truncated or foreign
    keys = list(loaded.get("state_dict", loaded))
    dropped = []
    for part, prefix in PART_PREFIXES.items():
        part_cfg = cfg.model.get(part)
        holds = any(key.startswith(prefix) for key in keys)
        if holds and isinstance(part_cfg, dict) and part_cfg.get("init_cfg"):
            part_cfg.init_cfg = None
            dropped.append(part)
        if holds and part == "backbone" and cfg.model.get("pretrained"):
            cfg.model.pretrained = None
            dropped.append("pretrained")
    return dropped
