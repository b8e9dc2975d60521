"""Middlebury .flo round trip, corrupt-file errors and the end-point error."""

import numpy as np
import pytest
import torch

from dff_common.flow_io import FLO_MAGIC, end_point_error, read_flo, write_flo


def test_round_trip_is_exact(tmp_path):
    flow = np.random.default_rng(0).normal(0, 10, (5, 7, 2)).astype(np.float32)
    path = tmp_path / "a.flo"
    write_flo(path, flow)
    assert path.stat().st_size == 12 + 5 * 7 * 2 * 4
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (5, 7, 2)
    np.testing.assert_array_equal(back, flow)


def test_layout_matches_middlebury(tmp_path):
    """Header "PIEH", width then height, then row-major (u, v) pairs."""
    flow = np.zeros((2, 3, 2), np.float32)
    flow[1, 2] = (4.5, -1.25)  # row 1, column 2
    write_flo(tmp_path / "b.flo", flow)
    raw = (tmp_path / "b.flo").read_bytes()
    assert raw[:4] == b"PIEH"
    assert np.frombuffer(raw[4:12], "<i4").tolist() == [3, 2]
    values = np.frombuffer(raw[12:], "<f4")
    assert values[(1 * 3 + 2) * 2 :][:2].tolist() == [4.5, -1.25]
    assert np.count_nonzero(values) == 2


def _write_raw(path, magic, width, height, num_floats):
    header = np.array([magic], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    path.write_bytes(header + np.zeros(num_floats, "<f4").tobytes())
    return path


def test_bad_magic(tmp_path):
    path = _write_raw(tmp_path / "bad.flo", 1.0, 2, 2, 8)
    with pytest.raises(ValueError, match="bad.flo.*magic"):
        read_flo(path)


def test_truncated(tmp_path):
    path = _write_raw(tmp_path / "short.flo", FLO_MAGIC, 4, 3, 4 * 3 * 2 - 1)
    with pytest.raises(ValueError, match="short.flo.*truncated"):
        read_flo(path)
    (tmp_path / "tiny.flo").write_bytes(b"PIEH")
    with pytest.raises(ValueError, match="tiny.flo.*truncated"):
        read_flo(tmp_path / "tiny.flo")


def test_absurd_size_and_missing(tmp_path):
    path = _write_raw(tmp_path / "huge.flo", FLO_MAGIC, -5, 3, 0)
    with pytest.raises(ValueError, match="huge.flo.*absurd"):
        read_flo(path)
    with pytest.raises(FileNotFoundError, match="nothere.flo"):
        read_flo(tmp_path / "nothere.flo")
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        write_flo(tmp_path / "c.flo", np.zeros((3, 4)))


def test_end_point_error_numpy():
    gt = np.random.default_rng(1).normal(0, 3, (6, 8, 2))
    assert end_point_error(gt, gt) == 0.0
    assert end_point_error(gt + np.array([3.0, 4.0]), gt) == pytest.approx(5.0)
    pred = gt.copy()
    pred[0, 0] += (6.0, 8.0)  # one point off by 10
    assert end_point_error(pred, gt) == pytest.approx(10.0 / 48)
    valid = np.zeros((6, 8), bool)
    valid[0, :2] = True
    assert end_point_error(pred, gt, valid) == pytest.approx(5.0)


def test_end_point_error_torch_layout_and_gradient():
    gt = torch.randn(2, 2, 4, 5)
    pred = (gt + torch.tensor([-3.0, 4.0]).view(1, 2, 1, 1)).requires_grad_()
    epe = end_point_error(pred, gt, channel_axis=1)
    assert isinstance(epe, torch.Tensor) and epe.item() == pytest.approx(5.0)
    epe.backward()
    # d|d|/dd = d/|d| = (-0.6, 0.8), averaged over 40 points
    torch.testing.assert_close(pred.grad[:, 0], torch.full((2, 4, 5), -0.6 / 40))
    torch.testing.assert_close(pred.grad[:, 1], torch.full((2, 4, 5), 0.8 / 40))
    with pytest.raises(ValueError, match="not 2"):
        end_point_error(gt, gt)  # channel axis -1 has size 5
