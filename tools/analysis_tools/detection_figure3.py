"""Figure 3 (top) in miniature: VID mAP and speed of DFF over the key frame duration l and the
flow network F, on the synthetic ImageNet-VID-layout set of ``analysis_tools.detection_table4``.

Frame and the FlowNet Half DFF are that script's models (or given); DFF with another F is
fine-tuned from that Frame model as its DFF run (:func:`finetune_dff`), F pre-trained on the
synthetic Flying-Chairs-layout set. Each model is evaluated with detectron2's evaluator
(:func:`analysis_tools.detection.evaluate`: VID mAP and model frames per second) at every l
(``MODEL.DFF.KEY_FRAME_INTERVAL``); r of Eq. 5 from the parts timed alone and from
multiply-adds (:func:`analysis_tools.detection.part_costs`). ``tools/figure3.py`` draws it.
"""

# ruff: noqa: E741 (l is the paper's key frame duration length)
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from detectron2.utils.logger import setup_logger

from analysis_tools.detection import (
    PREFIX,
    evaluate,
    part_costs,
    schedule_opts,
    start_from,
    synthetic_cfg,
    train_or_load,
)
from dff_common.complexity import cost_ratio
from dff_common.flow_nets import FLOW_NETS
from dff_common.timing import Timer
from dff_detectron2 import load_model
from dff_detectron2.data.datasets import register_imagenet_vid
from dff_detectron2.engine.trainer import Trainer

__all__ = ["finetune_dff", "sweep"]

LOG = logging.getLogger("figure3")
FRAME_OPTS = ("MODEL.DFF.MODE", "frame", "MODEL.DFF.TEST.MODE", "frame")


def finetune_dff(flow_net: str, flow_weights: str, frame_weights: str, output: str, iters: int):
    """Fine-tune DFF with F = ``flow_net`` (from ``flow_weights``) from the Frame detector as
    ``analysis_tools.detection_table4``'s DFF run; writes ``output/model_final.pth``."""
    LOG.info("fine-tuning DFF detection with %s from %s -> %s", flow_net, frame_weights, output)
    cfg = synthetic_cfg(output, 10, 0, flow_weights, schedule_opts(iters, finetune=True))
    train_or_load(start_from(cfg, frame_weights, flow_weights), retrain=True)


def sweep(
    data: str,
    table4_dir: str,
    work_dir: str,
    flow_nets: Sequence[str],
    intervals: Sequence[int],
    flow_checkpoint: Callable[[str], str],
    dff_iters: int,
    frame_weights: str | None = None,
    dff_weights: Mapping[str, str] | None = None,
    retrain: bool = False,
) -> dict:
    """Frame once, DFF with each flow network at every l.

    Args:
        data (str): the synthetic set of ``analysis_tools.detection_table4`` (its ``--data``).
        table4_dir (str): its ``--output``, holding ``frame/`` and ``dff/`` (FlowNet Half).
        work_dir (str): where the fine-tuned models and evaluations go.
        flow_nets (Sequence[str]): names of ``dff_common.flow_nets.FLOW_NETS``.
        intervals (Sequence[int]): key frame durations l, ascending.
        flow_checkpoint (Callable[[str], str]): flow net name -> its Flying Chairs
            pre-training (run when missing), which a DFF fine-tuning starts from.
        dff_iters (int): iterations of a DFF fine-tuning.
        frame_weights (str, optional): the Frame model; defaults to ``table4_dir``'s.
        dff_weights (Mapping[str, str], optional): flow net -> a trained DFF model to use.
        retrain (bool): fine-tune again.

    Returns:
        dict: ``{"frame": {"accuracy", "checkpoint"}, "curves": {flow net: {"checkpoint",
        "accuracy": {l: mAP}, "fps": {l: fps}, "frame_fps", "r_time", "r_macs"}}, "setting"}``.

    Raises:
        FileNotFoundError: a model to use is missing.
    """
    table4_dir = Path(table4_dir)
    frame_weights = frame_weights or str(table4_dir / "frame" / "model_final.pth")
    given = dict(dff_weights or {})
    if "flownet_half" not in given and (table4_dir / "dff" / "model_final.pth").is_file():
        given["flownet_half"] = str(table4_dir / "dff" / "model_final.pth")
    for path in (frame_weights, *given.values()):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} not found: run python tools/table4.py det first")
    setup_logger(name="dff_detectron2")
    register_imagenet_vid(data, PREFIX)
    output = str(Path(work_dir) / "det")

    def evaluated(weights: str, interval: int, *opts):
        cfg = synthetic_cfg(output, interval, opts=opts)
        model = load_model(cfg, weights)
        return cfg, model, evaluate(cfg, model)

    frame = evaluated(frame_weights, 1, *FRAME_OPTS)[2]
    LOG.info("Frame: mAP %.2f, %.2f fps", frame["mAP"], frame["fps"])
    curves = {}
    for name in flow_nets:
        weights = given.get(name)
        if weights is None:
            output_dir = Path(work_dir) / f"det_dff_{name}"
            weights = str(output_dir / "model_final.pth")
            if retrain or not Path(weights).is_file():
                flow = flow_checkpoint(name)
                finetune_dff(name, flow, frame_weights, str(output_dir), dff_iters)
        metrics = {}
        for l in intervals:
            flow_name = FLOW_NETS[name].__name__
            cfg, model, metrics[l] = evaluated(weights, l, "MODEL.DFF.FLOW.NAME", flow_name)
            LOG.info(
                "%s: l = %d, mAP %.2f, %.2f fps", name, l, metrics[l]["mAP"], metrics[l]["fps"]
            )
        image = next(iter(Trainer.build_test_loader(cfg, cfg.DATASETS.TEST[0])))[0]["image"]
        ms, macs = part_costs(model, image, Timer(cfg.MODEL.DEVICE))
        curves[name] = {
            "checkpoint": weights,
            "accuracy": {l: m["mAP"] for l, m in metrics.items()},
            "fps": {l: m["fps"] for l, m in metrics.items()},
            "frame_fps": frame["fps"],
            "r_time": cost_ratio(ms),
            "r_macs": cost_ratio(macs),
        }
    return {
        "frame": {"accuracy": frame["mAP"], "checkpoint": frame_weights},
        "curves": curves,
        "setting": "synthetic ImageNet VID layout, VID mAP of the val videos",
    }
