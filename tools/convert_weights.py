"""Write the initial weights of a DFF detectron2 model as one ``MODEL.WEIGHTS`` file.

    python tools/convert_weights.py --config configs/dff_detectron2/DFF_RFCN_R101_FlowNet.yaml \\
        --resnet checkpoints/resnet101-63fe2227.pth \\
        --flow checkpoints/flownet_flyingchairs_dff.pth \\
        --output checkpoints/dff_rfcn_r101_flownet_init.pth
    python tools/convert_weights.py --config CONFIG --base Frame/model_final.pth \\
        --flow FLOWNET.pth --output Frame+flownet.pth     # DFF fix N / separate from Frame

Like detectron2's ``tools/convert-torchvision-to-d2.py``: the ImageNet ResNet (torchvision
layout) and the FlowNet (Flying Chairs; mmflow, FlowNetPytorch or this project's layout) go
into the parameter names of the config's model, after the weights of ``--base`` (a detectron2
checkpoint) if given. Then train with ``MODEL.WEIGHTS OUTPUT``.
"""

import argparse

from dff_detectron2 import get_dff_cfg
from dff_detectron2.checkpoint.convert import initial_weights, save_weights


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the DFF YAML config of the model")
    parser.add_argument("--resnet", help="ImageNet ResNet-50/101 in torchvision's layout")
    parser.add_argument("--flow", help="FlowNetS weights (Flying Chairs)")
    parser.add_argument(
        "--flow-layout", default="auto", choices=("auto", "mmflow", "flownet_pytorch", "dff")
    )
    parser.add_argument(
        "--bgr-to-rgb",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reverse the flow net's input colours (mmflow BGR weights, or a BGR model); "
        "default: derived from the layout's colour order and INPUT.FORMAT",
    )
    parser.add_argument("--base", help="a detectron2 checkpoint to start from")
    parser.add_argument("--output", required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    if not (args.resnet or args.flow or args.base):
        parser.error("nothing to convert: give --resnet, --flow and/or --base")
    weights = initial_weights(
        get_dff_cfg(args.config, args.opts),
        resnet=args.resnet,
        flow=args.flow,
        flow_layout=args.flow_layout,
        bgr_to_rgb=args.bgr_to_rgb,
        base=args.base,
    )
    save_weights(weights, args.output, overwrite=args.overwrite)
    print(f"wrote {len(weights)} tensors to {args.output}; train with MODEL.WEIGHTS {args.output}")
    return args.output


if __name__ == "__main__":
    main()
