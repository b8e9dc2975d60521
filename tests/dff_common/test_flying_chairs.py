"""Flying Chairs layout: synthetic generator, reader, errors, and the pre-training tool."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dff_common.data.flying_chairs import SPLIT_FILE, FlyingChairs
from dff_common.flow_io import read_flo, write_flo
from dff_common.flow_nets import build_flow_net
from dff_common.flow_pretraining import multiscale_epe_loss, read_flow_meta
from dff_common.synthetic.chairs import make_synthetic_chairs

TOOL = Path(__file__).resolve().parents[2] / "tools" / "pretrain_flow.py"


@pytest.fixture(scope="module")
def chairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("chairs") / "FlyingChairs_release"
    return make_synthetic_chairs(root, 10, height=24, width=32, val_fraction=0.3, seed=1)


def test_generator_writes_the_real_layout(chairs):
    names = sorted(p.name for p in (chairs / "data").iterdir())
    expected = sorted(
        f"{n:05d}_{kind}" for n in range(1, 11) for kind in ("img1.ppm", "img2.ppm", "flow.flo")
    )
    assert names == expected
    labels = (chairs / SPLIT_FILE).read_text().split("\n")
    assert labels[-1] == "" and len(labels) == 11
    assert sorted(labels[:-1]) == ["1"] * 7 + ["2"] * 3
    assert (chairs / "data" / "00001_img1.ppm").read_bytes()[:2] == b"P6"  # binary PPM


def test_reader_reads_back_images_and_flow(chairs):
    train, val = FlyingChairs(chairs, "train"), FlyingChairs(chairs, "val")
    assert len(train) == 7 and len(val) == 3
    labels = (chairs / SPLIT_FILE).read_text().split()
    assert [labels[n - 1] for n in val.indices] == ["2", "2", "2"]
    sample = val[1]
    n = val.indices[1]
    assert sample["index"] == n
    assert sample["img1"].shape == (24, 32, 3) and sample["img1"].dtype == np.uint8
    assert sample["flow"].shape == (24, 32, 2) and sample["flow"].dtype == np.float32
    bgr = cv2.imread(str(chairs / "data" / f"{n:05d}_img2.ppm"))
    np.testing.assert_array_equal(sample["img2"], bgr[..., ::-1])
    np.testing.assert_array_equal(sample["flow"], read_flo(chairs / "data" / f"{n:05d}_flow.flo"))
    assert np.abs(sample["flow"]).max() > 0.1


def test_flow_is_exact_forward_flow(chairs):
    """img1(p) = img2(p + flow(p)): warping img2 with the flow reproduces img1."""
    errors, no_motion = [], []
    for sample in FlyingChairs(chairs, "train"):
        flow = sample["flow"]
        ys, xs = np.mgrid[0:24, 0:32].astype(np.float32)
        qx, qy = xs + flow[..., 0], ys + flow[..., 1]
        warped = cv2.remap(
            sample["img2"], qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        inside = (qx >= 0) & (qx <= 31) & (qy >= 0) & (qy <= 23)
        errors.append(np.abs(warped.astype(int) - sample["img1"].astype(int)).max(-1)[inside])
        no_motion.append(
            np.abs(sample["img2"].astype(int) - sample["img1"].astype(int)).max(-1)[inside]
        )
    errors, no_motion = np.concatenate(errors), np.concatenate(no_motion)
    # the misses are pixels occluded in img2 and object edges
    assert (errors <= 4).mean() > 0.85 and (no_motion <= 4).mean() < 0.55


def test_deterministic_and_refuses_to_overwrite(chairs, tmp_path):
    again = make_synthetic_chairs(
        tmp_path / "again", 10, height=24, width=32, val_fraction=0.3, seed=1
    )
    for name in ("00004_img1.ppm", "00004_flow.flo", "../" + SPLIT_FILE):
        assert (again / "data" / name).read_bytes() == (chairs / "data" / name).read_bytes()
    with pytest.raises(FileExistsError, match="again.*not empty"):
        make_synthetic_chairs(again, 2, height=24, width=32)
    make_synthetic_chairs(again, 2, height=24, width=32, overwrite=True)
    assert len(list((again / "data").iterdir())) == 6
    assert (again / SPLIT_FILE).read_text().split() in (["1", "2"], ["2", "1"])


def _flow_magnitudes(root) -> np.ndarray:
    samples = [*FlyingChairs(root, "train"), *FlyingChairs(root, "val")]
    return np.stack([np.linalg.norm(sample["flow"], axis=-1) for sample in samples])


def test_max_motion_sets_the_range_of_the_flow(tmp_path):
    """The same seed draws the same motions, translations scaled by ``max_motion``."""
    small, large = (
        _flow_magnitudes(
            make_synthetic_chairs(tmp_path / str(m), 8, height=48, width=64, seed=3, max_motion=m)
        )
        for m in (0.02, 0.3)
    )
    assert large.mean() > 4 * small.mean()  # 8.1 against 1.1 pixels
    assert small.max() < 0.1 * 64 < large.max()
    with pytest.raises(ValueError, match="max_motion must be > 0, got 0"):
        make_synthetic_chairs(tmp_path / "none", 2, max_motion=0)


def test_errors_name_the_file(chairs, tmp_path):
    with pytest.raises(FileNotFoundError, match=SPLIT_FILE):
        FlyingChairs(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        FlyingChairs(chairs, "test")
    root = make_synthetic_chairs(tmp_path / "broken", 3, height=24, width=32, val_fraction=0.0)
    (root / "data" / "00002_img2.ppm").unlink()
    write_flo(root / "data" / "00003_flow.flo", np.zeros((20, 32, 2), np.float32))
    (root / "data" / "00001_img1.ppm").write_bytes(b"not an image")
    dataset = FlyingChairs(root, "train")
    with pytest.raises(ValueError, match="00001_img1.ppm.*decode"):
        dataset[0]
    with pytest.raises(FileNotFoundError, match="00002_img2.ppm"):
        dataset[1]
    with pytest.raises(ValueError, match="00003_flow.flo.*size mismatch"):
        dataset[2]
    (root / SPLIT_FILE).write_text("1\n3\n")
    with pytest.raises(ValueError, match="split labels"):
        FlyingChairs(root, "train")


def _load_tool():
    spec = importlib.util.spec_from_file_location("pretrain_flow", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multiscale_loss_is_zero_for_the_pooled_ground_truth():
    flow = torch.randn(2, 2, 32, 48) * 5
    sizes = [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]  # strides 4..64, ceil
    pyramid = [torch.nn.functional.adaptive_avg_pool2d(flow / 20, s) for s in sizes]
    assert multiscale_epe_loss(pyramid, flow).item() == pytest.approx(0.0, abs=1e-6)
    pyramid[0] = pyramid[0] + torch.tensor([0.3, 0.4]).view(1, 2, 1, 1)  # EPE 0.5 at flow2
    expected = 0.005 * 0.5 * 8 * 12  # weight of flow2 x EPE summed over its pixels
    assert multiscale_epe_loss(pyramid, flow).item() == pytest.approx(expected, rel=1e-5)


@pytest.fixture
def _keep_torch_settings():
    """The tool pins threads and deterministic algorithms (seed_everything): restore them."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_pretrain_tool_smoke(tmp_path, _keep_torch_settings):
    tool = _load_tool()
    output = tmp_path / "flownet_half.pth"
    argv = f"--data {tmp_path / 'chairs'} --make-synthetic 6 --synthetic-size 32 48".split()
    argv += "--flow-net flownet_half --feat-channels 16 --iters 2 --batch-size 2".split()
    meta = tool.main(argv + ["--synthetic-max-motion", "0.2", "--output", str(output)])
    # the pairs are make_synthetic_chairs's of the tool's seed and motion range
    expected = make_synthetic_chairs(tmp_path / "expected", 6, 32, 48, seed=0, max_motion=0.2)
    for name in ("00003_flow.flo", "00005_img2.ppm"):
        assert (tmp_path / "chairs" / "data" / name).read_bytes() == (
            expected / "data" / name
        ).read_bytes()
    assert meta["run"].startswith("seed 0, 1 CPU thread, deterministic algorithms")
    # the same command again (same seed, one thread): the same weights, bit for bit
    again = tmp_path / "again.pth"
    torch.rand(5), np.random.rand(5)  # generators moved on: only the tool's seeding counts
    tool.main(argv[:2] + argv[4:] + ["--output", str(again)])
    first = torch.load(output, weights_only=False)["state_dict"]
    for key, value in torch.load(again, weights_only=False)["state_dict"].items():
        assert torch.equal(value, first[key]), key
    checkpoint = torch.load(output, weights_only=False)
    assert checkpoint["meta"]["flow_net"] == "flownet_half" and checkpoint["meta"]["norm"] == "BN"
    assert checkpoint["meta"]["input_size"] == [32, 48]  # what load_flownets checks F's input by
    assert read_flow_meta(output) == checkpoint["meta"]
    torch.save({"state_dict": checkpoint["state_dict"]}, tmp_path / "no_meta.pth")
    with pytest.raises(ValueError, match="no_meta.pth: not a flow pre-training checkpoint"):
        read_flow_meta(tmp_path / "no_meta.pth")
    assert np.isfinite(meta["epe"]) and meta["zero_flow_epe"] > 0.1
    assert [it for it, _ in meta["history"]] == [0, 2]
    # the flow heads start at zero (zero-flow EPE before training) and were trained
    assert meta["history"][0][1] == pytest.approx(meta["zero_flow_epe"], rel=1e-6)
    assert checkpoint["state_dict"]["decoder.predict_flow2.weight"].abs().sum() > 0
    net = build_flow_net("flownet_half", feat_channels=16, norm="BN")
    net.load_state_dict(checkpoint["state_dict"])  # strict
    with pytest.raises(SystemExit, match="exists"):
        tool.main(argv[:2] + ["--iters", "1", "--output", str(output)])
