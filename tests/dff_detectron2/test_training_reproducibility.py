"""The same seed trains the same DFF detector and scores the same numbers (CPU, one thread)."""

import random

import numpy as np
import pytest
import torch

from dff_common.reproducibility import seed_everything
from dff_detectron2.engine.trainer import Trainer

OPTS = [
    "DATASETS.TRAIN", ("seedvid_vid_train", "seedvid_det_train_30classes"),
    "DATASETS.TEST", ("seedvid_vid_val",),
    "MODEL.ROI_HEADS.NUM_CLASSES", 30,
    "MODEL.DFF.KEY_FRAME_INTERVAL", 3,
    "MODEL.DFF.KEY_OFFSET_RANGE", (-2, 0),
    "SOLVER.IMS_PER_BATCH", 2,
    "SOLVER.MAX_ITER", 3,
    "SOLVER.WARMUP_ITERS", 0,
    "SOLVER.STEPS", (),
    "INPUT.MIN_SIZE_TRAIN", (48,),
    "INPUT.MIN_SIZE_TEST", 48,
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def _train_and_test(tiny_cfg, output_dir, seed):
    """seed_everything, then detectron2's trainer and evaluation, as the table4 tool runs them.
    Every generator is first moved on by a different amount, so only the seeding can make two
    runs agree: pair sampling, flips, VID/DET mixing, initial weights and RoI sampling draw
    from them."""
    for _ in range(seed + int(output_dir.name[-1])):
        random.random(), np.random.rand(), torch.rand(1)
    cfg = tiny_cfg(*OPTS, "SEED", seed, "OUTPUT_DIR", str(output_dir))
    cfg.freeze()
    seed_everything(cfg.SEED, deterministic=True, threads=1)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return state, Trainer.test(cfg, trainer.model)  # one test set: its results


def test_a_shortened_job_twice_gives_identical_weights_and_numbers(
    tiny_cfg, synthetic_vid, tmp_path
):
    synthetic_vid(
        "seedvid", num_train_videos=2, num_val_videos=1, num_test_videos=0, num_frames=6,
        height=48, width=64, num_det_images=2, seed=0,
    )  # fmt: skip
    first, first_metrics = _train_and_test(tiny_cfg, tmp_path / "run1", seed=0)
    second, second_metrics = _train_and_test(tiny_cfg, tmp_path / "run2", seed=0)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    np.testing.assert_equal(second_metrics, first_metrics)  # NaN (classes absent) == NaN
    assert np.isfinite(first_metrics["bbox"]["mAP"])

    other, _ = _train_and_test(tiny_cfg, tmp_path / "run3", seed=1)
    trained = "roi_heads.cls_score_maps.weight"
    assert not torch.equal(other[trained], first[trained])
