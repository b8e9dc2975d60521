"""detectron2's ``launch``, also on machines without CUDA (gloo), as detectron2 after 0.6 does.

detectron2 0.6's ``_distributed_worker`` asserts CUDA and starts NCCL, and its
``create_ddp_model`` (called by ``DefaultTrainer``) gives DDP ``device_ids=[local_rank]``,
which DDP refuses for a CPU module. With CUDA, :func:`launch` is detectron2's own, unchanged.
Without CUDA, its workers start a gloo process group and the per-machine local groups as
detectron2's do, and ``DefaultTrainer`` wraps the model in DDP without device ids; the rest
(``--num-machines``, ``--machine-rank``, ``--dist-url``, ``auto`` ports) is detectron2's.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import defaults
from detectron2.engine import launch as detectron2_launch
from detectron2.engine.launch import _find_free_port
from detectron2.utils import comm

__all__ = ["launch"]

_create_ddp_model = defaults.create_ddp_model


def _create_cpu_ddp_model(model, **kwargs):
    """``create_ddp_model`` with no device ids for a module on the CPU."""
    if comm.get_world_size() > 1 and all(p.device.type == "cpu" for p in model.parameters()):
        kwargs.setdefault("device_ids", None)
    return _create_ddp_model(model, **kwargs)


def _cpu_worker(local_rank, main_func, world_size, per_machine, machine_rank, dist_url, args):
    rank = machine_rank * per_machine + local_rank
    dist.init_process_group("gloo", init_method=dist_url, world_size=world_size, rank=rank)
    for machine in range(world_size // per_machine):
        group = dist.new_group(list(range(machine * per_machine, (machine + 1) * per_machine)))
        if machine == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    defaults.create_ddp_model = _create_cpu_ddp_model
    comm.synchronize()
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()


def launch(main_func, num_processes: int, num_machines: int = 1, machine_rank: int = 0,
           dist_url: str | None = None, args: tuple = ()) -> None:  # fmt: skip
    """Run ``main_func(*args)`` in ``num_processes`` processes on each of ``num_machines``.

    Args: those of detectron2's ``launch`` (``num_processes`` is its ``num_gpus_per_machine``:
    without CUDA, the number of CPU processes per machine).
    """
    world_size = num_machines * num_processes
    if torch.cuda.is_available() or world_size == 1:
        detectron2_launch(main_func, num_processes, num_machines, machine_rank, dist_url, args)
        return
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url auto is for one machine; give tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(
        _cpu_worker,
        nprocs=num_processes,
        args=(main_func, world_size, num_processes, machine_rank, dist_url, args),
        daemon=False,
    )
