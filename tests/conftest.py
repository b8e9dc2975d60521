"""Shared test settings: CPU only, deterministic, one torch thread per xdist worker."""

import os

import pytest
import torch
import torchvision

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: do not oversubscribe


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def resnet50_file(tmp_path_factory):
    """A torchvision ResNet-50 written as upstream does (``torch.save(model.state_dict())``,
    the ``IMAGENET1K_V1`` file name), with non-trivial BatchNorm; returns ``(model, path)``."""
    torch.manual_seed(3)
    model = torchvision.models.resnet50(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("resnet") / "resnet50-0676ba61.pth"
    torch.save(model.state_dict(), path)
    return model.eval(), path


KILL_AT_FILE_SIZE = """
import resource
import signal


def die_when_a_file_reaches(size):
    '''From now on, the kernel kills this process (SIGXFSZ) in the write that takes a file past
    ``size`` bytes, as a kill would in the middle of a save (Python ignores SIGXFSZ: restored).'''
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))

"""


@pytest.fixture
def run_killed_in_a_write():
    """``run(script, *args)``: run ``script`` (which calls ``die_when_a_file_reaches(size)``)
    in a fresh Python with this checkout and its ``tools/`` first on the path; asserts that the
    kernel killed it
    with SIGXFSZ and returns the ``CompletedProcess``."""
    import signal
    import subprocess
    import sys

    if not hasattr(signal, "SIGXFSZ"):
        pytest.skip("needs POSIX file-size limits (SIGXFSZ)")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(script: str, *args: str):
        pythonpath = os.pathsep.join([repo, os.path.join(repo, "tools")])
        env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, "-c", KILL_AT_FILE_SIZE + script, *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == -signal.SIGXFSZ, done.stderr[-3000:]
        return done

    return run


@pytest.fixture(scope="session")
def mmengine_checkpoint(tmp_path_factory):
    """A checkpoint written by mmengine's Runner (``CheckpointHook``) for a toy model after
    one training iteration: ``meta``, ``state_dict`` (``linear.*``), ``message_hub``, ..."""
    from mmengine.model import BaseModel
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from dff_mmseg import compat

    compat.apply()  # torch.load(weights_only=True) of mmengine's message hub

    class ToyModel(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode="tensor"):
            out = self.linear(inputs)
            return {"loss": out.pow(2).mean()} if mode == "loss" else out

    work_dir = tmp_path_factory.mktemp("mmengine_toy")
    with DefaultScope.overwrite_default_scope("mmengine"):  # the tests' scope comes back after
        runner = Runner(
            model=ToyModel(),
            work_dir=str(work_dir),
            train_dataloader=dict(
                dataset=[dict(inputs=torch.ones(2))] * 2,
                sampler=dict(type="DefaultSampler", shuffle=False),
                batch_size=1,
                collate_fn=dict(type="default_collate"),
            ),
            optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),
            train_cfg=dict(by_epoch=False, max_iters=1),
            default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1, by_epoch=False)),
            randomness=dict(seed=0),
            default_scope="mmengine",
        )
        runner.train()
    return work_dir / "iter_1.pth"


@pytest.fixture(scope="session")
def detectron2_checkpoint(tmp_path_factory):
    """A checkpoint written by detectron2's ``DetectionCheckpointer`` as its
    ``PeriodicCheckpointer`` does (``model`` plus ``iteration``), for a toy model."""
    from dff_detectron2 import compat

    compat.apply()
    from detectron2.checkpoint import DetectionCheckpointer

    save_dir = tmp_path_factory.mktemp("detectron2_toy")
    DetectionCheckpointer(torch.nn.Linear(2, 1), str(save_dir)).save("model_0000009", iteration=9)
    return save_dir / "model_0000009.pth"
