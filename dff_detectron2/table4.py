"""Table 4 of Zhu et al. (CVPR 2017) in miniature: Frame vs DFF vs feature copying, on a CPU.

Trains on the synthetic ImageNet-VID-layout set (``make_synthetic_vid``; written first if
missing) with ``configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml`` and prints the VID mAP
(official protocol), COCO AP50 and frames per second of

- Frame: the per-frame network N (Fig. 2a) on every frame;
- DFF: N_feat on key frames every l = 10 frames, features propagated by the flow network
  (pre-trained on the synthetic Flying-Chairs-layout set, then trained end to end, Fig. 2b);
- DFF N (l=1): the DFF model's N on every frame, the control for its longer training of N;
- Copy: the Frame network with the key frame's features reused unchanged (zero flow);
- SFF: the Frame network with OpenCV DIS flow (hand-crafted, not trained; Table 3).

Frame trains ``--frame-iters`` iterations. DFF starts from the final Frame model (in place of
the paper's ImageNet initialisation of N_feat; F from the flow pre-training) and is trained
end to end on pairs for ``--dff-iters`` iterations at a tenth of the Frame learning rate, the
flow network at a further ``MODEL.DFF.FLOW.LR_FACTOR`` (0.1 in the synthetic config); at the
Frame rate the fine-tuning wrecked N (15 mAP per frame). Speeds are model time per frame
(data loading excluded), batch 1, on this machine.

``--train-videos`` defaults to 64: with 16 the flow network learned the training videos (a
400-iteration DFF: mAP with its flow 55.9 against 51.5 copying on the training videos, 18.1
against 20.6 on the validation videos), with 64 it generalises; Frame is then weaker after
the same iterations (the README has the runs).

Existing ``<output>/{frame,dff}/model_final.pth`` are reused unless ``--retrain``. The numbers
also go to ``<output>/results.json``.

Usage::

    python -m dff_detectron2.table4 [--flow-weights CHECKPOINT of tools/pretrain_flow.py]
"""

import argparse
import json
import logging
import os
import time

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import log_every_n_seconds, setup_logger

from dff_common.complexity import count_flops, speedup
from dff_common.data.imagenet_vid import make_synthetic_vid
from dff_detectron2.config import add_dff_config
from dff_detectron2.datasets import register_imagenet_vid
from dff_detectron2.train_net import Trainer

__all__ = ["component_costs", "cost_ratios", "evaluate", "load_model", "main"]

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "dff_detectron2")
BASE = os.path.join(CONFIG, "Base-DFF-RFCN-Synthetic.yaml")
PREFIX = "table4"


def _flow_opts(path: str) -> list:
    """FLOW.NAME / NORM of a ``tools/pretrain_flow.py`` checkpoint (its ``meta``)."""
    if not path:
        return []
    meta = torch.load(path, map_location="cpu", weights_only=True).get("meta", {})
    opts = ["MODEL.DFF.FLOW.NAME", meta["flow_net"]] if "flow_net" in meta else []
    if "norm" in meta:
        opts += ["MODEL.DFF.FLOW.NORM", meta["norm"] or ""]
    return opts


def _cfg(args, output_dir: str, *opts):
    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(BASE)
    cfg.merge_from_list(
        [
            "DATASETS.TRAIN", (f"{PREFIX}_vid_train", f"{PREFIX}_det_train_30classes"),
            "DATASETS.TEST", (f"{PREFIX}_vid_val",),
            "TEST.EVAL_PERIOD", 0,
            "MODEL.DFF.FLOW.WEIGHTS", args.flow_weights,
            *_flow_opts(args.flow_weights),
            "MODEL.DFF.KEY_FRAME_INTERVAL", args.interval,
            "OUTPUT_DIR", output_dir,
            "SEED", args.seed,
            *opts,
        ]
    )  # fmt: skip
    cfg.freeze()
    return cfg


def load_model(cfg, weights: str) -> torch.nn.Module:
    """The model of ``cfg`` with a trained checkpoint (keys it lacks keep their build values)."""
    model = Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(weights)
    return model


def _train(cfg, retrain: bool = False) -> torch.nn.Module:
    """Train with detectron2's trainer (no evaluation: ``DATASETS.TEST`` is emptied), or load
    ``OUTPUT_DIR/model_final.pth`` when it exists and not ``retrain``."""
    final = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    if os.path.isfile(final) and not retrain:
        logging.getLogger("dff_detectron2").info("reusing %s (--retrain trains again)", final)
        return load_model(cfg, final)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATASETS.TEST = ()
    cfg.freeze()
    seed_all_rng(None if cfg.SEED < 0 else cfg.SEED)  # as default_setup (train_net.py) seeds
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return trainer.model


def evaluate(cfg, model: torch.nn.Module) -> dict:
    """VID metrics and model time per frame on ``cfg.DATASETS.TEST[0]``.

    Returns:
        dict: ``mAP``, ``AP50_coco``, ``mAP_slow``/``medium``/``fast`` (percent) and ``fps``.
    """
    name = cfg.DATASETS.TEST[0]
    loader = Trainer.build_test_loader(cfg, name)
    evaluator = Trainer.build_evaluator(cfg, name, os.path.join(cfg.OUTPUT_DIR, "inference"))
    evaluator.reset()
    model.eval()
    model.reset_videos()
    seconds, frames = 0.0, 0
    with torch.no_grad():
        for inputs in loader:
            start = time.perf_counter()
            outputs = model(inputs)
            seconds += time.perf_counter() - start
            frames += len(inputs)
            evaluator.process(inputs, outputs)
            progress = f"{name}: {frames}/{len(loader)} frames"
            log_every_n_seconds(logging.INFO, progress, n=10, name="dff_detectron2")
    metrics = dict(evaluator.evaluate()["bbox"])
    metrics["fps"] = frames / seconds
    return metrics


def component_costs(model: torch.nn.Module, image: torch.Tensor, repeats: int = 10) -> dict:
    """Time and multiply-adds of N_feat, F + S + W and N_task on one frame (Eq. 5).

    Args:
        model (DFFRCNN): a DFF model (with a propagation module), in eval mode.
        image (Tensor): ``(3, H, W)`` a test frame (already resized).
        repeats (int): timed runs after one warm-up run.

    Returns:
        dict: ``{part: (milliseconds, MACs)}`` for "N_feat", "F+S+W", "N_task".
    """
    (images,) = model.preprocess_image([{"image": image}])
    frames = images.tensor
    with torch.no_grad():
        features = model.backbone.feature_part(frames)
        parts = {
            "N_feat": lambda: model.backbone.feature_part(frames),
            "F+S+W": lambda: model.propagation(features, frames, frames),
            "N_task": lambda: model.task_network(features, images),
        }
        costs = {}
        for name, run in parts.items():
            run()
            start = time.perf_counter()
            for _ in range(repeats):
                run()
            costs[name] = (1000 * (time.perf_counter() - start) / repeats, count_flops(run))
    return costs


def cost_ratios(costs: dict) -> tuple[float, float]:
    """r of Eq. 5, ``(F+S+W + N_task) / (N_feat + N_task)``, from :func:`component_costs`.

    Returns:
        tuple: r from the times and r from the multiply-adds.
    """
    (feat_ms, feat_macs), (prop_ms, prop_macs), (task_ms, task_macs) = costs.values()
    r_time = (prop_ms + task_ms) / (feat_ms + task_ms)
    r_macs = (prop_macs + task_macs) / (feat_macs + task_macs)
    return r_time, r_macs


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", help="default datasets/synthetic_vid_<train>x<val videos>, written if missing"
    )
    parser.add_argument(
        "--flow-weights", default="work_dirs/dff_detectron2/flownet_half_synthchairs.pth"
    )
    parser.add_argument("--output", default="work_dirs/dff_detectron2/table4")
    parser.add_argument("--frame-iters", type=int, default=600)
    parser.add_argument("--dff-iters", type=int, default=150)
    parser.add_argument("--retrain", action="store_true", help="ignore existing model_final.pth")
    parser.add_argument("--interval", type=int, default=10, help="key frame duration l")
    parser.add_argument("--train-videos", type=int, default=64)
    parser.add_argument(
        "--val-videos", type=int, default=20, help="mAP on 6 videos moved by 7 points between runs"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.frame_iters <= 0 or args.dff_iters <= 0:
        parser.error("--frame-iters and --dff-iters must be positive")
    if args.data is None:
        args.data = f"datasets/synthetic_vid_{args.train_videos}x{args.val_videos}"
    setup_logger(name="dff_detectron2")
    setup_logger()  # detectron2's
    if not os.path.isdir(args.data):
        make_synthetic_vid(
            args.data, num_train_videos=args.train_videos, num_val_videos=args.val_videos,
            num_test_videos=0, num_frames=30, num_det_images=args.train_videos, seed=args.seed,
        )  # fmt: skip
    register_imagenet_vid(args.data, PREFIX)
    frame_dir, dff_dir = (os.path.join(args.output, n) for n in ("frame", "dff"))
    start = time.perf_counter()
    frame_opts = ["MODEL.DFF.MODE", "frame", "MODEL.DFF.TEST.MODE", "frame"]
    frame_cfg = _cfg(
        args, frame_dir, *frame_opts, "SOLVER.MAX_ITER", args.frame_iters,
        "SOLVER.STEPS", (int(0.75 * args.frame_iters),),
    )  # fmt: skip
    frame_model = _train(frame_cfg, args.retrain)
    final = os.path.join(frame_dir, "model_final.pth")
    dff_cfg = _cfg(
        args, dff_dir, "SOLVER.MAX_ITER", args.dff_iters, "SOLVER.BASE_LR",
        frame_cfg.SOLVER.BASE_LR / 10, "SOLVER.STEPS", (int(0.75 * args.dff_iters),),
        "SOLVER.WARMUP_ITERS", 0, "MODEL.WEIGHTS", final,
    )  # fmt: skip
    dff_model = _train(dff_cfg, args.retrain)
    train_minutes = (time.perf_counter() - start) / 60
    rows = {
        "Frame": (frame_cfg, frame_model),
        f"DFF (l={args.interval})": (dff_cfg, dff_model),
    }
    # the DFF model's N on every frame: what propagation costs DFF (DFF trains N longer)
    cfg = _cfg(args, os.path.join(args.output, "dff-per-frame"), "MODEL.DFF.TEST.MODE", "frame")
    rows["DFF N (l=1)"] = (cfg, load_model(cfg, os.path.join(dff_dir, "model_final.pth")))
    for mode, label in (("copy", "Copy"), ("sff", "SFF-DIS")):
        cfg = _cfg(args, os.path.join(args.output, mode), "MODEL.DFF.MODE", mode)
        rows[f"{label} (l={args.interval})"] = (cfg, load_model(cfg, final))  # no trained flow
    results = {label: evaluate(cfg, model) for label, (cfg, model) in rows.items()}
    lines = [
        f"Table 4 (synthetic ImageNet VID layout, {args.train_videos} train / {args.val_videos} "
        f"val videos; training {train_minutes:.1f} min in this run, "
        f"{torch.get_num_threads()} threads)",
        f"{'method':<16} {'mAP':>6} {'slow':>6} {'medium':>6} {'fast':>6} {'AP50':>6} {'fps':>6}",
    ]
    for label, m in results.items():
        lines.append(
            f"{label:<16} {m['mAP']:6.1f} {m['mAP_slow']:6.1f} {m['mAP_medium']:6.1f} "
            f"{m['mAP_fast']:6.1f} {m['AP50_coco']:6.1f} {m['fps']:6.2f}"
        )
    costs = component_costs(
        dff_model, next(iter(Trainer.build_test_loader(dff_cfg, PREFIX + "_vid_val")))[0]["image"]
    )
    r_time, r_macs = cost_ratios(costs)
    lines += [
        "DFF parts per frame (batch 1): "
        + ", ".join(f"{k} {ms:.1f} ms / {macs / 1e9:.2f} GMACs" for k, (ms, macs) in costs.items()),
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
