"""DefaultTrainer-based training on the synthetic set, checkpoint resume (torch 2.14) and main()."""

import os

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer

from dff_common.synthetic.vid import make_synthetic_vid
from dff_detectron2.data.datasets import register_imagenet_vid
from dff_detectron2.engine.trainer import Trainer
from train_net import train_detectron2 as main

OPTS = [
    "DATASETS.TRAIN", ("tinyvid_vid_train", "tinyvid_det_train_30classes"),
    "DATASETS.TEST", ("tinyvid_vid_val",),
    "SOLVER.IMS_PER_BATCH", 1,
    "MODEL.ROI_HEADS.NUM_CLASSES", 30,
    "SOLVER.WARMUP_ITERS", 0,
    "SOLVER.STEPS", (),
    "MODEL.DFF.FEATURE.OUT_CHANNELS", 64,
    "MODEL.DFF.FLOW.NAME", "FlowNetHalf",
    "MODEL.DFF.FLOW.NORM", "",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", 20,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 20,
    "MODEL.DFF.KEY_FRAME_INTERVAL", 2,
    "INPUT.MIN_SIZE_TRAIN", (48,),
    "INPUT.MIN_SIZE_TEST", 48,
]  # fmt: skip


@pytest.fixture(scope="module")
def tinyvid(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinyvid")
    make_synthetic_vid(
        root, num_train_videos=2, num_val_videos=1, num_test_videos=0, num_frames=4,
        height=48, width=64, num_det_images=2, seed=1,
    )  # fmt: skip
    register_imagenet_vid(root, "tinyvid")
    return root


def _cfg(tiny_cfg, output_dir, *opts):
    cfg = tiny_cfg(*OPTS, "OUTPUT_DIR", str(output_dir), *opts)
    cfg.freeze()
    return cfg


def test_train_checkpoint_and_resume(tiny_cfg, tinyvid, tmp_path):
    no_eval = ("DATASETS.TEST", ())  # the final evaluation is tested below
    cfg = _cfg(tiny_cfg, tmp_path, "SOLVER.MAX_ITER", 2, "SOLVER.CHECKPOINT_PERIOD", 1, *no_eval)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert (tmp_path / "model_final.pth").is_file()
    # detectron2's checkpoints load under torch.load's weights_only default (torch >= 2.6)
    saved = torch.load(tmp_path / "model_final.pth", map_location="cpu")
    assert saved["iteration"] == 1 and "optimizer" in saved["trainer"]
    assert saved["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 2
    final = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    resumed = Trainer(_cfg(tiny_cfg, tmp_path, "SOLVER.MAX_ITER", 3, *no_eval))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 2
    for key, value in resumed.model.state_dict().items():
        assert torch.equal(value, final[key]), key
    assert resumed.scheduler.last_epoch == trainer.scheduler.last_epoch
    momentum = trainer.optimizer.state_dict()["state"]
    restored = resumed.optimizer.state_dict()["state"]
    assert len(momentum) > 0 and restored.keys() == momentum.keys()
    for key in momentum:
        assert torch.equal(restored[key]["momentum_buffer"], momentum[key]["momentum_buffer"])
    resumed.train()  # runs iteration 2 only
    assert resumed.iter == 3
    weight = "roi_heads.cls_score_maps.weight"
    assert not torch.equal(resumed.model.state_dict()[weight], final[weight])


def test_eval_only_main_evaluates_and_writes_the_submission(tiny_cfg, tinyvid, tmp_path):
    model = Trainer.build_model(_cfg(tiny_cfg, tmp_path))
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("tiny")
    args = ["--config", "configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml", "--eval-only"]
    opts = [str(v) if not isinstance(v, tuple) else repr(v) for v in OPTS]
    main([*args, *opts, "OUTPUT_DIR", str(tmp_path), "MODEL.WEIGHTS", str(tmp_path / "tiny.pth")])
    submission = tmp_path / "inference" / "tinyvid_vid_val_submission.txt"
    lines = submission.read_text().splitlines()
    assert lines and all(len(line.split()) == 7 for line in lines)
    assert {int(line.split()[0]) for line in lines} <= {1, 2, 3, 4}  # val.txt frame indices
    assert os.path.isfile(tmp_path / "config.yaml")


def test_flow_and_scale_lr_factors_scale_only_f_and_s_through_the_schedule(tiny_cfg):
    cfg = tiny_cfg(
        "MODEL.DFF.FLOW.LR_FACTOR", 0.1, "MODEL.DFF.FLOW.SCALE_LR_FACTOR", 3.0,
        "SOLVER.BASE_LR", 0.02, "SOLVER.BIAS_LR_FACTOR", 2.0,
        "SOLVER.WARMUP_ITERS", 10, "SOLVER.WARMUP_FACTOR", 0.5,
    )  # fmt: skip
    model = Trainer.build_model(cfg)
    optimizer = Trainer.build_optimizer(cfg, model)
    scheduler = Trainer.build_lr_scheduler(cfg, optimizer)
    flow = {id(p) for p in model.propagation.parameters()}
    names = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in optimizer.param_groups:
        for p in group["params"]:
            expected = 0.02 * (2.0 if names[id(p)].endswith(".bias") else 1.0)
            if names[id(p)].startswith("propagation.flow_net.scale_field."):
                expected *= 3.0
            elif id(p) in flow:
                expected *= 0.1
            assert group["lr"] == pytest.approx(0.5 * expected), names[id(p)]  # warm-up start
            seen.add(id(p))
    assert seen == {id(p) for p in model.parameters() if p.requires_grad}
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    lrs = {names[id(p)]: g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert lrs["propagation.flow_net.conv1.conv.weight"] == pytest.approx(0.002)
    assert lrs["propagation.flow_net.scale_field.weight"] == pytest.approx(0.06)
    assert lrs["propagation.flow_net.scale_field.bias"] == pytest.approx(0.12)
    assert lrs["backbone.net.body.conv1.weight"] == pytest.approx(0.02)


def test_table4_reuses_a_final_model_and_retrains_only_when_asked(tiny_cfg, tinyvid, tmp_path):
    from analysis_tools.detection import train_or_load

    no_eval = ("DATASETS.TEST", ())
    cfg = _cfg(tiny_cfg, tmp_path, "SOLVER.MAX_ITER", 1, *no_eval)
    saved = Trainer.build_model(cfg)
    DetectionCheckpointer(saved, save_dir=str(tmp_path)).save("model_final")
    before = (tmp_path / "model_final.pth").stat().st_mtime_ns
    reused = train_or_load(cfg)  # loads the file, trains nothing
    for key, value in saved.state_dict().items():
        assert torch.equal(reused.state_dict()[key], value), key
    assert (tmp_path / "model_final.pth").stat().st_mtime_ns == before
    retrained = train_or_load(cfg, retrain=True)
    weight = "roi_heads.cls_score_maps.weight"
    assert not torch.equal(retrained.state_dict()[weight], saved.state_dict()[weight])
    assert (tmp_path / "model_final.pth").stat().st_mtime_ns != before


def test_table4_evaluate_matches_detectron2s_test_loop(tiny_cfg, tinyvid, tmp_path, caplog):
    """table4's own loop (which times the model alone) scores like DefaultTrainer.test."""
    from analysis_tools.detection import evaluate, part_costs
    from dff_common.complexity import PartCosts, cost_ratio
    from dff_common.timing import Timer

    cfg = _cfg(tiny_cfg, tmp_path, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0)
    torch.manual_seed(0)
    model = Trainer.build_model(cfg)
    reference = Trainer.test(cfg, model)["bbox"]
    with caplog.at_level("INFO", logger="dff_detectron2"):
        metrics = evaluate(cfg, model)
    assert "tinyvid_vid_val: 1/4 frames" in caplog.text  # progress
    scores = {k: v for k, v in metrics.items() if k != "fps"}
    assert scores == pytest.approx(
        dict(reference), rel=0, abs=0, nan_ok=True
    )  # classes absent: nan
    assert metrics["fps"] > 0 and reference["mAP"] >= 0
    image = next(iter(Trainer.build_test_loader(cfg, "tinyvid_vid_val")))[0]["image"]
    ms, macs = part_costs(model.eval(), image, Timer(), repeats=1)
    prop_ms, prop_macs = ms.flow + ms.scale + ms.warp, macs.flow + macs.scale + macs.warp
    assert ms.feature_net > 0 and prop_ms > 0
    assert macs.feature_net > prop_macs > macs.task_net > 0
    assert ms.scale == 0 and macs.scale > 0 and macs.warp > 0  # F + S timed in one forward
    # Eq. 5: (F+S+W + N_task) / (N_feat + N_task), in time and in MACs
    assert cost_ratio(PartCosts(9.0, 2.0, 0, 0, 1.0)) == pytest.approx(0.3)  # ms
    assert cost_ratio(PartCosts(90, 5, 0, 0, 10)) == pytest.approx(0.15)  # MACs


def test_training_refuses_an_output_dir_with_checkpoints_unless_resumed_or_overwritten(
    tinyvid, tmp_path
):
    opts = [str(v) if not isinstance(v, tuple) else repr(v) for v in OPTS]
    config = ["--config", "configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml"]
    run = [*config, *opts, "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "1",
           "DATASETS.TEST", "()"]  # fmt: skip
    main(run)
    final = tmp_path / "model_final.pth"
    before = final.read_bytes()
    with pytest.raises(FileExistsError, match=rf"{tmp_path} holds checkpoints .*model_final\.pth"):
        main(run)  # the same command again
    other = [*run, "MODEL.DFF.FEATURE.OUT_CHANNELS", "32"]  # another model, same folder
    with pytest.raises(ValueError, match=r"another model: DFF\.FEATURE\.OUT_CHANNELS differ"):
        main(["--resume", *other])
    assert final.read_bytes() == before  # nothing written was lost
    main(["--resume", *run, "SOLVER.MAX_ITER", "2"])  # the same model resumes
    assert torch.load(final, map_location="cpu")["iteration"] == 1
    main(["--overwrite", *other])
    weights = torch.load(final, map_location="cpu")["model"]
    assert weights["roi_heads.cls_score_maps.weight"].shape[1] == 16  # OUT_CHANNELS 32, half


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    tiny_cfg, tinyvid, tmp_path, workers
):
    from detectron2.utils.env import seed_all_rng

    def run(out, max_iter, resume):
        cfg = _cfg(tiny_cfg, out, "SOLVER.MAX_ITER", max_iter, "SOLVER.CHECKPOINT_PERIOD", 2,
                   "DATASETS.TEST", (), "DATALOADER.NUM_WORKERS", workers)  # fmt: skip
        seed_all_rng(cfg.SEED)  # as default_setup does in a new process
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=resume)
        trainer.train()
        return {k: v.clone() for k, v in trainer.model.state_dict().items()}

    uninterrupted = run(tmp_path / "a", 4, resume=False)
    # the run killed after its checkpoint at iteration 2: only that checkpoint is left
    killed = tmp_path / "b"
    killed.mkdir()
    (killed / "model_0000001.pth").write_bytes((tmp_path / "a" / "model_0000001.pth").read_bytes())
    (killed / "last_checkpoint").write_text("model_0000001.pth")
    seed_all_rng(123)  # whatever the new process's generators hold, the checkpoint's count
    resumed = run(killed, 4, resume=True)
    assert resumed.keys() == uninterrupted.keys()
    differ = [k for k in resumed if not torch.equal(resumed[k], uninterrupted[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
