"""The package installed without ``-e`` into a fresh environment works from outside the clone.

The environment is a new venv whose only extra path is the project environment's
site-packages (torch, detectron2, mmseg; the project's own editable finder there is never
activated: a path listed in a ``.pth`` file has its own ``.pth`` files skipped). The package is
built by pip from a copy of its sources and installed as a wheel; the scripts run in a folder
outside the clone with configs that name no file of the clone, as a user's would.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.py", "pyproject.toml", "dff_compat.py", "dff_compat.pth")
PACKAGES = ("dff_common", "dff_detectron2", "dff_mmseg")

DETECTRON2_RUN = """
import json, math, sys
from dff_common.synthetic.vid import make_synthetic_vid
from dff_detectron2 import get_dff_cfg, register_imagenet_vid
from dff_detectron2.engine import Trainer

config, output = sys.argv[1:]
make_synthetic_vid("ILSVRC2015", num_train_videos=2, num_val_videos=1, num_test_videos=0,
                   num_frames=4, height=48, width=64, num_det_images=2, seed=1)
register_imagenet_vid("ILSVRC2015", "tinyvid")
cfg = get_dff_cfg(config, ["OUTPUT_DIR", output])
trainer = Trainer(cfg)
trainer.resume_or_load(resume=False)
trainer.train()
results = Trainer.test(cfg, trainer.model)["bbox"]
assert math.isfinite(results["mAP"]), results
print(json.dumps({"iter": trainer.iter, "mAP": float(results["mAP"])}))
"""

MMSEG_RUN = """
import json, math, sys
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes
from dff_mmseg.train import build_config, run

config, work_dir = sys.argv[1:]
make_synthetic_cityscapes("cityscapes", {"train": 3, "val": 2, "test": 1}, height=32, width=64)
run(build_config(config, work_dir=work_dir))
cfg = build_config(config, work_dir=work_dir, eval_only=True, checkpoint=f"{work_dir}/iter_2.pth")
metrics = run(cfg, eval_only=True)
assert math.isfinite(metrics["mIoU"]), metrics
print(json.dumps({"mIoU": float(metrics["mIoU"])}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``run(script, *args, cwd)``: a Python of the fresh environment with the package
    installed from a wheel, run in ``cwd``; returns its stdout."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy2(REPO / name, source / name)
    for name in PACKAGES:
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         str(source)],
        check=True, cwd=root, env=env,
    )  # fmt: skip

    def run(script: str, *args: str, cwd: Path) -> str:
        done = subprocess.run(
            [python, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        return done.stdout

    run.site = site
    return run


def test_the_package_comes_from_the_wheel_not_the_clone(installed, tmp_path):
    where = installed(
        "import dff_common, dff_compat, dff_detectron2, dff_mmseg, detectron2, mmseg\n"
        "print(dff_common.__file__, dff_compat.__file__, dff_detectron2.__file__,"
        " dff_mmseg.__file__)",
        cwd=tmp_path,
    ).split()
    assert len(where) == 4 and all(path.startswith(installed.site) for path in where), where
    assert Path(installed.site, "dff_compat.pth").is_file()
    # detectron2 first, as a user's script may: the shims are in place already (dff_compat.pth)
    installed("from detectron2 import model_zoo\nimport detectron2._C", cwd=tmp_path)


def test_detectron2_trains_two_iterations_and_evaluates(installed, tmp_path):
    from detectron2.config import get_cfg

    from dff_detectron2.config import add_dff_config

    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(str(REPO / "configs" / "dff_detectron2" / "Base-DFF-RFCN-Synthetic.yaml"))
    cfg.merge_from_list(
        [
            "DATASETS.TRAIN", ("tinyvid_vid_train", "tinyvid_det_train_30classes"),
            "DATASETS.TEST", ("tinyvid_vid_val",),
            "SOLVER.IMS_PER_BATCH", 1, "SOLVER.MAX_ITER", 2, "SOLVER.WARMUP_ITERS", 0,
            "SOLVER.STEPS", (), "MODEL.ROI_HEADS.NUM_CLASSES", 30,
            "MODEL.DFF.FEATURE.OUT_CHANNELS", 64, "MODEL.DFF.FLOW.NAME", "FlowNetHalf",
            "MODEL.DFF.FLOW.NORM", "", "MODEL.RPN.POST_NMS_TOPK_TRAIN", 20,
            "MODEL.RPN.POST_NMS_TOPK_TEST", 20, "MODEL.DFF.KEY_FRAME_INTERVAL", 2,
            "INPUT.MIN_SIZE_TRAIN", (48,), "INPUT.MIN_SIZE_TEST", 48,
        ]
    )  # fmt: skip
    config = tmp_path / "my_dff.yaml"  # a whole config: no _BASE_ in the clone
    config.write_text(cfg.dump())
    out = installed(DETECTRON2_RUN, str(config), "output", cwd=tmp_path)
    assert '"iter": 2' in out.splitlines()[-1]
    assert (tmp_path / "output" / "model_final.pth").is_file()
    assert (tmp_path / "output" / "inference" / "tinyvid_vid_val_submission.txt").is_file()


def test_mmseg_trains_two_iterations_and_evaluates(installed, tmp_path):
    from mmengine.config import Config

    base = REPO / "configs" / "dff_mmseg" / "dff_r50-flownet_1xb2-400it_synthcity-128x256.py"
    tiny = tmp_path / "tiny.py"
    tiny.write_text(
        f"""
_base_ = [{str(base)!r}]
data_root = "cityscapes"
model = dict(
    data_preprocessor=dict(size=(32, 64)),
    backbone=dict(out_channels=8, norm="FrozenBN"),
    decode_head=dict(in_channels=8, channels=8),
    flow_net=dict(type="FlowNetHalf", norm=None, init_cfg=None),
)
train_dataloader = dict(batch_size=1, dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=1000)
param_scheduler = [dict(type="ConstantLR", by_epoch=False, factor=1.0)]
default_hooks = dict(checkpoint=dict(interval=2))
randomness = dict(seed=0)
"""
    )
    config = tmp_path / "my_dff.py"  # the composed config as one file: no _base_ in the clone
    Config.fromfile(str(tiny)).dump(str(config))
    assert str(REPO) not in config.read_text()
    out = installed(MMSEG_RUN, str(config), "work", cwd=tmp_path)
    assert '"mIoU"' in out.splitlines()[-1]
    assert (tmp_path / "work" / "iter_2.pth").is_file()
