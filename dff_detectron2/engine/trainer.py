"""DFF training and evaluation with detectron2's ``DefaultTrainer``.

:class:`Trainer` builds the pair loader, the video test loader, the VID evaluator and the
checkpointer; :func:`train_or_evaluate` is one process's work for
:func:`dff_detectron2.engine.launch` (``--num-gpus N``: one CUDA device each, or N CPU
processes over gloo without CUDA); :func:`argument_parser` gives detectron2's flags.
"""

import os
import weakref

import torch
import yaml
from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

import dff_detectron2.data.datasets  # noqa: F401  (ImageNet VID / DET / synthetic datasets)
from dff_common.checkpoint_files import check_output_dir
from dff_common.reproducibility import random_states, set_random_states
from dff_detectron2.checkpoint.checkpointer import DFFCheckpointer
from dff_detectron2.data.data_loader import (
    MixedSourceBatches,
    build_dff_test_loader,
    build_dff_train_loader,
)
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.evaluation.evaluator import VIDEvaluator
from dff_detectron2.load import get_dff_cfg

__all__ = ["Trainer", "argument_parser", "check_output_dir_of", "setup", "train_or_evaluate"]

CHECKPOINTS = ("model_*.pth", "last_checkpoint")  # what detectron2's checkpointer writes


class Trainer(DefaultTrainer):
    """``DefaultTrainer`` with DFF's pair data, VID+DET mixing, the VID evaluator and
    :class:`~dff_detectron2.checkpoint.checkpointer.DFFCheckpointer` (atomic saves, checked
    loads)."""

    def build_hooks(self) -> list:
        """detectron2's hooks, the checkpointer swapped for a ``DFFCheckpointer`` first."""
        self.checkpointer = DFFCheckpointer(
            self.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self)
        )
        return super().build_hooks()

    def state_dict(self) -> dict:
        """Also checkpoint the optimizer (its momentum), which detectron2 0.6 omits, and the
        random generators of this process, so that a resumed run continues exactly."""
        return {
            **super().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": random_states(),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if "optimizer" in state_dict:
            self.optimizer.load_state_dict(state_dict["optimizer"])
        self._resumed_rng = state_dict.get("rng")

    def resume_or_load(self, resume: bool = True) -> None:
        """detectron2's ``resume_or_load``; a resumed run then continues the pair stream at
        its next batch and the random generators where the checkpoint left them."""
        self._resumed_rng = None
        super().resume_or_load(resume=resume)
        if not self.start_iter:
            return
        loader = self._trainer.data_loader
        if isinstance(getattr(loader, "dataset", None), MixedSourceBatches):
            loader.dataset.start_batch = self.start_iter
            self._trainer._data_loader_iter = iter(loader)  # new workers from that batch
        if self._resumed_rng is not None:  # after iter(): it draws from torch's generator
            set_random_states(self._resumed_rng)

    @classmethod
    def build_optimizer(cls, cfg, model):
        """detectron2's SGD (``build_optimizer``), with the lr of the flow network F scaled by
        ``MODEL.DFF.FLOW.LR_FACTOR`` and that of its scale field S (``scale_field``
        parameters) by ``SCALE_LR_FACTOR``; detectron2's schedulers scale each parameter
        group's own initial lr, so the factors hold through warm-up and steps."""
        params = get_default_optimizer_params(
            model,
            base_lr=cfg.SOLVER.BASE_LR,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
            bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
            weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        )
        propagation = getattr(model, "module", model).propagation
        if propagation is not None:
            factors = {id(p): cfg.MODEL.DFF.FLOW.LR_FACTOR for p in propagation.parameters()}
            for name, p in propagation.named_parameters():
                if ".scale_field." in f".{name}":
                    factors[id(p)] = cfg.MODEL.DFF.FLOW.SCALE_LR_FACTOR
            groups = []
            for group in params:
                by_factor: dict[float, list] = {}
                for p in group["params"]:
                    by_factor.setdefault(factors.get(id(p), 1.0), []).append(p)
                for factor, members in by_factor.items():
                    lr = group.get("lr", cfg.SOLVER.BASE_LR) * factor
                    groups.append({**group, "params": members, "lr": lr})
            params = groups
        return maybe_add_gradient_clipping(cfg, torch.optim.SGD)(
            params,
            lr=cfg.SOLVER.BASE_LR,
            momentum=cfg.SOLVER.MOMENTUM,
            nesterov=cfg.SOLVER.NESTEROV,
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        )

    @classmethod
    def build_train_loader(cls, cfg):
        return build_dff_train_loader(cfg, DFFPairDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        return build_dff_test_loader(cfg, dataset_name, DFFPairDatasetMapper(cfg, is_train=False))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        return VIDEvaluator(dataset_name, output_folder, cfg.MODEL.DFF.TEST.MOTION_IOU_FRAMES)


def setup(args):
    """Config from ``args.config_file`` and ``args.opts``, frozen, with detectron2's setup."""
    cfg = get_dff_cfg(args.config_file, args.opts)
    default_setup(cfg, args)
    return cfg


def check_output_dir_of(cfg, resume: bool, overwrite: bool) -> None:
    """Refuse to train into ``cfg.OUTPUT_DIR`` over an earlier run's checkpoints unless
    resuming the same model (its ``config.yaml``, less ``WEIGHTS`` and ``DEVICE``) or
    overwriting (:func:`~dff_common.checkpoint_files.check_output_dir`)."""
    saved = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    recorded = None
    if os.path.isfile(saved):
        with open(saved) as f:
            recorded = (saved, (yaml.safe_load(f) or {}).get("MODEL", {}))
    check_output_dir(
        cfg.OUTPUT_DIR, CHECKPOINTS, resume=resume, overwrite=overwrite, recorded=recorded,
        current=yaml.safe_load(cfg.dump())["MODEL"], ignore=("WEIGHTS", "DEVICE"),
    )  # fmt: skip


def argument_parser():
    """detectron2's ``default_argument_parser`` plus ``--config`` (alias of ``--config-file``)
    and ``--overwrite``."""
    parser = default_argument_parser()
    parser.add_argument("--config", dest="config_file", help="alias of --config-file")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="train into an OUTPUT_DIR that holds checkpoints, removing them first",
    )  # fmt: skip
    return parser


def train_or_evaluate(args):
    """One process's work for ``launch``: train (resuming with ``args.resume``), or with
    ``args.eval_only`` evaluate ``MODEL.WEIGHTS``; returns the evaluation results then."""
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DFFCheckpointer(model, save_dir=cfg.OUTPUT_DIR, complete=True).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()
