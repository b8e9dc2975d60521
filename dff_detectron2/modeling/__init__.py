"""The DFF model: meta-architecture (Algorithm 1), R-FCN head, backbone, flow functions."""

from .backbone import DFFResNetBackbone, build_dff_resnet_backbone
from .flow_functions import build_flow_function, build_propagation
from .meta_arch import DFFRCNN, DFFRetinaNet
from .rfcn_head import RFCNROIHeads

__all__ = [
    "DFFRCNN",
    "DFFRetinaNet",
    "DFFResNetBackbone",
    "RFCNROIHeads",
    "build_dff_resnet_backbone",
    "build_flow_function",
    "build_propagation",
]
