"""Middlebury ``.flo`` optical-flow files and the end-point error.

The ``.flo`` layout (Baker et al., "A Database and Evaluation Methodology for Optical Flow"),
used by Flying Chairs (the flow networks' pre-training set, paper Sec. 4): the float32 magic
number 202021.25 (the bytes "PIEH"), int32 width, int32 height, then float32 ``(height, width,
2)`` row-major with channel 0 = x (u), all little-endian.
"""

import os

import numpy as np
import torch

__all__ = ["end_point_error", "read_flo", "write_flo"]

FLO_MAGIC = 202021.25
MAX_FLO_SIDE = 100_000
_HEADER = np.dtype([("magic", "<f4"), ("width", "<i4"), ("height", "<i4")])


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file.

    Args:
        path (str | os.PathLike): the file.

    Returns:
        np.ndarray: float32 (H, W, 2) flow, channel 0 = x.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: bad magic number, absurd size, or a file size that does not match the header.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such .flo file")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _HEADER.itemsize:
        raise ValueError(f"{path}: truncated .flo file ({len(data)} bytes, header needs 12)")
    header = np.frombuffer(data, _HEADER, count=1)[0]
    if header["magic"] != np.float32(FLO_MAGIC):
        raise ValueError(f"{path}: bad .flo magic number {header['magic']} (want {FLO_MAGIC})")
    width, height = int(header["width"]), int(header["height"])
    if not (0 < width <= MAX_FLO_SIDE and 0 < height <= MAX_FLO_SIDE):
        raise ValueError(f"{path}: absurd .flo size width={width}, height={height}")
    expected = _HEADER.itemsize + 4 * 2 * width * height
    if len(data) != expected:
        raise ValueError(
            f"{path}: .flo file has {len(data)} bytes, header {width}x{height} needs {expected}"
            " (truncated or corrupt)"
        )
    flow = np.frombuffer(data, "<f4", offset=_HEADER.itemsize).reshape(height, width, 2)
    return flow.astype(np.float32)


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> None:
    """Write ``flow`` (H, W, 2), channel 0 = x, as a Middlebury ``.flo`` file (float32)."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape[:2]) < 1:
        raise ValueError(f"{os.fspath(path)}: flow must have shape (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    header = np.array([(FLO_MAGIC, width, height)], _HEADER)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())


def end_point_error(pred, gt, valid=None, channel_axis: int = -1):
    """Mean end-point error: the average Euclidean distance between flow vectors.

    Args:
        pred (np.ndarray | torch.Tensor): predicted flow, (..., 2) with channel_axis=-1 (numpy
            (H, W, 2) layout) or (N, 2, H, W) with channel_axis=1 (torch layout).
        gt (np.ndarray | torch.Tensor): ground-truth flow, same shape as ``pred``.
        valid (np.ndarray | torch.Tensor, optional): bool mask of the points to average over,
            the shape of ``pred`` without the channel axis. Defaults to all points.
        channel_axis (int): the axis holding (x, y). Defaults to -1.

    Returns:
        float | torch.Tensor: a Python float for numpy inputs, a 0-dim tensor (differentiable)
        for torch inputs; NaN if no point is valid.
    """
    if tuple(pred.shape) != tuple(gt.shape):
        raise ValueError(f"end_point_error: pred {tuple(pred.shape)} vs gt {tuple(gt.shape)}")
    if pred.shape[channel_axis] != 2:
        raise ValueError(f"end_point_error: axis {channel_axis} of {tuple(pred.shape)} is not 2")
    if isinstance(pred, torch.Tensor):
        dist = torch.linalg.vector_norm(pred - gt.to(pred), dim=channel_axis)
        return dist.mean() if valid is None else dist[valid.to(torch.bool)].mean()
    dist = np.linalg.norm(
        np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=channel_axis
    )
    if valid is not None:
        dist = dist[np.asarray(valid, bool)]
    return float(dist.mean()) if dist.size else float("nan")
