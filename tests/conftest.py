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
