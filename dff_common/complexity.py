"""Inference complexity of Deep Feature Flow (Zhu et al., CVPR 2017, Sec. 3, Eq. 5-7, Table 2).

The cost ratio r of Eq. 5 and the speedup of Eq. 7 take the five part costs in any one unit
(:class:`PartCosts`): multiply-adds counted here, or milliseconds timed by
:mod:`dff_common.timing`.

Complexities O(.) are counted in **multiply-adds** (MACs) per frame: torch's
``FlopCounterMode`` counts a multiply-add as 2 FLOPs, every count here is that number halved.
The paper's Table 2 reports only ratios (1/r, Eq. 6), which do not depend on the unit.

What is counted: convolutions (incl. transposed) and matrix products, by torch's formulas.
Element-wise operations (ReLU, frozen norms, additions, resizing, pooling) count 0, as in the
usual FLOP counts of CNNs. Bilinear sampling has no formula in torch; ``count_flops`` registers
one for ``aten.grid_sampler_2d``: 4 multiply-adds per output element, the four non-zero terms
of the bilinear kernel (Eq. 1-2; the interpolation weights are shared by all channels of a
location and neglected). ``dff_common.warp`` gathers those four terms itself instead of calling
``grid_sample``, so O(W) is given by the same formula, ``warp_macs``: 4 multiply-adds plus
1 multiplication by the scale field (Eq. 3) per output element.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dff_common.feature_net import DilatedResNetFeatureNet
from dff_common.flow_nets import FLOW_NETS, build_flow_net
from dff_common.levels import feature_maps

__all__ = [
    "PAPER_TABLE2",
    "PartCosts",
    "Table2Row",
    "cost_ratio",
    "count_flops",
    "flop_counts",
    "flow_and_scale_macs",
    "measure_complexity",
    "speedup",
    "speedup_advice",
    "table2",
    "warp_macs",
]

# Table 2 of the paper: 1/r by Eq. (6), keyed by (ResNet depth, flow network name).
PAPER_TABLE2 = {
    (50, "flownet"): 9.20,
    (50, "flownet_half"): 33.56,
    (50, "flownet_inception"): 68.97,
    (101, "flownet"): 12.71,
    (101, "flownet_half"): 46.30,
    (101, "flownet_inception"): 95.24,
}

# FLOPs per multiply-add in torch's FlopCounterMode.
_FLOPS_PER_MAC = 2
# Multiply-adds per output element of bilinear sampling (Eq. 1-2: 4 non-zero terms).
_BILINEAR_MACS = 4


def _grid_sampler_flop(input_shape, grid_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of ``aten.grid_sampler_2d`` with output ``(N, C, H_out, W_out)`` (in FLOPs)."""
    return _FLOPS_PER_MAC * _BILINEAR_MACS * math.prod(out_shape)


_CUSTOM_FORMULAS = {torch.ops.aten.grid_sampler_2d: _grid_sampler_flop}


def _count(module: Callable, *inputs) -> tuple[dict[str, int], object]:
    """``(flop_counts(module, *inputs), module(*inputs))`` from one forward pass."""
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_CUSTOM_FORMULAS) as mode:
        output = module(*inputs)
    counts = {"": 0}
    for name, per_op in mode.get_flop_counts().items():
        if name == "Global":
            name = ""
        elif "." in name:
            name = name.split(".", 1)[1]  # drop the root's class name
        else:
            continue  # the root module itself: equal to (or part of) "Global"
        counts[name] = sum(per_op.values()) // _FLOPS_PER_MAC
    return counts, output


def flop_counts(module: Callable, *inputs) -> dict[str, int]:
    """Multiply-adds of one forward pass, in total and per submodule.

    Runs ``module(*inputs)`` under ``torch.no_grad()`` and ``FlopCounterMode``.

    Args:
        module (Callable): an ``nn.Module`` (per-submodule counts) or any callable.
        *inputs: the forward's arguments.

    Returns:
        dict[str, int]: MACs keyed by submodule name relative to ``module`` (as in
        ``named_modules()``, e.g. ``"body.layer1"``); ``""`` holds the total.
    """
    return _count(module, *inputs)[0]


def count_flops(module: Callable, *inputs) -> int:
    """Multiply-adds of ``module(*inputs)`` (the O(.) of Eq. 5), see the module docstring.

    Args:
        module (Callable): a module or callable.
        *inputs: the forward's arguments.

    Returns:
        int: multiply-adds (torch's FLOPs / 2).
    """
    return flop_counts(module, *inputs)[""]


def flow_and_scale_macs(
    flow_net: nn.Module, frames: torch.Tensor, scale_head: str = "scale_field"
) -> tuple[int, int]:
    """O(F) and O(S): the multiply-adds of ``flow_net(frames, frames)`` split at its scale head.

    Args:
        flow_net (nn.Module): flow network returning ``(flow, scale)``.
        frames (Tensor): ``(1, 3, H/2, W/2)`` frames at the flow network's input size.
        scale_head (str): the submodule computing the scale field S. Defaults to "scale_field"
            (``dff_common.flow_nets``).

    Returns:
        tuple[int, int]: ``(O(F), O(S))``, F without its scale head.
    """
    if scale_head not in dict(flow_net.named_modules()):
        raise ValueError(
            f"flow network {type(flow_net).__name__} has no scale head submodule {scale_head!r}"
        )
    counts = flop_counts(flow_net, frames, frames)
    return counts[""] - counts[scale_head], counts[scale_head]


@dataclasses.dataclass(frozen=True)
class PartCosts:
    """The costs O(.) of Eq. (5) for one frame, all in one unit (multiply-adds or milliseconds).

    Parts run together (the flow network computes F and S in one forward; its time then holds
    both) are given as their sum under one name and 0 under the other.

    Attributes:
        feature_net (float): O(N_feat), on a key frame.
        flow (float): O(F), the flow network without its scale head.
        scale (float): O(S), the scale field's 1x1 conv (sibling output of the flow network).
        warp (float): O(W), the bilinear warp and the scale multiplication (Eq. 3).
        task_net (float): O(N_task).
    """

    feature_net: float
    flow: float
    scale: float
    warp: float
    task_net: float


def cost_ratio(costs: PartCosts, approximate: bool = False) -> float:
    """Per-frame cost ratio r of a non-key frame to a key frame, whatever the unit of ``costs``.

    Args:
        costs (PartCosts): the five part costs.
        approximate (bool): use Eq. (6), ``O(F) / O(N_feat)``, instead of Eq. (5),
            ``(O(F) + O(S) + O(W) + O(N_task)) / (O(N_feat) + O(N_task))``. Defaults to False.

    Returns:
        float: r.
    """
    if costs.feature_net <= 0:
        raise ValueError(f"O(N_feat) must be positive, got {costs.feature_net}")
    if approximate:
        return costs.flow / costs.feature_net
    non_key = costs.flow + costs.scale + costs.warp + costs.task_net
    return non_key / (costs.feature_net + costs.task_net)


def speedup(r: float, l: float) -> float:  # noqa: E741 (the paper's symbol)
    """Overall speedup of DFF over per-frame inference, Eq. (7): ``l / (1 + (l - 1) r)``.

    Args:
        r (float): per-frame cost ratio (Eq. 5), > 0.
        l (float): key frame duration length, >= 1 (one key frame every l frames).

    Returns:
        float: s.
    """
    if l < 1:
        raise ValueError(f"key frame duration length l must be >= 1, got {l}")
    if r <= 0:
        raise ValueError(f"cost ratio r must be > 0, got {r}")
    return l / (1 + (l - 1) * r)


# DFF should be at least this much faster than the image model at its l (Eq. 7)
MIN_SPEEDUP = 1.5


def speedup_advice(costs: PartCosts, l: int, minimum: float = MIN_SPEEDUP) -> str | None:  # noqa: E741
    """What to change when Eq. 7 predicts DFF less than ``minimum`` times faster than the
    image model at key frame duration ``l`` (None when it is fast enough).

    The advice follows the part that dominates a non-key frame (Eq. 5): the flow network F + S
    (a cheaper flow network, a smaller flow input scale) or N_task (a later split point, so
    that less runs on every frame).

    Args:
        costs (PartCosts): the part costs (multiply-adds or milliseconds).
        l (int): the key frame duration length of the model.
        minimum (float): the speedup below which there is advice. Defaults to 1.5.
    """
    r = cost_ratio(costs)
    predicted = speedup(r, l)
    if predicted >= minimum:
        return None
    flow = costs.flow + costs.scale
    parts = {"F + S": flow, "W": costs.warp, "N_task": costs.task_net}
    heaviest = max(parts, key=parts.get)
    fixes = {
        "F + S": "a cheaper flow network (FlowNetHalf, or DISFlow) or a smaller flow input "
        "scale (flow_input_scale / MODEL.DFF.FLOW.INPUT_SCALE)",
        "W": "fewer propagated levels or channels (a later split point)",
        "N_task": "a later split point (more of N in N_feat, which runs on key frames only)",
    }
    share = ", ".join(f"{name} {value / costs.feature_net:.2f}" for name, value in parts.items())
    return (
        f"DFF is predicted only {predicted:.2f}x faster than the image model at l = {l} (Eq. 7, "
        f"r = {r:.2f}; per non-key frame, relative to N_feat: {share}): {heaviest} dominates; "
        f"use {fixes[heaviest]}, or a larger l"
    )


def warp_macs(features_shape: Sequence[int], with_scale: bool = True) -> int:
    """O(W) of Eq. (3) on features of ``features_shape``: per output element 4 multiply-adds
    (bilinear sampling, Eq. 1-2) plus 1 multiplication by the scale field.

    Args:
        features_shape (Sequence[int]): ``(N, C, h, w)`` of the propagated features.
        with_scale (bool): count the scale multiplication. Defaults to True.

    Returns:
        int: multiply-adds.
    """
    return math.prod(features_shape) * (_BILINEAR_MACS + int(with_scale))


def _flow_input_size(image_size: Sequence[int], flow_input_scale: float) -> tuple[int, int]:
    """Size of the flow network's input, rounded up as ``FeaturePropagation`` does."""
    return tuple(math.ceil(n * flow_input_scale) for n in image_size)


def measure_complexity(
    feature_net: Callable,
    flow_net: nn.Module,
    task_net: Callable,
    image_size: Sequence[int],
    flow_input_scale: float = 0.5,
    scale_head: str = "scale_field",
    device: str | torch.device = "cpu",
) -> PartCosts:
    """Count the five complexities of Eq. (5) by running each network once on zero inputs.

    Args:
        feature_net (Callable): N_feat, images ``(1, 3, H, W)`` -> features ``(1, C, h, w)``
            (or one map per level: O(W) is summed over the levels).
        flow_net (nn.Module): F with its scale head, ``(key, cur)`` frames at the flow
            network's resolution -> ``(flow, scale)`` (``dff_common.flow_nets`` contract).
        task_net (Callable): N_task, features ``(1, C, h, w)`` -> result.
        image_size (Sequence[int]): ``(H, W)`` of the feature network's input.
        flow_input_scale (float): flow network input size / image size (Sec. 4: half).
            Defaults to 0.5.
        scale_head (str): name of the flow network's submodule computing the scale field S;
            its MACs are O(S), the rest of the flow network's are O(F).
            Defaults to "scale_field" (``dff_common.flow_nets``).
        device (str | torch.device): where the networks are. Defaults to "cpu".

    Returns:
        PartCosts: the complexities, in multiply-adds.
    """
    height, width = image_size
    images = torch.zeros(1, 3, height, width, device=device)
    feature_counts, features = _count(feature_net, images)
    frames = torch.zeros(1, 3, *_flow_input_size(image_size, flow_input_scale), device=device)
    o_flow, o_scale = flow_and_scale_macs(flow_net, frames, scale_head)
    return PartCosts(
        feature_net=feature_counts[""],
        flow=o_flow,
        scale=o_scale,
        warp=sum(warp_macs(level.shape) for level in feature_maps(features)),
        task_net=count_flops(task_net, features),
    )


@dataclasses.dataclass(frozen=True)
class Table2Row:
    """One cell of Table 2: measured 1/r (Eq. 6) next to the paper's value.

    Attributes:
        depth (int): ResNet depth of N_feat.
        flow_net (str): flow network name (``dff_common.flow_nets.FLOW_NETS``).
        feature_net_macs (int): O(N_feat) at the image size.
        flow_macs (int): O(F) at half the image size, scale head excluded.
        scale_macs (int): O(S), the flow network's scale head.
        paper (float): the paper's 1/r.
    """

    depth: int
    flow_net: str
    feature_net_macs: int
    flow_macs: int
    scale_macs: int
    paper: float

    @property
    def inverse_ratio(self) -> float:
        """1/r of Eq. (6): O(N_feat) / O(F)."""
        return self.feature_net_macs / self.flow_macs

    @property
    def inverse_ratio_with_scale(self) -> float:
        """O(N_feat) / (O(F) + O(S)): the flow network as deployed, with its scale output."""
        return self.feature_net_macs / (self.flow_macs + self.scale_macs)

    def relative_difference(self, with_scale: bool = False) -> float:
        """(measured - paper) / paper, for ``inverse_ratio`` or ``inverse_ratio_with_scale``."""
        measured = self.inverse_ratio_with_scale if with_scale else self.inverse_ratio
        return (measured - self.paper) / self.paper


def table2(
    depths: Sequence[int] = (50, 101),
    flow_nets: Sequence[str] = tuple(FLOW_NETS),
    image_size: Sequence[int] = (600, 1000),
    scale_head: str = "scale_field",
) -> list[Table2Row]:
    """Reproduce Table 2: 1/r of Eq. (6) for each feature network and flow network.

    N_feat is ``DilatedResNetFeatureNet(depth)`` (dilated ResNet + ``conv_feat``) at
    ``image_size``; F is ``build_flow_net(name)`` at half of it (Sec. 4, ImageNet VID: shorter
    sides of 600 and 300 pixels). Runs real forwards on CPU (seconds each).

    Measured at 600x1000, the paper's values agree within 1.5% with
    ``Table2Row.inverse_ratio_with_scale`` (F counted with its scale output, as the deployed
    flow network is) and are 5-10% below the strict Eq. (6) ``inverse_ratio`` (F alone).
    Most of the remaining gap is torchvision's ResNet layout (stride 2 in the 3x3 conv of
    res3a / res4a instead of the original's 1x1 conv: 1.8 GMACs more at 600x1000).

    Args:
        depths (Sequence[int]): ResNet depths. Defaults to (50, 101).
        flow_nets (Sequence[str]): flow network names.
        image_size (Sequence[int]): ``(H, W)`` of the feature network's input.
            Defaults to (600, 1000).
        scale_head (str): the flow networks' scale-head submodule name.
            Defaults to "scale_field".

    Returns:
        list[Table2Row]: one row per (depth, flow network), depths outermost.
    """
    height, width = image_size
    images = torch.zeros(1, 3, height, width)
    frames = torch.zeros(1, 3, *_flow_input_size(image_size, 0.5))
    flow_and_scale = {
        name: flow_and_scale_macs(build_flow_net(name).eval(), frames, scale_head)
        for name in flow_nets
    }
    rows = []
    for depth in depths:
        feature_macs = count_flops(DilatedResNetFeatureNet(depth).eval(), images)
        for name in flow_nets:
            rows.append(
                Table2Row(
                    depth=depth,
                    flow_net=name,
                    feature_net_macs=feature_macs,
                    flow_macs=flow_and_scale[name][0],
                    scale_macs=flow_and_scale[name][1],
                    paper=PAPER_TABLE2.get((depth, name), math.nan),
                )
            )
    return rows
