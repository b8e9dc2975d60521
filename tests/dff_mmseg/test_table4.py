"""dff_mmseg.table4's preparation: the synthetic set and the flow pre-training command."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from dff_mmseg import table4

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location(
    "dff_pretrain_flow", REPO / "tools" / "pretrain_flow.py"
)
pretrain_flow = sys.modules["dff_pretrain_flow"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pretrain_flow)


def test_prepare_runs_a_pretraining_command_that_parses(tmp_path, monkeypatch):
    data = tmp_path / "city"
    data.mkdir()  # present: not written again
    args = table4.parse_args(
        [
            "--data",
            str(data),
            "--flow-checkpoint",
            str(tmp_path / "f.pth"),
            "--flow-net",
            "flownet_half",
        ]
    )
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))
    table4.prepare(args)
    (command,) = commands
    assert command[1] == str(REPO / "tools" / "pretrain_flow.py")
    parsed = pretrain_flow.parse_args(command[2:])  # the tool accepts what table4 passes
    assert parsed.synthetic_size == [64, 128] and parsed.make_synthetic == 2000
    assert (parsed.flow_net, parsed.iters, parsed.output) == (
        "flownet_half",
        300,
        str(tmp_path / "f.pth"),
    )
    commands.clear()
    (tmp_path / "f.pth").write_bytes(b"")  # an existing checkpoint is reused
    table4.prepare(args)
    assert commands == []
