"""mIoU overall and per key-frame distance (DFF Sec. 5.2 evaluation protocol)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class KeyDistanceIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` over all evaluated pairs, plus the mIoU at each key distance.

    Sec. 5.2 scores the ``l`` pairs ``(k, i)``, ``k = i-l+1 .. i``, of every annotated frame
    ``i``; the overall numbers (``aAcc``, ``mIoU``, ``mAcc``) are ``IoUMetric``'s over all of
    them. Each prediction's ``key_distance = i - k`` (from the data sample's metainfo; in
    stream mode the model sets it) also files it under ``mIoU_d{i - k}``, which shows how the
    accuracy decays with propagation length (``mIoU_d0`` is the per-frame network).

    Args:
        **kwargs: ``IoUMetric``'s (``ignore_index``, ``iou_metrics``, ``format_only``, ...).
    """

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add each sample's intersection/union areas, tagged with its key distance."""
        first = len(self.results)
        super().process(data_batch, data_samples)
        if self.format_only:
            return
        for offset, sample in enumerate(data_samples):
            if "key_distance" not in sample:
                raise KeyError(
                    f"data sample of {sample.get('img_path')} has no 'key_distance' metainfo "
                    "(add it to PackSegInputs' meta_keys)"
                )
            self.results[first + offset] = (*self.results[first + offset], sample["key_distance"])

    def compute_metrics(self, results: list) -> dict[str, float]:
        """``IoUMetric``'s metrics over all pairs, plus ``mIoU_d{distance}`` per distance."""
        metrics = super().compute_metrics([r[:4] for r in results])
        distances = np.array([r[4] for r in results])
        rows = []
        for distance in sorted(set(distances.tolist())):
            chosen = [r for r, d in zip(results, distances) if d == distance]
            areas = [sum(r[j] for r in chosen) for j in range(4)]
            iou = self.total_area_to_metrics(*areas, ["mIoU"], self.nan_to_num, self.beta)["IoU"]
            metrics[f"mIoU_d{distance}"] = round(float(np.nanmean(iou)) * 100, 2)
            rows.append(f"{distance:>12d} {len(chosen):>8d} {metrics[f'mIoU_d{distance}']:>8.2f}")
        header = f"{'key distance':>12s} {'pairs':>8s} {'mIoU':>8s}"
        print_log(
            "mIoU per key-frame distance:\n" + "\n".join([header, *rows]),
            logger=MMLogger.get_current_instance(),
        )
        return metrics
