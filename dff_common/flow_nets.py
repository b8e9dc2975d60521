"""The flow network F of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 3, Sec. 4, Appendix A).

Three networks, each returning the flow field M_{i->k} and the scale field S_{i->k}:

- ``FlowNetSimple``: FlowNet "Simple" (Dosovitskiy et al., ICCV 2015), encoder of Table 6;
  with every width halved it is "FlowNet Half" (Table 7).
- ``FlowNetInception``: the Inception encoder of Table 8 (Szegedy et al., CVPR 2016).

All share the FlowNet-Simple refinement decoder down to stride 4 of the input and the output
heads of the paper (Sec. 3, Sec. 4):

- flow: ``predict_flow2`` (3x3 conv -> 2 channels, at stride 4) times ``flow_factor`` = 2.5,
  then bilinearly downsized by 2 to stride 8 of the input by a parameter-free layer.
  FlowNet predicts flow / 20 in input pixels and the feature maps are 1/8 of the flow-net
  input, so 20 / 8 = 2.5 turns the prediction into feature-map pixels (units of the stride-8
  grid). Downsizing the *sampling grid* of a field whose values are already in stride-8 units
  does not change those values: the downsizing averages, it does not halve again.
- scale: a sibling 1x1 conv (weights 0, bias 1, so S == 1 at init) on the finest decoder map
  average-pooled 2x2 to stride 8, as in the authors' code.

The 2x2 average pool with ceil mode is the bilinear (``align_corners=False``) downsizing by
exactly 2 on even sizes; on odd sizes its last row/column averages the valid pixels only (the
"full" pooling convention of the authors' MXNet code). Every stride-2 layer maps ``n`` to
``ceil(n / 2)``, so an input of ``(h, w)`` gives outputs of ``(ceil(h / 8), ceil(w / 8))``
(``output_size``), equal to ``ceil(H / 16)`` of the full image when ``h = ceil(H / 2)``: the
feature network's grid.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FLOW_DIV",
    "FLOW_NETS",
    "FLOW_STRIDE",
    "FLOWNET_DECODER_WIDTHS",
    "FLOWNET_LAYERS",
    "FLOWNET_TABLE",
    "FLOWNET_WIDTHS",
    "INCEPTION_DECODER_WIDTHS",
    "INCEPTION_MODULES",
    "MULTISCALE_EPE_WEIGHTS",
    "FlowNetHalf",
    "FlowNetInception",
    "FlowNetSimple",
    "InceptionBlock",
    "RefinementDecoder",
    "build_flow_net",
]

# Table 6: (layer, kernel, stride, # output). Table 7 (FlowNet Half) halves every "# output".
FLOWNET_TABLE = (
    ("conv1", 7, 2, 64),
    ("conv2", 5, 2, 128),
    ("conv3", 5, 2, 256),
    ("conv3_1", 3, 1, 256),
    ("conv4", 3, 2, 512),
    ("conv4_1", 3, 1, 512),
    ("conv5", 3, 2, 512),
    ("conv5_1", 3, 1, 512),
    ("conv6", 3, 2, 1024),
    ("conv6_1", 3, 1, 1024),
)
FLOWNET_LAYERS = tuple(row[0] for row in FLOWNET_TABLE)
FLOWNET_WIDTHS = tuple(row[3] for row in FLOWNET_TABLE)
# Output channels of deconv5, deconv4, deconv3, deconv2 (FlowNet-Simple decoder).
FLOWNET_DECODER_WIDTHS = (512, 256, 128, 64)

# Table 8: layer -> (#1x1, (#1x1, #3x3), (#1x1, #3x3, #3x3), #pool). A #pool entry marks a
# Reduction module (stride 2); ``None`` marks an absent branch.
INCEPTION_MODULES = OrderedDict(
    conv2=(None, (24, 32), (24, 32, 32), None),
    conv3_2=(48, (32, 64), (8, 16, 16), None),
    conv3_3=(48, (48, 64), (12, 16, 16), None),
    conv4_1=(32, (112, 128), (28, 32, 32), 64),
    conv4_2=(96, (112, 128), (28, 32, 32), None),
    conv5_1=(48, (96, 192), (36, 48, 48), 96),
    conv5_2=(144, (96, 192), (36, 48, 48), None),
    conv6_1=(64, (192, 256), (48, 64, 64), 128),
    conv6_2=(192, (192, 256), (48, 64, 64), None),
)
# Decoder widths of FlowNet Inception (not given by the paper; an implementation choice that
# puts the measured FLOPs at about 1/8 of FlowNet's, Sec. 4 and Table 2).
INCEPTION_DECODER_WIDTHS = (64, 32, 16, 8)

# Multi-scale EPE loss weights for the pyramid [flow2, flow3, flow4, flow5, flow6] (finest
# first), as in FlowNet / mmflow / FlowNetPytorch: the coarsest level has the largest weight
# (the per-level EPE is summed over pixels, and coarse levels have fewer pixels).
MULTISCALE_EPE_WEIGHTS = (0.005, 0.01, 0.02, 0.08, 0.32)

FLOW_DIV = 20.0  # FlowNet predicts flow / 20 in input pixels.
FLOW_STRIDE = 8  # output grid of F relative to its input (stride 16 of the full image).


def _conv_block(in_channels, out_channels, kernel_size, stride=1, norm=None):
    """``conv -> [BatchNorm] -> LeakyReLU(0.1)``, padding ``k // 2`` (so ``n -> ceil(n/s)``)."""
    layers = OrderedDict(
        conv=nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=norm is None
        )
    )
    if norm == "BN":
        layers["norm"] = nn.BatchNorm2d(out_channels)
    layers["act"] = nn.LeakyReLU(0.1)
    return nn.Sequential(layers)


def _crop_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Crop an upsampled map to ``ref``'s size (``2 * ceil(n / 2) >= n``: cropping suffices)."""
    return x[..., : ref.shape[-2], : ref.shape[-1]]


class InceptionBlock(nn.Module):
    """An Inception (stride 1) or Reduction (stride 2) module of Table 8.

    Branches, concatenated in this order: 1x1 conv; 1x1 conv -> 3x3 conv; 1x1 conv -> 3x3
    conv -> 3x3 conv; and for a Reduction, 3x3 max pool -> 1x1 conv. In a Reduction the
    stride 2 sits on the 1x1 branch's conv, on the last 3x3 conv of the two 3x3 branches (as
    in the Inception-v3 reduction modules) and on the max pool; all stride-2 layers map ``n``
    to ``ceil(n / 2)``.

    Args:
        in_channels (int): input channels.
        n1x1 (int | None): channels of the 1x1 branch, ``None`` for none (conv2 of Table 8).
        n3x3 (tuple[int, int]): ``(#1x1, #3x3)`` of the 1x1-3x3 branch.
        n3x3dbl (tuple[int, int, int]): ``(#1x1, #3x3, #3x3)`` of the 1x1-3x3-3x3 branch.
        npool (int | None): channels of the pool branch; given only for a Reduction (stride 2).
        norm (str | None): ``None`` or ``"BN"``, see ``FlowNetSimple``.

    Attributes:
        out_channels (int): the table's "# output", the sum of the branch widths.
    """

    def __init__(self, in_channels, n1x1, n3x3, n3x3dbl, npool=None, norm=None):
        super().__init__()
        stride = 1 if npool is None else 2
        self.stride = stride
        branches = OrderedDict()
        if n1x1 is not None:
            branches["branch1x1"] = _conv_block(in_channels, n1x1, 1, stride, norm)
        branches["branch3x3"] = nn.Sequential(
            _conv_block(in_channels, n3x3[0], 1, norm=norm),
            _conv_block(n3x3[0], n3x3[1], 3, stride, norm),
        )
        branches["branch3x3dbl"] = nn.Sequential(
            _conv_block(in_channels, n3x3dbl[0], 1, norm=norm),
            _conv_block(n3x3dbl[0], n3x3dbl[1], 3, norm=norm),
            _conv_block(n3x3dbl[1], n3x3dbl[2], 3, stride, norm),
        )
        if npool is not None:
            branches["branch_pool"] = nn.Sequential(
                nn.MaxPool2d(3, stride, padding=1), _conv_block(in_channels, npool, 1, norm=norm)
            )
        self.branches = nn.ModuleDict(branches)
        self.out_channels = (n1x1 or 0) + n3x3[1] + n3x3dbl[2] + (npool or 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride))``."""
        return torch.cat([branch(x) for branch in self.branches.values()], dim=1)

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, stride={self.stride}"


class RefinementDecoder(nn.Module):
    """The FlowNet-Simple refinement ("expanding") decoder, from stride 64 down to stride 4.

    ``predict_flow6`` on the top features; then at levels 5, 4, 3, 2: ``deconv{l}`` (4x4
    stride-2 transposed conv + LeakyReLU) of the previous map and ``upsampled_flow{l+1}_to_{l}``
    (4x4 stride-2 transposed conv 2 -> 2) of the previous flow, both cropped to the encoder
    skip, are concatenated as ``[skip, deconv, flow]`` and ``predict_flow{l}`` (3x3 conv -> 2)
    predicts the flow of the level. Names and order follow FlowNetPytorch / mmflow.

    Args:
        top_channels (int): channels of the stride-64 features (conv6_1).
        skip_channels (tuple[int, ...]): channels of the skips at levels 5, 4, 3, 2.
        widths (tuple[int, ...]): output channels of deconv5, deconv4, deconv3, deconv2.

    Attributes:
        out_channels (int): channels of the finest (stride-4) concatenation,
            ``skip_channels[-1] + widths[-1] + 2`` (194 for FlowNet).
    """

    levels = (5, 4, 3, 2)

    def __init__(self, top_channels, skip_channels, widths):
        super().__init__()
        self.predict_flow6 = nn.Conv2d(top_channels, 2, 3, padding=1)
        in_channels = top_channels
        for level, skip, width in zip(self.levels, skip_channels, widths):
            deconv = nn.ConvTranspose2d(in_channels, width, 4, stride=2, padding=1)
            self.add_module(
                f"deconv{level}", nn.Sequential(OrderedDict(conv=deconv, act=nn.LeakyReLU(0.1)))
            )
            self.add_module(
                f"upsampled_flow{level + 1}_to_{level}",
                nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1, bias=False),
            )
            in_channels = skip + width + 2
            self.add_module(f"predict_flow{level}", nn.Conv2d(in_channels, 2, 3, padding=1))
        self.out_channels = in_channels

    def forward(self, top: torch.Tensor, skips: list[torch.Tensor]):
        """Decode the encoder pyramid.

        Args:
            top (Tensor): ``(N, top_channels, h6, w6)`` stride-64 features.
            skips (list[Tensor]): encoder features at strides 32, 16, 8, 4 (levels 5..2).

        Returns:
            tuple: ``(pyramid, finest)``; ``pyramid`` is ``[flow2, ..., flow6]``, each
            ``(N, 2, h_l, w_l)`` at stride ``2**l`` in input pixels / 20 (FlowNet convention);
            ``finest`` is the ``(N, out_channels, h2, w2)`` stride-4 concatenation.
        """
        x = top
        flow = self.predict_flow6(x)
        pyramid = [flow]
        for level, skip in zip(self.levels, skips):
            up_feat = _crop_like(getattr(self, f"deconv{level}")(x), skip)
            up_flow = _crop_like(getattr(self, f"upsampled_flow{level + 1}_to_{level}")(flow), skip)
            x = torch.cat([skip, up_feat, up_flow], dim=1)
            flow = getattr(self, f"predict_flow{level}")(x)
            pyramid.append(flow)
        return pyramid[::-1], x


class _FlowNetBase(nn.Module):
    """Decoder, flow head and scale-field head shared by the flow networks (Sec. 3, Sec. 4).

    Subclasses build the encoder and implement ``encode(x) -> (top, skips)``.
    """

    def _build_heads(self, top_channels, skip_channels, decoder_widths, feat_channels):
        """Build decoder and heads, then initialise as FlowNet (Kaiming normal, a = 0.1)."""
        self.decoder = RefinementDecoder(top_channels, skip_channels, decoder_widths)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # Scale function S: a sibling output initialised to ones (Sec. 3).
        self.scale_field = nn.Conv2d(self.decoder.out_channels, feat_channels, 1)
        nn.init.zeros_(self.scale_field.weight)
        nn.init.ones_(self.scale_field.bias)

    def forward(self, key: torch.Tensor, cur: torch.Tensor, return_pyramid: bool = False):
        """Flow field M_{i->k} and scale field S_{i->k} from the key and current frames.

        Args:
            key (Tensor): ``(N, 3, h, w)`` key frames I_k, ``(RGB - mean) / 255``, already at
                the flow network's input resolution (half of the feature network's).
            cur (Tensor): ``(N, 3, h, w)`` current frames I_i, same normalisation.
            return_pyramid (bool): also return the raw multi-scale predictions.

        Returns:
            tuple: ``(flow, scale)`` or ``(flow, scale, pyramid)`` where, with
            ``(h8, w8) = output_size(h, w)``:
            - ``flow``: ``(N, 2, h8, w8)``, channel 0 = x, in feature-map pixels (units of
              the stride-8 grid), pointing from the current frame into the key frame;
            - ``scale``: ``(N, feat_channels, h8, w8)``;
            - ``pyramid``: ``[flow2, flow3, flow4, flow5, flow6]``, ``flow_l`` of shape
              ``(N, 2, ceil(h / 2**l), ceil(w / 2**l))`` in input pixels / 20, for the
              multi-scale EPE loss (``MULTISCALE_EPE_WEIGHTS``).

        Raises:
            ValueError: if the frames are not ``(N, 3, h, w)`` or their shapes differ.
        """
        if key.dim() != 4 or key.shape[1] != 3 or key.shape != cur.shape:
            raise ValueError(
                "flow network expects key and current frames of the same shape (N, 3, h, w), "
                f"got key {tuple(key.shape)} and current {tuple(cur.shape)}"
            )
        # FlowNet's image pair: the flow goes from image 1 (current) into image 2 (key).
        top, skips = self.encode(torch.cat([cur, key], dim=1))
        pyramid, finest = self.decoder(top, skips)
        # Bilinear downsizing by 2 (values already in stride-8 units, see module docstring).
        flow = F.avg_pool2d(pyramid[0] * self.flow_factor, 2, ceil_mode=True)
        scale = self.scale_field(F.avg_pool2d(finest, 2, ceil_mode=True))
        return (flow, scale, pyramid) if return_pyramid else (flow, scale)

    @staticmethod
    def output_size(height: int, width: int) -> tuple[int, int]:
        """Spatial size ``(ceil(height / 8), ceil(width / 8))`` of flow and scale fields.

        Args:
            height (int): input height h.
            width (int): input width w.

        Returns:
            tuple[int, int]: ``(h8, w8)``.
        """
        return -(-height // FLOW_STRIDE), -(-width // FLOW_STRIDE)

    def extra_repr(self) -> str:
        return f"flow_factor={self.flow_factor}, feat_channels={self.scale_field.out_channels}"


class FlowNetSimple(_FlowNetBase):
    """FlowNet "Simple" (Table 6) or FlowNet Half (Table 7) with flow and scale outputs.

    Encoder ``conv1`` .. ``conv6_1`` on the 6-channel concatenation ``[cur, key]``, each
    ``conv -> LeakyReLU(0.1)``; decoder ``RefinementDecoder`` with skips from conv5_1,
    conv4_1, conv3_1 and conv2; heads as described in the module docstring.

    Args:
        widths (tuple[int, ...]): "# output" of conv1, conv2, conv3, conv3_1, conv4, conv4_1,
            conv5, conv5_1, conv6, conv6_1. Defaults to Table 6, ``FLOWNET_WIDTHS``.
        decoder_widths (tuple[int, ...]): output channels of deconv5..deconv2. Defaults to
            ``FLOWNET_DECODER_WIDTHS`` (512, 256, 128, 64).
        feat_channels (int): channels C of the scale field (the feature maps). Defaults to 1024.
        norm (str | None): ``None`` (the paper: no normalisation layers) or ``"BN"``: a
            BatchNorm2d between each encoder conv (then without bias) and its LeakyReLU, as
            FlowNetPytorch's ``flownets_bn``. Training from scratch without it plateaus at
            the zero-flow error on a CPU budget (measured: 700 iterations at 4.3 px end-point
            error); the decoder is unchanged.
            Defaults to None.
        flow_factor (float): multiplier from FlowNet's output (input pixels / 20) to
            feature-map pixels, 20 / 8. Defaults to 2.5.
    """

    def __init__(
        self,
        widths=FLOWNET_WIDTHS,
        decoder_widths=FLOWNET_DECODER_WIDTHS,
        feat_channels: int = 1024,
        norm: str | None = None,
        flow_factor: float = FLOW_DIV / FLOW_STRIDE,
    ):
        super().__init__()
        if norm not in (None, "BN"):
            raise ValueError(f"norm must be None or 'BN', got {norm!r}")
        if len(widths) != len(FLOWNET_LAYERS) or len(decoder_widths) != 4:
            raise ValueError(
                f"widths needs {len(FLOWNET_LAYERS)} entries ({', '.join(FLOWNET_LAYERS)}) and "
                f"decoder_widths 4 (deconv5..deconv2), got {len(widths)} and {len(decoder_widths)}"
            )
        in_channels = 6
        for (name, kernel, stride, _), width in zip(FLOWNET_TABLE, widths):
            self.add_module(name, _conv_block(in_channels, width, kernel, stride, norm))
            in_channels = width
        # Skips at levels 5, 4, 3, 2: conv5_1, conv4_1, conv3_1, conv2.
        skip_channels = (widths[7], widths[5], widths[3], widths[1])
        self._build_heads(widths[9], skip_channels, decoder_widths, feat_channels)
        self.flow_factor = flow_factor

    def encode(self, x: torch.Tensor):
        """``(N, 6, h, w)`` -> ``(conv6_1, [conv5_1, conv4_1, conv3_1, conv2])``."""
        conv2 = self.conv2(self.conv1(x))
        conv3 = self.conv3_1(self.conv3(conv2))
        conv4 = self.conv4_1(self.conv4(conv3))
        conv5 = self.conv5_1(self.conv5(conv4))
        conv6 = self.conv6_1(self.conv6(conv5))
        return conv6, [conv5, conv4, conv3, conv2]


class FlowNetInception(_FlowNetBase):
    """FlowNet Inception (Appendix A, Table 8) with flow and scale outputs.

    ``conv1`` (7x7 stride 2, 32), ``pool1`` (3x3 max pool stride 2), ``conv2`` (Inception,
    stride 4), ``conv3_1`` (3x3 stride 2, 128), then the Inception / Reduction modules of
    Table 8 (``INCEPTION_MODULES``). Decoder skips from conv5_2, conv4_2, conv3_3 and conv2
    (strides 32, 16, 8, 4); top features conv6_2 (stride 64).

    Args:
        decoder_widths (tuple[int, ...]): output channels of deconv5..deconv2, not given by
            the paper. Defaults to ``INCEPTION_DECODER_WIDTHS`` (64, 32, 16, 8).
        feat_channels (int): channels C of the scale field. Defaults to 1024.
        norm (str | None): ``None`` or ``"BN"`` (every encoder conv), see ``FlowNetSimple``.
        flow_factor (float): see ``FlowNetSimple``. Defaults to 2.5.
    """

    _skip_names = ("conv5_2", "conv4_2", "conv3_3", "conv2")

    def __init__(
        self,
        decoder_widths=INCEPTION_DECODER_WIDTHS,
        feat_channels: int = 1024,
        norm: str | None = None,
        flow_factor: float = FLOW_DIV / FLOW_STRIDE,
    ):
        super().__init__()
        if norm not in (None, "BN"):
            raise ValueError(f"norm must be None or 'BN', got {norm!r}")
        self.conv1 = _conv_block(6, 32, 7, 2, norm)
        self.pool1 = nn.MaxPool2d(3, 2, padding=1)
        in_channels = 32
        for name, branches in INCEPTION_MODULES.items():
            self.add_module(name, InceptionBlock(in_channels, *branches, norm=norm))
            in_channels = getattr(self, name).out_channels
            if name == "conv2":
                self.conv3_1 = _conv_block(in_channels, 128, 3, 2, norm)
                in_channels = 128
        skip_channels = tuple(getattr(self, n).out_channels for n in self._skip_names)
        self._build_heads(in_channels, skip_channels, decoder_widths, feat_channels)
        self.flow_factor = flow_factor

    def encode(self, x: torch.Tensor):
        """``(N, 6, h, w)`` -> ``(conv6_2, [conv5_2, conv4_2, conv3_3, conv2])``."""
        conv2 = self.conv2(self.pool1(self.conv1(x)))
        conv3 = self.conv3_3(self.conv3_2(self.conv3_1(conv2)))
        conv4 = self.conv4_2(self.conv4_1(conv3))
        conv5 = self.conv5_2(self.conv5_1(conv4))
        conv6 = self.conv6_2(self.conv6_1(conv5))
        return conv6, [conv5, conv4, conv3, conv2]


class FlowNetHalf(FlowNetSimple):
    """FlowNet Half (Table 7): FlowNet "Simple" with every layer's kernel count halved, about a
    quarter of its complexity (Sec. 4). Arguments as ``FlowNetSimple`` without the widths."""

    def __init__(self, **kwargs):
        super().__init__(
            widths=tuple(w // 2 for w in FLOWNET_WIDTHS),
            decoder_widths=tuple(w // 2 for w in FLOWNET_DECODER_WIDTHS),
            **kwargs,
        )


FLOW_NETS = {
    "flownet": FlowNetSimple,
    "flownet_half": FlowNetHalf,
    "flownet_inception": FlowNetInception,
}


def build_flow_net(name: str, feat_channels: int = 1024, norm: str | None = None, **kwargs):
    """Build a flow network F by name (Sec. 4).

    Args:
        name (str): ``"flownet"`` (Table 6, the paper's default), ``"flownet_half"``
            (Table 7) or ``"flownet_inception"`` (Table 8).
        feat_channels (int): channels of the scale field. Defaults to 1024.
        norm (str | None): ``None`` (paper) or ``"BN"``. Defaults to None.
        **kwargs: passed to the network's constructor (e.g. ``flow_factor``).

    Returns:
        nn.Module: the flow network; ``net(key, cur)`` returns ``(flow, scale)``.

    Raises:
        ValueError: for an unknown name.
    """
    if name not in FLOW_NETS:
        raise ValueError(f"unknown flow network {name!r}; valid names: {', '.join(FLOW_NETS)}")
    return FLOW_NETS[name](feat_channels=feat_channels, norm=norm, **kwargs)
