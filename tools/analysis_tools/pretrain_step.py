"""The Flying Chairs pre-training of the flow network F (Sec. 4) as a step of a study.

:func:`pretrain_flow` runs ``tools/pretrain_flow.py`` in its own process (its seed and thread
settings stay there) unless its checkpoint exists; the studies (Table 4, Figure 3, the demo)
take their flow networks from it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PRETRAIN_TOOL", "pretrain_flow"]

PRETRAIN_TOOL = Path(__file__).resolve().parents[1] / "pretrain_flow.py"


def pretrain_flow(
    output: str | Path,
    data: str | Path,
    flow_net: str,
    iters: int,
    *,
    make_synthetic: int = 0,
    synthetic_size: Sequence[int] | None = None,
    batch_size: int = 16,
    eval_every: int | None = None,
    retrain: bool = False,
    seed: int = 0,
) -> Path:
    """Pre-train ``flow_net`` on the Flying Chairs layout at ``data`` unless ``output`` exists.

    The flow network gets the tool's BatchNorm encoder (``--norm BN``, its default).

    Args:
        output (str | Path): the checkpoint to write (``tools/pretrain_flow.py --output``).
        data (str | Path): Flying Chairs root (``--data``).
        flow_net (str): a name of ``dff_common.flow_nets.FLOW_NETS`` (``--flow-net``).
        iters (int): training iterations (``--iters``).
        make_synthetic (int): first write this many synthetic pairs to ``data``
            (``--make-synthetic``); 0: use the pairs there.
        synthetic_size (Sequence[int], optional): ``(H, W)`` of the synthetic pairs.
        batch_size (int): pairs per iteration. Defaults to 16.
        eval_every (int, optional): validation period in iterations; the tool's default when
            None.
        retrain (bool): train again and replace an existing ``output``. Defaults to False.
        seed (int): the run's seed (``--seed``; one CPU thread, the tool's default, so the
            weights are reproducible). Defaults to 0.

    Returns:
        Path: ``output``.
    """
    output = Path(output)
    if output.is_file() and not retrain:
        return output
    command = [
        sys.executable, str(PRETRAIN_TOOL), f"--data={data}", f"--flow-net={flow_net}",
        f"--iters={iters}", f"--batch-size={batch_size}", f"--output={output}", f"--seed={seed}",
    ]  # fmt: skip
    if make_synthetic:
        command.append(f"--make-synthetic={make_synthetic}")
    if synthetic_size:
        command += ["--synthetic-size", *map(str, synthetic_size)]
    if eval_every:
        command.append(f"--eval-every={eval_every}")
    if retrain:
        command.append("--overwrite")
    print("pre-training the flow network:", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return output
