"""Shared test settings: CPU only, deterministic, one torch thread per xdist worker."""

import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: do not oversubscribe


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
