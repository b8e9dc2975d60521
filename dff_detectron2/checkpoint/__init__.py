"""DFF weights: the checkpointer (atomic, checked loads) and the initial weights of N and F."""

from .checkpointer import DFFCheckpointer
from .convert import initial_weights, save_weights

__all__ = ["DFFCheckpointer", "initial_weights", "save_weights"]
