"""The feature network N_feat of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 4, Table 5).

A ResNet-50/101 with the 1000-way classifier discarded, conv5 (res5) modified to stride 1 with
dilation 2 on all its 3x3 kernels, res5a's included (the "holing algorithm", output stride 16),
followed by a randomly initialised 3x3 convolution with dilation 6 to 1024 channels and a ReLU
(``conv_feat``).

The full image network N of the paper is the sequence

    [stem, res2 units, res3 units, res4 units, res5a, res5b, res5c, conv_feat, task head]

and the split point of Table 5 moves its last weight layers into the task network N_task.
``num_task_layers`` counts the learnable weight layers of N_task, the task head's 1x1 conv
included (the head itself belongs to the plugins):

- 1 (default): N_task = the head only; everything above is N_feat.
- 5: N_task starts with [res5c, conv_feat] (3 + 1 + head).
- 12: N_task starts with [res5a, res5b, res5c, conv_feat] (3 x 3 + res5a's projection shortcut
  + 1 + head).
- 21: N_task also takes the last three res4 units (12 + 3 x 3).

The paper's split 0 (the 1x1 head moved into N_feat, score maps propagated) is a property of
the task head and is handled by the plugins; this module supports 1, 5, 12 and 21.
"""

from collections import OrderedDict
from collections.abc import Callable

import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["DilatedResNetFeatureNet", "SPLIT_POINTS"]

# num_task_layers -> number of trailing units of N (before the head) moved into N_task:
# 5: res5c + conv_feat; 12: res5a, res5b, res5c + conv_feat; 21: also the last three res4 units.
SPLIT_POINTS = {1: 0, 5: 2, 12: 4, 21: 7}

_RESNETS = {50: torchvision.models.resnet50, 101: torchvision.models.resnet101}

# torchvision names of the stages, in order; frozen_stages = k freezes the first k of them.
_STAGES = (("conv1", "bn1"), ("layer1",), ("layer2",), ("layer3",), ("layer4",))


class DilatedResNetFeatureNet(nn.Module):
    """Dilated ResNet + ``conv_feat``: the feature network N_feat (Sec. 4), output stride 16.

    The ResNet lives under ``body`` with torchvision's parameter names (``body.conv1.weight``,
    ``body.layer1.0.conv1.weight``, ...), so ImageNet checkpoints in torchvision layout load
    with ``dff_common.checkpoint.load_torchvision_resnet(net, path, prefix="body.")``.

    Args:
        depth (int): ResNet depth, 50 or 101. Defaults to 101 (the paper's default).
        out_channels (int): channels of ``conv_feat`` (the propagated map at the default split).
            Defaults to 1024.
        num_task_layers (int): learnable weight layers in N_task (Table 5), one of 1, 5, 12, 21;
            see the module docstring. Defaults to 1.
        frozen_stages (int): number of leading stages with ``requires_grad=False`` and their
            norm layers kept in eval mode: 0 none, 1 the stem (conv1), 2 the stem and res2
            (the original detection code), up to 5 (all of the ResNet). Defaults to 2.
        norm_layer (Callable[[int], nn.Module]): normalisation layer of the ResNet, called with
            the channel count (torchvision's ``norm_layer``). Defaults to
            ``torchvision.ops.FrozenBatchNorm2d`` ("BatchNorm frozen" in the original code).

    Attributes:
        stride (int): output stride of the feature maps, 16.
        out_channels (int): channels of ``forward``'s output.
        channels_at_split (int): channels of the map propagated between N_feat and N_task
            (the output of ``feature_part()``): ``out_channels`` for split 1, 2048 for 5
            (res5b output), 1024 for 12 and 21 (res4 unit outputs).
    """

    stride = 16

    def __init__(
        self,
        depth: int = 101,
        out_channels: int = 1024,
        num_task_layers: int = 1,
        frozen_stages: int = 2,
        norm_layer: Callable[[int], nn.Module] = FrozenBatchNorm2d,
    ):
        super().__init__()
        if depth not in _RESNETS:
            raise ValueError(f"ResNet depth must be one of {sorted(_RESNETS)}, got {depth}")
        if num_task_layers not in SPLIT_POINTS:
            raise ValueError(
                f"num_task_layers must be one of {sorted(SPLIT_POINTS)} (Table 5; split 0 is "
                f"handled by the task head), got {num_task_layers}"
            )
        if not 0 <= frozen_stages <= len(_STAGES):
            raise ValueError(f"frozen_stages must be in [0, {len(_STAGES)}], got {frozen_stages}")
        resnet = _RESNETS[depth](
            weights=None,
            replace_stride_with_dilation=[False, False, True],
            norm_layer=norm_layer,
        )
        # torchvision keeps dilation 1 in res5a's 3x3 conv; the paper dilates all of conv5's.
        res5a_conv = resnet.layer4[0].conv2
        res5a_conv.dilation, res5a_conv.padding = (2, 2), (2, 2)
        names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        self.body = nn.Sequential(OrderedDict((n, getattr(resnet, n)) for n in names))
        self.conv_feat = nn.Conv2d(2048, out_channels, 3, padding=6, dilation=6)
        nn.init.normal_(self.conv_feat.weight, std=0.01)
        nn.init.zeros_(self.conv_feat.bias)
        self.relu_feat = nn.ReLU(inplace=True)
        self.depth = depth
        self.out_channels = out_channels
        self.num_task_layers = num_task_layers
        self.frozen_stages = frozen_stages
        for stage in _STAGES[:frozen_stages]:
            for name in stage:
                getattr(self.body, name).requires_grad_(False)
        task_units = self._split_units()[1]
        self.channels_at_split = (
            task_units[0][1].conv1.in_channels if task_units else self.out_channels
        )

    def _split_units(self) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]]]:
        """The units of N up to the head, cut at the split point of Table 5.

        Returns:
            tuple: ``(feature_units, task_units)``, lists of ``(name, module)`` in order.
        """
        body = self.body
        units = [("stem", nn.Sequential(body.conv1, body.bn1, body.relu, body.maxpool))]
        for layer in ("layer1", "layer2", "layer3", "layer4"):
            units += [(f"{layer}_{j}", unit) for j, unit in enumerate(getattr(body, layer))]
        units.append(("conv_feat", nn.Sequential(self.conv_feat, self.relu_feat)))
        cut = len(units) - SPLIT_POINTS[self.num_task_layers]
        return units[:cut], units[cut:]

    def feature_part(self) -> nn.Module:
        """N_feat at the configured split point (runs on key frames only, Algorithm 1).

        The returned module shares its parameters with this one (register one or the other
        in a parent module, not both).

        Returns:
            nn.Module: maps images ``(N, 3, H, W)`` to ``(N, channels_at_split, h, w)``.
        """
        return nn.Sequential(OrderedDict(self._split_units()[0]))

    def task_prefix(self) -> nn.Module:
        """The layers of N moved into N_task (before the plugin's head); shares parameters.

        Returns:
            nn.Module: ``nn.Identity`` for ``num_task_layers=1``, otherwise the moved units,
            mapping ``(N, channels_at_split, h, w)`` to ``(N, out_channels, h, w)``.
        """
        task_units = self._split_units()[1]
        return nn.Sequential(OrderedDict(task_units)) if task_units else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The full feature computation ``task_prefix(feature_part(images))``.

        Args:
            images (Tensor): ``(N, 3, H, W)`` normalised RGB images.

        Returns:
            Tensor: ``(N, out_channels, h, w)`` with ``(h, w) = feature_map_size(H, W)``.
        """
        return self.relu_feat(self.conv_feat(self.body(images)))

    def train(self, mode: bool = True) -> "DilatedResNetFeatureNet":
        """Set training mode, keeping frozen stages in eval mode (their norm layers fixed)."""
        super().train(mode)
        for stage in _STAGES[: self.frozen_stages]:
            for name in stage:
                getattr(self.body, name).eval()
        return self

    @staticmethod
    def feature_map_size(height: int, width: int) -> tuple[int, int]:
        """Exact spatial size of the output for an input of ``(height, width)``.

        The stride-2 layers (7x7 conv1 pad 3, 3x3 max-pool pad 1, the 3x3 stride-2 convs of
        res3 and res4 with pad 1) each map ``n`` to ``floor((n - 1) / 2) + 1 = ceil(n / 2)``;
        res5 and ``conv_feat`` keep the size. Hence ``ceil(n / 16)``, e.g. 600x1000 -> 38x63.

        Args:
            height (int): input height H.
            width (int): input width W.

        Returns:
            tuple[int, int]: ``(h, w)``.
        """

        def out_size(n: int) -> int:
            for kernel, padding in ((7, 3), (3, 1), (3, 1), (3, 1)):
                n = (n + 2 * padding - kernel) // 2 + 1
            return n

        return out_size(height), out_size(width)

    def extra_repr(self) -> str:
        return (
            f"depth={self.depth}, out_channels={self.out_channels}, stride={self.stride}, "
            f"num_task_layers={self.num_task_layers}, frozen_stages={self.frozen_stages}"
        )
