"""Two CPU processes (gloo): DFFRCNN in DistributedDataParallel, a few SGD steps.

detectron2 0.6's ``launch`` / ``DefaultTrainer`` put one CUDA device on each process; this test
runs the same model code, data loader and ``SimpleTrainer.run_step`` under DDP on CPU.
"""

import itertools
import os
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import dff_detectron2  # noqa: F401

# isort: split
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.solver import build_optimizer
from torch.nn.parallel import DistributedDataParallel

from dff_common.synthetic.vid import make_synthetic_vid
from dff_detectron2.data.data_loader import build_dff_train_loader
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.data.datasets import register_imagenet_vid

STEPS = 2


def _worker(rank: int, root: str, out_dir: str, cfg):
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank, world_size=2
    )
    try:
        register_imagenet_vid(root, "ddpvid")
        torch.manual_seed(0)  # same initial weights on both ranks (DDP also broadcasts them)
        model = build_model(cfg)
        initial = {k: v.detach().clone() for k, v in model.named_parameters()}
        ddp = DistributedDataParallel(model, broadcast_buffers=False)
        loader = build_dff_train_loader(cfg, DFFPairDatasetMapper(cfg, is_train=True))
        trainer = SimpleTrainer(ddp, loader, build_optimizer(cfg, model))
        trainer.train(0, STEPS)
        images = [batch[0]["image_id"] for batch in itertools.islice(loader, 4)]
        params = {k: v.detach() for k, v in model.named_parameters()}
        torch.save(
            {"initial": initial, "final": params, "images": images}, f"{out_dir}/rank{rank}.pt"
        )
    finally:
        dist.destroy_process_group()


def test_ddp_steps_keep_parameters_equal_across_ranks(tiny_cfg, tmp_path):
    root = tmp_path / "vid"
    make_synthetic_vid(
        root, num_train_videos=3, num_val_videos=0, num_test_videos=0, num_frames=4,
        height=48, width=64, num_det_images=2, seed=2,
    )  # fmt: skip
    cfg = tiny_cfg(
        "DATASETS.TRAIN", ("ddpvid_vid_train", "ddpvid_det_train_30classes"),
        "MODEL.ROI_HEADS.NUM_CLASSES", 30,
        "MODEL.DFF.FEATURE.OUT_CHANNELS", 32,
        "SOLVER.IMS_PER_BATCH", 2,  # one pair per process
        "SOLVER.BASE_LR", 0.01,
        "SOLVER.WARMUP_ITERS", 0,
        "INPUT.MIN_SIZE_TRAIN", (48,),
        "SEED", 5,
    )  # fmt: skip
    cfg.freeze()
    mp.spawn(_worker, args=(str(root), str(tmp_path), cfg), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    assert ranks[0]["images"] != ranks[1]["images"]  # each rank draws its own pairs
    changed = 0
    for name, value in ranks[0]["final"].items():
        assert torch.equal(value, ranks[1]["final"][name]), f"{name} differs across ranks"
        changed += not torch.equal(value, ranks[0]["initial"][name])
    assert changed > 0.9 * len(ranks[0]["final"])  # the steps did update the parameters


def test_train_net_launches_two_cpu_processes(tmp_path):
    # tools/train_net.py --num-gpus 2 on a machine without CUDA: detectron2's launch over
    # gloo, each spawned process importing detectron2 before any plugin code
    make_synthetic_vid(
        tmp_path / "synthetic_vid", num_train_videos=2, num_val_videos=0, num_test_videos=0,
        num_frames=4, height=48, width=64, num_det_images=2, seed=3,
    )  # fmt: skip
    out_dir = tmp_path / "out"
    opts = [
        "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "0",
        "MODEL.DFF.FEATURE.OUT_CHANNELS", "32", "INPUT.MIN_SIZE_TRAIN", "(48,)",
        "DATASETS.TEST", "()", "OUTPUT_DIR", str(out_dir),
    ]  # fmt: skip
    config = "configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml"
    run = subprocess.run(
        [sys.executable, "tools/train_net.py", "--config", config, "--num-gpus", "2", *opts],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "DFF_DATASETS": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    log = (out_dir / "log.txt").read_text()
    assert "World size: 2" in log
    assert (out_dir / "log.txt.rank1").is_file()  # the second process trained too
    saved = torch.load(out_dir / "model_final.pth", map_location="cpu")
    assert saved["iteration"] == 1
