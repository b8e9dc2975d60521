"""Checkpoint files: atomic writes, read errors naming the file, the framework that wrote one."""

import errno
import os
import stat

import numpy as np
import pytest
import torch
from torch import nn

from dff_common.checkpoint_files import (
    atomic_open,
    check_finite,
    check_framework,
    check_keys_match,
    checkpoint_framework,
    read_errors,
)


def test_atomic_open_replaces_the_file_only_when_the_block_completes(tmp_path):
    path = tmp_path / "model.pth"
    with atomic_open(path) as f:
        torch.save({"w": torch.arange(3)}, f)
        assert not path.exists()  # nothing under the name while writing
    assert torch.equal(torch.load(path)["w"], torch.arange(3))
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_open(path) as f:
            f.write(b"partial")
            raise RuntimeError("interrupted")
    assert torch.equal(torch.load(path)["w"], torch.arange(3))  # the previous file, intact
    assert sorted(os.listdir(tmp_path)) == ["model.pth"]  # no temporary file left
    with atomic_open(tmp_path / "last_checkpoint", "w") as f:
        f.write("model.pth")
    assert (tmp_path / "last_checkpoint").read_text() == "model.pth"
    with pytest.raises(ValueError, match="mode 'w' or 'wb', got 'ab'"):
        with atomic_open(path, "ab"):
            pass


def test_atomic_open_gives_the_permissions_of_a_plain_open(tmp_path):
    with open(tmp_path / "plain", "wb") as f:
        f.write(b"x")
    with atomic_open(tmp_path / "atomic") as f:
        f.write(b"x")
    modes = [stat.S_IMODE(os.stat(tmp_path / name).st_mode) for name in ("plain", "atomic")]
    assert modes[0] == modes[1]


def test_read_errors_name_a_truncated_empty_or_corrupt_file(tmp_path):
    whole = tmp_path / "whole.pth"
    torch.save({"model": nn.Linear(64, 64).state_dict(), "iteration": 3}, whole)
    data = whole.read_bytes()
    cases = {"half.pth": data[: len(data) // 2], "empty.pth": b"", "tail.pth": data[:-8]}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=rf"{path}: the file is truncated or corrupt") as err:
            with read_errors(str(path)):
                torch.load(path, map_location="cpu")
        assert f"({len(content)} bytes;" in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.pth"):  # names the file already
        with read_errors(str(tmp_path / "missing.pth")):
            torch.load(tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint" * 64)
    with pytest.raises(ValueError, match=rf"{garbage}: torch.load\(weights_only=True\) refused"):
        with read_errors(str(garbage)):
            torch.load(garbage, map_location="cpu")


def test_the_framework_is_told_from_the_files_they_write(
    mmengine_checkpoint, detectron2_checkpoint, resnet50_file
):
    mmengine = torch.load(mmengine_checkpoint, weights_only=True)
    detectron2 = torch.load(detectron2_checkpoint, weights_only=True)
    assert checkpoint_framework(mmengine) == "mmengine"
    assert checkpoint_framework(detectron2) == "detectron2"
    assert checkpoint_framework(torch.load(resnet50_file[1], weights_only=True)) is None
    check_framework(mmengine, "x.pth", "mmengine")
    check_framework(detectron2, "x.pth", "detectron2")
    with pytest.raises(ValueError, match=r"checkpoint a.pth was written by mmengine 0\.10"):
        check_framework(mmengine, "a.pth", "detectron2")
    with pytest.raises(ValueError, match=r"b.pth was written by detectron2 \(top-level keys: "):
        check_framework(detectron2, "b.pth", "mmengine")


def test_check_keys_match_needs_half_the_parameters_not_just_buffers():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    check_keys_match(model, ["0.weight", "0.bias", "other.weight"], "ok.pth")  # half is enough
    message = r"checkpoint c.pth holds none of the 4 parameters of Sequential: .*'fc.weight'"
    with pytest.raises(ValueError, match=message):
        check_keys_match(model, ["fc.weight", "1.running_mean", "1.running_var"], "c.pth")
    message = r"p.pth holds 1 of the 4 parameter tensors of Sequential \(25%; at least 50%\): "
    with pytest.raises(ValueError, match=message + r"missing 0.bias \(1\), 1.bias \(1\), 1.weight"):
        check_keys_match(model, ["0.weight", "1.running_mean"], "p.pth")  # another architecture
    with pytest.raises(ValueError, match=r"3 of the 4 .*all of them to evaluate\): missing 1.bias"):
        check_keys_match(model, ["0.weight", "0.bias", "1.weight"], "e.pth", complete=True)


def test_check_finite_names_the_file_and_entries():
    check_finite({"a": torch.ones(2), "n": torch.tensor([1, 2]), "s": 3}, "ok.pth")
    bad = {"a": torch.ones(2), "b": torch.tensor([1.0, float("inf")]), "c": np.array([np.nan])}
    with pytest.raises(
        ValueError, match=r"bad.pth holds NaN or infinite values in 2 entries \(b, c\)"
    ):
        check_finite(bad, "bad.pth")


def test_a_full_disk_is_named_with_the_file_and_the_free_space(tmp_path, monkeypatch):
    path = tmp_path / "model_final.pth"
    path.write_bytes(b"previous")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    message = rf"cannot write {path}: \[Errno 28\] No space left on device \(.* MiB free in "
    with pytest.raises(OSError, match=message):
        with atomic_open(path) as f:
            f.write(b"new")
    monkeypatch.undo()
    # torch.save's zip writer turns the failed write into a RuntimeError naming no file
    with pytest.raises(OSError, match=rf"cannot write {path}: .*unexpected pos 64 vs 0 \("):
        with atomic_open(path):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["model_final.pth"]


def test_the_next_write_removes_what_a_killed_write_left(tmp_path):
    path = tmp_path / "iter_2.pth"
    left = [tmp_path / ".iter_2.pth.0123abcd.tmp", tmp_path / ".iter_2.pth.deadbeef.tmp"]
    other = tmp_path / ".iter_4.pth.0123abcd.tmp"  # another checkpoint's: not this write's
    for file in (*left, other):
        file.write_bytes(b"partial")
    with atomic_open(path) as f:
        f.write(b"whole")
    assert sorted(os.listdir(tmp_path)) == [other.name, path.name]
