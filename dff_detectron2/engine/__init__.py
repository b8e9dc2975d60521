"""Training and evaluation through detectron2's ``DefaultTrainer`` and ``launch``."""

from .launch import launch
from .trainer import Trainer, argument_parser, check_output_dir_of, setup, train_or_evaluate

__all__ = [
    "Trainer",
    "argument_parser",
    "check_output_dir_of",
    "launch",
    "setup",
    "train_or_evaluate",
]
