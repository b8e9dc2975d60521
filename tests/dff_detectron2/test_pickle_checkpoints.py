"""``.pkl`` checkpoints (the model zoos' format) are read without running code from them."""

import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from dff_common.checkpoint_files import load_pickle
from dff_detectron2.checkpoint.checkpointer import DFFCheckpointer

CONFIG = "configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml"


class _Payload:
    """Unpickled by ``pickle.load``, it creates the file ``marker``: code run from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _crafted(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "model_final_crafted.pkl"
    weights = {"model": {"conv.weight": _Payload(marker)}, "__author__": "Detectron2 Model Zoo"}
    path.write_bytes(pickle.dumps(weights))
    return path, marker


def test_plain_pickle_would_run_the_payload(tmp_path):  # the test's payload is real
    path, marker = _crafted(tmp_path)
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_load_pickle_refuses_the_payload_naming_the_file_and_object(tmp_path):
    path, marker = _crafted(tmp_path)
    with pytest.raises(ValueError, match=r"model_final_crafted\.pkl: it references io\.open"):
        load_pickle(str(path))
    assert not marker.exists()


def test_load_pickle_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"model": {"w": np.ones(9)}})[:20])
    with pytest.raises(ValueError, match=r"cut\.pkl: not a pickle or truncated"):
        load_pickle(str(path))


def test_model_zoo_and_detectron_pkl_files_load_with_their_values(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    weights = {k: np.random.default_rng(0).normal(size=v.shape).astype(np.float32)
               for k, v in model.state_dict().items()}  # fmt: skip
    zoo = tmp_path / "zoo.pkl"
    zoo.write_bytes(pickle.dumps({"model": weights, "__author__": "Detectron2 Model Zoo"}))
    DFFCheckpointer(model).load(str(zoo))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), weights[key])
    # Detectron (Caffe2) layout: blobs, with momenta, pickled by Python 2 (latin1 strings)
    blobs = {"conv1_w": np.ones((2, 3), np.float32), "conv1_w_momentum": np.zeros((2, 3))}
    caffe2 = tmp_path / "R-50.pkl"
    caffe2.write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    loaded = DFFCheckpointer(model)._load_file(str(caffe2))
    assert loaded["matching_heuristics"] and list(loaded["model"]) == ["conv1_w"]
    np.testing.assert_array_equal(loaded["model"]["conv1_w"], blobs["conv1_w"])


@pytest.mark.parametrize("tool", ["train_net", "demo", "convert_weights"])
def test_no_entry_point_runs_code_from_a_crafted_pkl(tmp_path, tool):
    path, marker = _crafted(tmp_path)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i:06d}.png"), np.zeros((48, 64, 3), np.uint8))
    command = {
        "train_net": ["--config", CONFIG, "--eval-only", "MODEL.WEIGHTS", str(path),
                      "OUTPUT_DIR", str(tmp_path / "out"), "DATASETS.TEST", "()"],
        "demo": ["--config", CONFIG, "--checkpoint", str(path), "--input", str(frames),
                 "--output", str(tmp_path / "out.mp4"), "--device", "cpu"],
        "convert_weights": ["--config", CONFIG, "--base", str(path),
                            "--output", str(tmp_path / "init.pth")],
    }[tool]  # fmt: skip
    run = subprocess.run(
        [sys.executable, f"tools/{tool}.py", *command], capture_output=True, text=True, timeout=300
    )
    assert run.returncode != 0
    assert not marker.exists(), f"tools/{tool}.py ran code from {path}"
    assert f"refusing to load {path}: it references io.open" in run.stderr
