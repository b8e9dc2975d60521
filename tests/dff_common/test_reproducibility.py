"""seed_everything: every random source repeats, kernels and threads are pinned and reported."""

import os
import random

import numpy as np
import pytest
import torch

from dff_common.reproducibility import RunSettings, over_seeds, seed_everything


@pytest.fixture(autouse=True)
def _restore_torch_state(monkeypatch):
    """Keep the process as it was: thread count, deterministic mode, cuDNN flags, env."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    monkeypatch.setenv("PYTHONHASHSEED", "unset")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _draws():
    return (
        random.random(),
        np.random.rand(4).tolist(),
        torch.rand(4).tolist(),
        torch.nn.Linear(3, 2).weight.tolist(),  # initial weights come from torch's generator
    )


def test_same_seed_repeats_every_source_and_another_seed_does_not():
    seed_everything(7)
    first = _draws()
    _draws()  # move every generator on
    seed_everything(7)
    assert _draws() == first
    seed_everything(8)
    other = _draws()
    assert all(a != b for a, b in zip(other, first))


def test_deterministic_mode_threads_and_the_report():
    settings = seed_everything(3, deterministic=True, threads=1)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert os.environ["PYTHONHASHSEED"] == "3"
    assert torch.get_num_threads() == 1
    assert settings == RunSettings(3, True, 1, torch.backends.cpu.get_cpu_capability())
    text = str(settings)
    assert text.startswith("seed 3, 1 CPU thread, deterministic algorithms, ")
    assert torch.backends.cpu.get_cpu_capability() in text and torch.__version__ in text

    relaxed = seed_everything(3, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.deterministic
    assert relaxed.threads == 1  # None keeps the thread count in force
    assert "default algorithms" in str(relaxed)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"seed": 1.5}, "seed must be an int >= 0"),
        ({"seed": True}, "seed must be an int >= 0"),
        ({"seed": 0, "threads": 0}, "threads must be an int >= 1"),
    ],
)
def test_bad_seed_or_threads_is_an_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        seed_everything(**kwargs)


def test_an_accuracy_over_seeds_is_the_mean_and_sample_standard_deviation():
    assert over_seeds([48.6, 38.2, 24.7]) == "37.2 +- 12.0"  # three seeds
    assert over_seeds([1.0, 2.0, 3.0, 4.0]) == "2.5 +- 1.3"  # sample std: sqrt(5 / 3)
    assert over_seeds([31.44]) == "31.4"  # one run: no spread
