"""Eq. 5 and Eq. 7 for DFF around detectron2's model-zoo Faster R-CNNs: where the cost lies.

Counts the multiply-adds of each part of Eq. 5 on a frame of ``--size`` (the paper's 600x1000,
padded to the backbone's ``size_divisibility``): N_feat (the backbone), F and S (the flow
network on the half-size pair), W (every propagated level) and N_task = the RPN head + R x the
box head of one RoI, R = the config's ``MODEL.RPN.POST_NMS_TOPK_TEST`` (1000 in the zoo); C4's
box head is res5 on each 14x14 RoI. Anchors, NMS and RoI pooling hold no multiply-adds. Prints
r (Eq. 5) and the speedup of Eq. 7 at the config's key frame duration l.

Usage::

    python tools/model_zoo_costs.py [--configs CONFIG ...] [--size 600 1000]
"""

import argparse
import glob
import math
import os

import torch
from detectron2.modeling import build_model

from dff_common.complexity import (
    PartCosts,
    cost_ratio,
    count_flops,
    flow_and_scale_macs,
    speedup,
    warp_macs,
)
from dff_detectron2.load import get_dff_cfg

__all__ = ["main", "model_zoo_part_macs"]

CONFIGS = os.path.join(
    os.path.dirname(__file__), "..", "..", "configs", "dff_detectron2", "model_zoo", "DFF_*.yaml"
)


@torch.no_grad()
def model_zoo_part_macs(cfg, size: tuple[int, int]) -> tuple[PartCosts, int, int]:
    """The Eq. 5 costs of the DFF model of ``cfg`` on one ``size`` frame, in multiply-adds.

    Args:
        cfg (CfgNode): a DFF config whose ROI heads are detectron2's ``Res5ROIHeads`` or
            ``StandardROIHeads``.
        size (tuple[int, int]): ``(H, W)`` of the resized frame, before padding.

    Returns:
        tuple: ``(costs, rpn_head, box_head_per_roi)``; ``costs.task_net`` is
        ``rpn_head + R * box_head_per_roi``.
    """
    model = build_model(get_dff_cfg(cfg, ["MODEL.DEVICE", "cpu"])).eval()
    divisor = max(model.backbone.size_divisibility, 1)
    height, width = (math.ceil(n / divisor) * divisor for n in size)
    features = model.feature_network(torch.zeros(1, 3, height, width))
    rpn = model.proposal_generator
    rpn_head = count_flops(lambda f: rpn.rpn_head([f[k] for k in rpn.in_features]), features)
    heads = model.roi_heads
    channels = features[heads.in_features[0]].shape[1]
    resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
    pooled = torch.zeros(1, channels, resolution, resolution)  # one RoI, pooled
    if hasattr(heads, "res5"):  # Res5ROIHeads (C4): res5, average pool, predictor
        box_head = count_flops(lambda x: heads.box_predictor(heads.res5(x).mean((2, 3))), pooled)
    else:
        box_head = count_flops(lambda x: heads.box_predictor(heads.box_head(x)), pooled)
    flow_size = [math.ceil(n * model.propagation.flow_input_scale) for n in (height, width)]
    flow, scale = flow_and_scale_macs(model.propagation.flow_net, torch.zeros(1, 3, *flow_size))
    costs = PartCosts(
        feature_net=count_flops(model.feature_network, torch.zeros(1, 3, height, width)),
        flow=flow,
        scale=scale,
        warp=sum(warp_macs(level.shape) for level in features.values()),
        task_net=rpn_head + cfg.MODEL.RPN.POST_NMS_TOPK_TEST * box_head,
    )
    return costs, rpn_head, box_head


def main(argv=None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=sorted(glob.glob(CONFIGS)))
    parser.add_argument("--size", nargs=2, type=int, default=(600, 1000), metavar=("H", "W"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lines = [
        f"GMACs per frame at {args.size[0]}x{args.size[1]} (R = RPN.POST_NMS_TOPK_TEST RoIs)",
        f"{'config':<32} {'N_feat':>7} {'F+S+W':>6} {'N_task':>7} {'(RPN':>6} "
        f"{'+ R x RoI)':>15} {'r':>6} {'Eq.7':>5} {'1/r':>5}",
    ]
    for path in args.configs:
        cfg = get_dff_cfg(path)
        costs, rpn_head, box_head = model_zoo_part_macs(cfg, tuple(args.size))
        r, interval = cost_ratio(costs), cfg.MODEL.DFF.KEY_FRAME_INTERVAL
        rois = cfg.MODEL.RPN.POST_NMS_TOPK_TEST
        lines.append(
            f"{os.path.splitext(os.path.basename(path))[0]:<32} {costs.feature_net / 1e9:7.1f} "
            f"{(costs.flow + costs.scale + costs.warp) / 1e9:6.1f} {costs.task_net / 1e9:7.1f} "
            f"{rpn_head / 1e9:6.1f} {f'+ {rois} x {box_head / 1e9:.3f}':>15} {r:6.3f} "
            f"{speedup(r, interval):5.2f} {1 / r:5.2f}"
        )
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
