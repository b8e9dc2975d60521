"""Figure 3 (bottom) in miniature: mIoU and speed of DFF over the key frame duration l and the
flow network F, on the synthetic Cityscapes-layout set of ``analysis_tools.segmentation_table4``.

- models: Frame and DFF-from-Frame with FlowNet are that script's runs (reused; trained when
  missing); for another F, DFF is fine-tuned from the Frame checkpoint as the "dff-ft" run, F
  swapped and pre-trained on the synthetic Flying-Chairs-layout set (:func:`finetune_dff`).
- accuracy: one Sec. 5.2 evaluation at ``L = max(intervals)`` with ``IntervalIoUMetric`` gives
  the mIoU at every l <= L (the pooled pairs of key distances ``d < l``).
- speed: Algorithm 1 timed per part (:func:`analysis_tools.segmentation.time_segmentor`) on the
first
  snippets at every l, and Frame as the reference, in interleaved rounds
  (:func:`dff_common.timing.time_interleaved`); r of Eq. 5 from the part times of the same
  runs pooled over all l, and from multiply-adds (``measure_complexity``).

``tools/figure3.py`` draws it.
"""

# ruff: noqa: E741 (l is the paper's key frame duration length)
from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from analysis_tools.segmentation import (
    METHODS,
    TRAININGS,
    checkpoint_of,
    evaluate,
    load_segmentor,
    prepare,
    run_options,
    time_segmentor,
    train,
    train_run,
    val_snippets,
)
from dff_common.complexity import cost_ratio, measure_complexity
from dff_common.flow_pretraining import read_flow_meta
from dff_common.timing import Timer, time_interleaved

__all__ = ["evaluate_intervals", "finetune_dff", "sweep"]

LOG = logging.getLogger("figure3")
FRAME_CONFIG = METHODS["Frame"][0]
DFF_CONFIG = METHODS["DFF (N from Frame)"][0]


def finetune_dff(
    flow_net: str, flow_checkpoint: str, data: str, table4_dir: str, output: Path
) -> None:
    """Fine-tune DFF with F = ``flow_net`` (from ``flow_checkpoint``) from ``table4_dir``'s
    Frame checkpoint as ``analysis_tools.segmentation_table4``'s "dff-ft" run, into ``output``."""
    config, iters, init = TRAININGS["dff-ft"]
    LOG.info("fine-tuning DFF with %s (%d iterations) -> %s", flow_net, iters, output)
    options = run_options(config, data, flow_net, flow_checkpoint)
    train(config, output, {**options, "load_from": str(checkpoint_of(init, table4_dir))})


def evaluate_intervals(
    config: str, checkpoint: str, flow: tuple[str, str] | None, interval: int, data: str, work_dir
) -> dict:
    """Sec. 5.2 metrics at ``interval`` with ``IntervalIoUMetric`` (``mIoU_l{l}``, l <= interval)
    through the Runner's test loop; ``flow`` is ``(flow net, its pre-training)``, None for Frame."""
    name, flow_checkpoint = flow or ("frame", None)
    options = run_options(config, data, flow and name, flow_checkpoint)
    options.update(
        {
            "model.interval": interval,
            "test_dataloader.dataset.interval": interval,
            "test_evaluator.type": "IntervalIoUMetric",
        }
    )
    return evaluate(config, checkpoint, Path(work_dir) / f"eval_{name}", options)


def _log_round(round_: int, interval: int, timing) -> None:
    setting = f"l = {interval}" if interval else "Frame"
    LOG.info("round %d, %s: %.2f fps", round_, setting, timing.fps)


def sweep(
    data: str,
    table4_dir: str,
    work_dir: str,
    flow_nets: Sequence[str],
    intervals: Sequence[int],
    flow_checkpoint: Callable[[str], str],
    time_snippets: int,
    rounds: int,
    retrain: bool = False,
) -> dict:
    """Train what is missing, evaluate once at max(l), time every l.

    Args:
        data (str): the synthetic set of ``analysis_tools.segmentation_table4`` (its ``--data``).
        table4_dir (str): its ``--work-dir`` (Frame and the FlowNet DFF).
        work_dir (str): where the other DFF runs and the evaluations go.
        flow_nets (Sequence[str]): names of ``dff_common.flow_nets.FLOW_NETS``.
        intervals (Sequence[int]): key frame durations l, ascending.
        flow_checkpoint (Callable[[str], str]): flow net name -> its Flying Chairs
            pre-training (run when missing); "flownet"'s is
            ``analysis_tools.segmentation_table4``'s.
        time_snippets (int): val snippets timed per l.
        rounds (int): interleaved timing rounds (the median run kept).
        retrain (bool): train Frame and the DFF runs again.

    Returns:
        dict: ``{"frame": {"accuracy", "checkpoint"}, "curves": {flow net: {"checkpoint",
        "accuracy": {l: mIoU}, "fps": {l: fps}, "row_extras": {l: {...}}, "frame_fps",
        "r_time", "r_macs", ...}}, "setting"}``.
    """
    prepare(data, flow_checkpoint("flownet"), "flownet")
    frame_checkpoint = str(train_run("frame", table4_dir, data, None, None, retrain))
    snippets = val_snippets(data)[:time_snippets]
    frames = sum(len(s) for s in snippets)
    frame_accuracy = evaluate_intervals(FRAME_CONFIG, frame_checkpoint, None, 1, data, work_dir)
    frame_model = load_segmentor(FRAME_CONFIG, frame_checkpoint)
    trained = {}
    for name in flow_nets:
        pretrained = flow_checkpoint(name)
        if name == "flownet":  # analysis_tools.segmentation_table4's run
            run = train_run("dff-ft", table4_dir, data, name, pretrained, retrain)
        else:
            run = Path(work_dir) / f"dff-ft_{name}" / f"iter_{TRAININGS['dff-ft'][1]}.pth"
            if retrain or not run.is_file():
                finetune_dff(name, pretrained, data, table4_dir, run.parent)
        trained[name] = pretrained, str(run)
    timer = Timer()
    curves = {}
    for name, (pretrained, checkpoint) in trained.items():
        LOG.info("%s: evaluating %s at l = %d", name, checkpoint, max(intervals))
        flow = (name, pretrained)
        metrics = evaluate_intervals(DFF_CONFIG, checkpoint, flow, max(intervals), data, work_dir)
        model = load_segmentor(DFF_CONFIG, checkpoint, name)
        runs = {0: functools.partial(time_segmentor, frame_model, snippets, timer)}  # Frame
        for l in intervals:
            runs[l] = functools.partial(time_segmentor, model, snippets, timer, l)
        best = time_interleaved(runs, rounds, _log_round)
        frame_fps = best.pop(0).fps
        report_macs = measure_complexity(
            model.n_feat(), model.propagation.flow_net, model.n_task(), snippets[0].shape[-2:],
            model.propagation.flow_input_scale,
        )  # fmt: skip
        per_distance = [metrics[f"mIoU_d{d}"] for d in range(max(intervals))]
        pooled = functools.reduce(operator.add, best.values())
        meta = read_flow_meta(pretrained)
        curves[name] = {
            "checkpoint": checkpoint,
            "flow_pretrain": {k: meta[k] for k in ("iters", "epe", "zero_flow_epe")},
            "accuracy": {l: metrics[f"mIoU_l{l}"] for l in intervals},
            "fps": {l: timing.fps for l, timing in best.items()},
            "row_extras": {  # for comparison: the plain mean of the per-distance mIoUs
                l: {
                    "accuracy_mean_of_distances": float(np.mean(per_distance[:l])),
                    **{f"{part} ms": ms for part, ms in timing.ms_per_frame().items()},
                }
                for l, timing in best.items()
            },
            "frame_fps": frame_fps,
            "r_time": cost_ratio(pooled.part_costs()),
            "r_macs": cost_ratio(report_macs),
            "mIoU_per_distance": per_distance,
        }
    return {
        "frame": {"accuracy": float(frame_accuracy["mIoU"]), "checkpoint": frame_checkpoint},
        "curves": curves,
        "setting": f"synthetic Cityscapes layout, mIoU of {max(intervals)} pairs per val snippet,"
        f" {frames} frames timed",
    }
