"""Table 4 of Zhu et al. (CVPR 2017) in miniature: Frame vs DFF vs feature copying, on a CPU.

Trains on the synthetic ImageNet-VID-layout set (``make_synthetic_vid``; written first if
missing) with ``configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml`` (or ``--config``, e.g. a
wrapped model-zoo detector) and prints the VID mAP (official protocol), COCO AP50 and frames
per second of the rows below, then the mAP by key distance d of those run by Algorithm 1,
with Frame on the same frames (``i mod l = d``) as the reference:

- Frame: the per-frame network N (Fig. 2a) on every frame;
- Frame (+it): Frame trained ``--dff-iters`` more on single frames with DFF's fine-tuning
  schedule, the control for DFF's longer training of N: the two have seen the same
  iterations at the same learning rates, as the paper's Frame and DFF do;
- DFF: N_feat on key frames every l = 10 frames, features propagated by the flow network
  (pre-trained on the synthetic Flying-Chairs-layout set, then trained end to end, Fig. 2b);
- DFF N (l=1): the DFF model's N on every frame, the control for its longer training of N;
- DFF N copy: the DFF model's N with the key frame's features reused unchanged (zero flow),
  the control for its trained flow;
- Copy: Frame (+it)'s network with the key frame's features reused unchanged (zero flow);
- SFF: Frame (+it)'s network with OpenCV DIS flow (hand-crafted, not trained; Table 3);
- Exact flow: Frame (+it)'s network with the exact motion of the validation videos (the set
  rendered again from its seed, :func:`~analysis_tools.detection_flow_error.use_exact_flow`), what
  the
  best possible F gives; "whole cells": that flow rounded to whole feature cells, a warp that
  moves features without interpolating them.

Frame trains ``--frame-iters`` iterations. DFF starts from the final Frame model (in place of
the paper's ImageNet initialisation of N_feat; F from the flow pre-training) and is trained
end to end on pairs for ``--dff-iters`` iterations at a tenth of the Frame learning rate, the
flow network at a further ``MODEL.DFF.FLOW.LR_FACTOR`` (0.1 in the synthetic config); at the
Frame rate the fine-tuning degrades N. Frame (+it) continues Frame on single frames with that
same schedule: compare DFF with it, since Frame is far from converged after ``--frame-iters``.
Speeds are model time per frame (data loading excluded), batch 1, on this machine.

``--train-videos`` defaults to 64: on 16 videos the flow network fits the training videos'
motion and does not generalise to the validation videos.

Existing ``<output>/{frame,frame-ft,dff}/model_final.pth`` are reused unless ``--retrain``.
The numbers also go to ``<output>/results.json`` (``tools/seed_table.py`` makes the README's
tables of several seeds' files). The steps are the functions of
:mod:`analysis_tools.detection`; the part costs of Eq. 5 come from
:func:`~analysis_tools.detection.part_costs`.

Usage::

    python tools/table4.py det [--flow-weights CHECKPOINT of tools/pretrain_flow.py]
        [--config SYNTHETIC_DFF_CONFIG]
"""

import argparse
import json
import os
import time

from detectron2.utils.logger import setup_logger

from analysis_tools.detection import (
    PREFIX,
    SYNTHETIC_BASE,
    evaluate,
    part_costs,
    prepare_synthetic_vid,
    schedule_opts,
    start_from,
    synthetic_cfg,
    train_or_load,
)
from analysis_tools.detection_flow_error import use_exact_flow
from dff_common.complexity import cost_ratio, speedup
from dff_common.reproducibility import seed_everything
from dff_common.scheduler import FixedIntervalScheduler
from dff_common.synthetic.vid import replay_synthetic_vid
from dff_common.timing import Timer
from dff_detectron2 import load_model
from dff_detectron2.engine.trainer import Trainer

__all__ = ["at_key_distances", "main", "parse_args", "train_runs"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        help="default datasets/synthetic_vid[<H>x<W>]_<train>x<val videos>_seed<seed> (the size "
        "when not 96x128), written if missing",
    )
    parser.add_argument(
        "--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"),
        help="frame size of the synthetic set written (e.g. 192 256 for the _192 config)",
    )  # fmt: skip
    parser.add_argument(
        "--flow-weights", default="work_dirs/dff_detectron2/flownet_half_synthchairs.pth"
    )
    parser.add_argument("--output", help="default work_dirs/dff_detectron2/table4_seed<seed>")
    parser.add_argument(
        "--config",
        default=SYNTHETIC_BASE,
        help="the synthetic DFF config (default: the R-FCN's; e.g. "
        "configs/dff_detectron2/model_zoo/Synthetic_DFF_FasterRCNN_R50_FPN.yaml)",
    )
    parser.add_argument("--frame-iters", type=int, default=600)
    parser.add_argument("--dff-iters", type=int, default=150)
    parser.add_argument("--retrain", action="store_true", help="ignore existing model_final.pth")
    parser.add_argument("--interval", type=int, default=10, help="key frame duration l")
    parser.add_argument("--train-videos", type=int, default=64)
    parser.add_argument(
        "--val-videos", type=int, default=20, help="mAP on 6 videos moved by 7 points between runs"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the data and every run")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (fixed: the numbers depend on it)"
    )
    args = parser.parse_args(argv)
    if args.frame_iters <= 0 or args.dff_iters <= 0:
        parser.error("--frame-iters and --dff-iters must be positive")
    if min(args.size) <= 0:
        parser.error(f"--size must be positive, got {args.size}")
    args.size = tuple(args.size)
    if args.data is None:
        default = args.size == tuple(parser.get_default("size"))  # named as before --size
        size = "" if default else "{}x{}".format(*args.size)
        args.data = (
            f"datasets/synthetic_vid{size}_{args.train_videos}x{args.val_videos}_seed{args.seed}"
        )
    args.output = args.output or f"work_dirs/dff_detectron2/table4_seed{args.seed}"
    return args


def at_key_distances(model, interval: int):
    """Tag a per-frame model's outputs with the key frame Algorithm 1 would propagate from at
    ``interval`` (``key_frame_idx``: ``i - i mod l``), so that its mAP by key distance is on
    the same frames as the DFF rows'."""

    schedule = FixedIntervalScheduler(interval)

    def tag(_, args, outputs):
        for inputs, output in zip(args[0], outputs):
            if "frame_idx" in inputs:
                output["key_frame_idx"] = schedule.key_frame(inputs["frame_idx"])

    model.register_forward_hook(tag)
    return model


def train_runs(args: argparse.Namespace, cfg) -> dict:
    """Train (or reuse) Frame, its control and DFF: ``{run: (config, model, final weights)}``.

    ``frame`` trains ``--frame-iters`` iterations; ``frame-ft`` (the Frame (+it) row) and
    ``dff`` both start from its final model with the same fine-tuning schedule
    (:func:`~analysis_tools.detection.schedule_opts`), on single frames and on pairs.

    Args:
        args (Namespace): :func:`parse_args`'s.
        cfg (Callable): ``cfg(run, *opts)``, the run's config under ``args.output``.
    """
    frame_opts = ("MODEL.DFF.MODE", "frame", "MODEL.DFF.TEST.MODE", "frame")
    frame_cfg = cfg("frame", *frame_opts, *schedule_opts(args.frame_iters, base=args.config))
    frame_final = os.path.join(frame_cfg.OUTPUT_DIR, "model_final.pth")
    trained = {"frame": (frame_cfg, train_or_load(frame_cfg, args.retrain), frame_final)}
    finetune = schedule_opts(args.dff_iters, finetune=True, base=args.config)
    runs = {
        "frame-ft": (cfg("frame-ft", *frame_opts, *finetune), ""),
        "dff": (cfg("dff", *finetune), args.flow_weights),
    }
    for run, (run_cfg, flow_weights) in runs.items():
        run_cfg = start_from(run_cfg, frame_final, flow_weights)
        final = os.path.join(run_cfg.OUTPUT_DIR, "model_final.pth")
        trained[run] = (run_cfg, train_or_load(run_cfg, args.retrain), final)
    return trained


def main(argv=None) -> dict:
    args = parse_args(argv)
    setup_logger(name="dff_detectron2")
    setup_logger()  # detectron2's
    settings = seed_everything(args.seed, deterministic=True, threads=args.threads)
    print(f"run: {settings}", flush=True)
    prepare_synthetic_vid(args.data, args.train_videos, args.val_videos, args.seed, args.size)

    def cfg(name: str, *opts):
        output = os.path.join(args.output, name)
        return synthetic_cfg(
            output, args.interval, args.seed, args.flow_weights, opts, base=args.config
        )

    start = time.perf_counter()
    trained = train_runs(args, cfg)
    frame_cfg, frame_model, _ = trained["frame"]
    control_cfg, control_model, control_final = trained["frame-ft"]
    dff_cfg, dff_model, dff_final = trained["dff"]
    train_minutes = (time.perf_counter() - start) / 60
    control = f"Frame (+{args.dff_iters} it)"
    rows = {
        "Frame": (frame_cfg, at_key_distances(frame_model, args.interval)),
        control: (control_cfg, at_key_distances(control_model, args.interval)),
        f"DFF (l={args.interval})": (dff_cfg, dff_model),
    }
    # the DFF model's N on every frame: what propagation costs DFF
    per_frame = cfg("dff-per-frame", "MODEL.DFF.TEST.MODE", "frame")
    rows["DFF N (l=1)"] = (per_frame, load_model(per_frame, dff_final))
    # ... and with zero flow: whether its trained flow beats reusing the key frame's features
    dff_copy = cfg("dff-copy", "MODEL.DFF.FLOW.NAME", "ZeroFlow")
    rows[f"DFF N copy (l={args.interval})"] = (dff_copy, load_model(dff_copy, dff_final))
    # Frame (+it)'s N, as much trained as DFF's, with an untrained F
    for flow, label in (("ZeroFlow", "Copy"), ("DISFlow", "SFF-DIS")):
        untrained = cfg(label.lower(), "MODEL.DFF.FLOW.NAME", flow)
        rows[f"{label} (l={args.interval})"] = (untrained, load_model(untrained, control_final))
    videos = replay_synthetic_vid(args.data, "val")
    for label, round_to_cells in (("Exact flow", False), ("Exact flow cells", True)):
        exact = cfg(label.lower().replace(" ", "-"), "MODEL.DFF.FLOW.NAME", "ZeroFlow")
        model = use_exact_flow(load_model(exact, control_final), videos, round_to_cells)
        rows[f"{label} (l={args.interval})"] = (exact, model)
    results = {label: evaluate(c, model) for label, (c, model) in rows.items()}
    lines = [
        f"Table 4 (synthetic ImageNet VID layout, {args.train_videos} train / {args.val_videos} "
        f"val videos of {args.size[0]}x{args.size[1]}; training {train_minutes:.1f} min in this "
        f"run; {settings})",
        f"{'method':<23} {'mAP':>6} {'slow':>6} {'medium':>6} {'fast':>6} {'AP50':>6} {'fps':>6}",
    ]
    for label, m in results.items():
        lines.append(
            f"{label:<23} {m['mAP']:6.1f} {m['mAP_slow']:6.1f} {m['mAP_medium']:6.1f} "
            f"{m['mAP_fast']:6.1f} {m['AP50_coco']:6.1f} {m['fps']:6.2f}"
        )
    distances = sorted(
        {k for m in results.values() for k in m if k.startswith("mAP_d")}, key=lambda k: int(k[5:])
    )
    if distances:  # the Algorithm 1 rows: where propagation loses accuracy
        lines += [
            "mAP by key distance d = i - k (frames of Algorithm 1 at that distance)",
            f"{'method':<23} " + " ".join(f"{k[4:]:>6}" for k in distances),
        ]
        for label, m in results.items():
            if distances[0] in m:
                lines.append(f"{label:<23} " + " ".join(f"{m[k]:6.1f}" for k in distances))
    image = next(iter(Trainer.build_test_loader(dff_cfg, PREFIX + "_vid_val")))[0]["image"]
    ms, macs = part_costs(dff_model.eval(), image, Timer(dff_cfg.MODEL.DEVICE))
    r_time, r_macs = cost_ratio(ms), cost_ratio(macs)
    lines += [
        f"DFF parts per frame (batch 1): N_feat {ms.feature_net:.1f} ms / "
        f"{macs.feature_net / 1e9:.2f} GMACs, F+S+W {ms.flow + ms.warp:.1f} ms / "
        f"{(macs.flow + macs.scale + macs.warp) / 1e9:.2f} GMACs, N_task {ms.task_net:.1f} ms / "
        f"{macs.task_net / 1e9:.2f} GMACs",
        f"Eq. 5: r = {r_time:.3f} (time), {r_macs:.3f} (MACs); Eq. 7 speedup at l={args.interval}: "
        f"{speedup(r_time, args.interval):.2f} (time), {speedup(r_macs, args.interval):.2f} (MACs)",
    ]
    print("\n".join(lines))
    path = os.path.join(args.output, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"results: {path}")
    return results


if __name__ == "__main__":
    main()
