"""The DFF video segmentor, its data preprocessor and its flow functions."""

from dff_common.classical_flow import DISFlow, ZeroFlow

from .data_preprocessor import VideoSegDataPreProcessor
from .dff_segmentor import DFFSegmentor

__all__ = ["DFFSegmentor", "DISFlow", "VideoSegDataPreProcessor", "ZeroFlow"]
