"""tools/benchmark.py: its options (one Timer for every part) and a tiny run of each timed part
through dff_common.timing, with the Eq. 5 / Eq. 7 tables printed."""

import importlib.util
import sys
from pathlib import Path

import pytest

from dff_common.timing import Timer

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_benchmark", REPO / "tools" / "benchmark.py")
benchmark = sys.modules["dff_benchmark"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(benchmark)


def test_options_make_one_timer_and_check_eq7s_frames():
    args = benchmark.parse_args(["--quick", "--device", "cpu", "--cpu-time"])
    assert isinstance(args.timer, Timer) and args.timer.cpu_time
    assert args.flow_nets == ("flownet", "flownet_half", "flownet_inception")
    assert (args.size, args.repeats, args.intervals) == ((128, 224), 3, (1, 2, 5, 10))
    with pytest.raises(SystemExit):  # 20 frames are no multiple of l = 3
        benchmark.parse_args(["--quick", "--device", "cpu", "--intervals", "3"])
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--flow-nets", "pwcnet"])


def test_tiny_latency_and_engine_run(capsys):
    benchmark.main(
        [
            "--latency", "--engine", "--device", "cpu", "--threads", "1", "--repeats", "1",
            "--warmup", "0", "--size", "32", "48", "--depths", "50", "--flow-nets",
            "flownet_half", "--frames", "4", "--intervals", "1", "2", "--engine-rounds", "1",
            "--engine-depth", "50", "--engine-flow-net", "flownet_half",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    (row,) = [line.split() for line in out.splitlines() if line.strip().startswith("ResNet-50")]
    assert row[1] == "flownet_half" and len(row) == 13 and float(row[-3]) > 0  # r time
    engine = out[out.index("Engine (Algorithm 1)") :].splitlines()
    assert "r inside" in engine[2] and [line.split()[0] for line in engine[3:5]] == ["1", "2"]
    assert engine[3].split()[3:6] == ["1", "1", "+0.0%"]  # l = 1 is the reference
