"""Reproducible runs: the same command on the same machine gives the same numbers.

A training run of this project draws from Python's ``random`` (the key-frame offsets of the
pair mappers), NumPy's global generator (detectron2's and mmcv's augmentations) and torch's
generator (initial weights, samplers); data-loader workers get copies that the frameworks seed
from these. The floating-point results also depend on

- the number of CPU threads: parallel reductions add in another order (measured: 20 detection
  training iterations at 1 and 2 threads end with weights up to 4.2 apart);
- the CPU kernels: ATen and oneDNN pick AVX2 or AVX-512 code at run time, which round
  differently (``ATEN_CPU_CAPABILITY=avx2`` on an AVX-512 machine changes the same run as
  much);
- the library versions that write the synthetic sets (OpenCV's drawing, resampling and JPEG
  encoder: 5.0 and 5.1 write frames up to 4 grey levels apart).

Training a detector from scratch for a few hundred iterations is chaotic: such a difference
grows into a different model. So a run is reproducible bitwise for a given seed, thread count,
CPU kernel set and package versions; across machines, compare means over seeds.
"""

import os
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RunSettings", "over_seeds", "random_states", "seed_everything", "set_random_states"]


@dataclass(frozen=True)
class RunSettings:
    """What a run was pinned to, as :func:`seed_everything` left it.

    Attributes:
        seed (int): seed of every random source.
        deterministic (bool): deterministic algorithms requested.
        threads (int): intra-op CPU threads in force.
        cpu_capability (str): the CPU kernel set ATen dispatches to (e.g. "AVX512").
    """

    seed: int
    deterministic: bool
    threads: int
    cpu_capability: str

    def __str__(self) -> str:
        return (
            f"seed {self.seed}, {self.threads} CPU thread{'s' if self.threads != 1 else ''}, "
            f"{'deterministic' if self.deterministic else 'default'} algorithms, "
            f"{self.cpu_capability} CPU kernels, torch {torch.__version__}"
        )


def seed_everything(
    seed: int, deterministic: bool = True, threads: int | None = None
) -> RunSettings:
    """Seed ``random``, NumPy's global generator and torch (CPU and every GPU); pin the kernels.

    Args:
        seed (int): the seed, >= 0. Also exported as ``PYTHONHASHSEED`` for child processes
            (hash order of strings; the running interpreter keeps its own).
        deterministic (bool): ``torch.use_deterministic_algorithms(True, warn_only=True)``
            (an operation without a deterministic implementation warns instead of failing),
            cuDNN's deterministic mode without autotuning, and the cuBLAS workspace setting that
            makes its reductions deterministic (``CUBLAS_WORKSPACE_CONFIG``, unless set).
            Defaults to True.
        threads (int, optional): intra-op CPU threads (``torch.set_num_threads``, which also
            sets OpenMP's and MKL's). Defaults to None: keep the number in force.

    Returns:
        RunSettings: the settings in force, printable for a run's log and results.

    Raises:
        ValueError: a negative seed or a thread count below 1.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        torch.backends.cudnn.benchmark = False
    return RunSettings(
        seed=seed,
        deterministic=deterministic,
        threads=torch.get_num_threads(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
    )


def random_states() -> dict:
    """The states of ``random``, NumPy's global generator and torch's CPU (and current GPU)
    generator, in types ``torch.load(weights_only=True)`` reads (for a training checkpoint)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def set_random_states(states: dict) -> None:
    """Put the generators back where :func:`random_states` found them."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


def over_seeds(values: Sequence[float]) -> str:
    """One accuracy over the runs of several seeds, as the READMEs report it: ``"mean +- std"``
    (sample standard deviation) to one decimal, the value alone for one run."""
    mean = statistics.fmean(values)
    return f"{mean:.1f} +- {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"
