"""The DFF video segmentor, its data preprocessor, feature network and flow functions."""

from .data_preprocessor import VideoSegDataPreProcessor
from .dff_segmentor import DFFSegmentor
from .dilated_resnet import DilatedResNet
from .flow_functions import DISFlow, FlowNetHalf, FlowNetInception, FlowNetSimple, ZeroFlow

__all__ = [
    "DFFSegmentor",
    "DISFlow",
    "DilatedResNet",
    "FlowNetHalf",
    "FlowNetInception",
    "FlowNetSimple",
    "VideoSegDataPreProcessor",
    "ZeroFlow",
]
