"""DFFCheckpointer: bad checkpoints named, atomic saves that survive a kill, the Trainer's use."""

import subprocess
import sys

import pytest
import torch
from detectron2.engine.hooks import PeriodicCheckpointer

from dff_detectron2.checkpoint.checkpointer import DFFCheckpointer
from dff_detectron2.engine.trainer import Trainer
from dff_detectron2.load import load_model


@pytest.fixture(scope="module")
def saved(tiny_cfg, tmp_path_factory):
    """A tiny DFFRCNN and the checkpoint its DFFCheckpointer wrote (``model_final.pth``)."""
    cfg = tiny_cfg()
    model = Trainer.build_model(cfg)
    save_dir = tmp_path_factory.mktemp("d2_checkpoint")
    DFFCheckpointer(model, str(save_dir)).save("model_final", iteration=0)
    return cfg, model, save_dir / "model_final.pth"


def test_a_good_checkpoint_loads(saved):
    cfg, model, path = saved
    loaded = load_model(cfg, str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_truncated_or_empty_checkpoint_is_named(saved, tmp_path):
    cfg, _, path = saved
    data = path.read_bytes()
    for name, content in (("cut.pth", data[: len(data) // 2]), ("empty.pth", b"")):
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(
            ValueError, match=rf"checkpoint {bad}: the file is truncated or corrupt"
        ):
            load_model(cfg, str(bad))


def test_mmengine_checkpoint_is_refused(saved, mmengine_checkpoint):
    cfg = saved[0]
    message = rf"checkpoint {mmengine_checkpoint} was written by mmengine .*not by detectron2"
    with pytest.raises(ValueError, match=message):
        load_model(cfg, str(mmengine_checkpoint))


def test_checkpoint_of_another_model_is_refused(saved, detectron2_checkpoint, resnet50_file):
    cfg = saved[0]
    for path in (detectron2_checkpoint, resnet50_file[1]):  # a Linear; ImageNet ResNet weights
        with pytest.raises(ValueError, match=rf"checkpoint {path} holds none of the \d+ param"):
            load_model(cfg, str(path))


def _trainer_cfg(tiny_cfg, output_dir, max_iter):
    cfg = tiny_cfg(
        "DATASETS.TRAIN", ("killvid_vid_train", "killvid_det_train_30classes"), "DATASETS.TEST", (),
        "MODEL.ROI_HEADS.NUM_CLASSES", 30, "SOLVER.IMS_PER_BATCH", 1, "SOLVER.WARMUP_ITERS", 0,
        "SOLVER.STEPS", (), "SOLVER.MAX_ITER", max_iter, "SOLVER.CHECKPOINT_PERIOD", 1000,
        "MODEL.DFF.FEATURE.OUT_CHANNELS", 16, "MODEL.DFF.KEY_FRAME_INTERVAL", 2,
        "INPUT.MIN_SIZE_TRAIN", (48,), "OUTPUT_DIR", str(output_dir),
    )  # fmt: skip
    cfg.freeze()
    return cfg


RESUME_AND_DIE = """
import sys

import dff_detectron2
from detectron2.config import get_cfg

from dff_detectron2.config import add_dff_config
from dff_detectron2.data.datasets import register_imagenet_vid
from dff_detectron2.engine.trainer import Trainer

config, root, prefix, size = sys.argv[1:]
register_imagenet_vid(root, prefix)
cfg = get_cfg()
add_dff_config(cfg)
cfg.merge_from_file(config)
cfg.freeze()
trainer = Trainer(cfg)
trainer.resume_or_load(resume=True)
die_when_a_file_reaches(int(size))
trainer.train()  # killed while its last iteration writes model_final.pth again
"""


def test_kill_while_saving_leaves_the_previous_checkpoint(
    tiny_cfg, synthetic_vid, tmp_path, run_killed_in_a_write
):
    synthetic_vid(
        "killvid", num_train_videos=1, num_val_videos=1, num_test_videos=0, num_frames=3,
        height=48, width=64, num_det_images=1, seed=2,
    )  # fmt: skip
    out = tmp_path / "out"
    first = Trainer(_trainer_cfg(tiny_cfg, out, max_iter=1))
    assert isinstance(first.checkpointer, DFFCheckpointer)
    (hook,) = [h for h in first._hooks if isinstance(h, PeriodicCheckpointer)]
    assert hook.checkpointer is first.checkpointer
    first.resume_or_load(resume=False)
    first.train()
    final = out / "model_final.pth"
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}

    # a resumed run (2 iterations) rewrites model_final.pth; it dies halfway through the write
    config = tmp_path / "resume.yaml"
    config.write_text(_trainer_cfg(tiny_cfg, out, max_iter=2).dump())
    size = final.stat().st_size
    run_killed_in_a_write(RESUME_AND_DIE, config, tmp_path / "ILSVRC2015", "killvid", size // 2)
    (partial,) = out.glob(".model_final.pth.*.tmp")
    assert partial.stat().st_size == size // 2  # killed in the middle of the checkpoint
    assert final.stat().st_size == size and (out / "last_checkpoint").read_text() == final.name

    resumed = Trainer(_trainer_cfg(tiny_cfg, out, max_iter=2))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 1
    for key, value in resumed.model.state_dict().items():
        assert torch.equal(value, weights[key]), key


def test_an_mmengine_checkpoint_is_named_in_a_process_without_the_mmseg_plugin(
    mmengine_checkpoint,
):
    code = f"""
import torch
from dff_detectron2.checkpoint.checkpointer import DFFCheckpointer
try:
    DFFCheckpointer(torch.nn.Linear(2, 1)).load({str(mmengine_checkpoint)!r})
except ValueError as err:
    print(err)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert f"cannot read checkpoint {mmengine_checkpoint}: it was written by mmengine" in run.stdout


def test_a_checkpoint_of_too_little_of_the_model_or_not_finite_is_refused(saved, tmp_path):
    cfg, model, path = saved
    weights = torch.load(path, map_location="cpu")["model"]
    names = [n for n, _ in model.named_parameters()]
    other = {k: v for k, v in weights.items() if k not in names[: len(names) * 2 // 3]}
    torch.save({"model": other}, tmp_path / "other.pth")  # another architecture's third
    message = rf"other.pth holds \d+ of the {len(names)} parameter tensors of DFFRCNN \(3\d%"
    with pytest.raises(ValueError, match=message + r"; at least 50%\): missing backbone\.net"):
        DFFCheckpointer(Trainer.build_model(cfg)).load(str(tmp_path / "other.pth"))
    no_flow = {k: v for k, v in weights.items() if not k.startswith("propagation.flow_net.")}
    torch.save({"model": no_flow}, tmp_path / "no_flow.pth")
    DFFCheckpointer(Trainer.build_model(cfg)).load(str(tmp_path / "no_flow.pth"))  # to train
    with pytest.raises(ValueError, match=r"all of them to evaluate\): missing propagation\.flow"):
        load_model(cfg, str(tmp_path / "no_flow.pth"))  # to evaluate: F would be random
    weights["roi_heads.cls_score_maps.weight"][0] = float("inf")
    torch.save({"model": weights}, tmp_path / "diverged.pth")
    with pytest.raises(ValueError, match=r"diverged.pth holds NaN or infinite values in 1 ent"):
        load_model(cfg, str(tmp_path / "diverged.pth"))
