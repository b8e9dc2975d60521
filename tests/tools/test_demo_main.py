"""The combined Table 4 of the main job (tools/demo_main.py) from the two results.json files."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("dff_demo_main", REPO / "tools" / "demo_main.py")
demo_main = sys.modules["dff_demo_main"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(demo_main)


def test_table_takes_each_row_from_its_task():
    seg = {
        "Frame": {"mIoU": 35.19, "fps": 5.52},
        "Frame (+100 it)": {"mIoU": 35.6, "fps": 5.4},
        "DFF (N from Frame)": {"mIoU": 34.9, "mIoU_d0": 35.36, "fps": 7.38},
        "Copy (zero flow)": {"mIoU": 32.7, "fps": 23.88},
        "SFF (DIS flow)": {"mIoU": 34.36, "fps": 21.64},
    }
    det = {
        "Frame": {"mAP": 19.14, "fps": 10.2},
        "Frame (+150 it)": {"mAP": 21.04, "fps": 10.1},
        "DFF (l=10)": {"mAP": 17.2, "fps": 28.16},
        "DFF N (l=1)": {"mAP": 20.44, "fps": 10.98},
        "Copy (l=10)": {"mAP": 17.0, "fps": 61.31},
        "SFF-DIS (l=10)": {"mAP": 16.04, "fps": 54.21},
        "Exact flow (l=10)": {"mAP": 16.55, "fps": 60.0},
    }
    lines = demo_main.table([(seg, det)]).splitlines()
    # the headline: DFF against the control, speed ratio and accuracy difference
    assert lines[1].split() == [
        "segmentation", "(l", "=", "5)", "1.4x", "faster", "(7.4", "vs", "5.4", "fps),", "mIoU",
        "34.9", "vs", "35.6", "(-0.7)",
    ]  # fmt: skip
    assert lines[2].split()[4:] == [
        "2.8x", "faster", "(28.2", "vs", "10.1", "fps),", "VID", "mAP", "17.2", "vs", "21.0",
        "(-3.8)",
    ]  # fmt: skip
    lines = lines[4:]
    assert [line.split()[-4:] for line in lines[2:]] == [
        ["35.2", "5.5", "19.1", "10.2"],
        ["35.6", "5.4", "21.0", "10.1"],  # the control: Frame trained as long as DFF
        ["34.9", "7.4", "17.2", "28.2"],
        ["35.4", "-", "20.4", "11.0"],  # segmentation: DFF at key distance 0
        ["32.7", "23.9", "17.0", "61.3"],
        ["34.4", "21.6", "16.0", "54.2"],
        ["-", "-", "16.6", "60.0"],  # the oracle row: detection only
    ]
    assert lines[3].startswith("Frame, trained as DFF")
    assert lines[5].startswith("DFF's N, every frame")
    assert lines[8].startswith("Exact motion (oracle F)")


def test_several_seeds_give_mean_and_standard_deviation():
    def run(frame_miou, frame_map):
        seg = {
            "Frame": {"mIoU": frame_miou, "fps": 5.0},
            "Frame (+100 it)": {"mIoU": 33.0, "fps": 5.0},
            "DFF (N from Frame)": {"mIoU": 30.0, "mIoU_d0": 31.0, "fps": 7.0},
            "Copy (zero flow)": {"mIoU": 28.0, "fps": 20.0},
            "SFF (DIS flow)": {"mIoU": 29.0, "fps": 19.0},
        }
        det = {
            name: {"mAP": frame_map if name == "Frame" else 10.0, "fps": 4.0 * (i + 1)}
            for i, name in enumerate(
                [
                    "Frame",
                    "Frame (+150 it)",
                    "DFF (l=10)",
                    "DFF N (l=1)",
                    "Copy (l=10)",
                    "SFF-DIS (l=10)",
                    "Exact flow (l=10)",
                ]
            )
        }
        return seg, det

    lines = demo_main.table([run(30.0, 12.0), run(34.0, 18.0), run(32.0, 15.0)]).splitlines()
    assert "1.4x faster (7.0 vs 5.0 fps), mIoU 30.0 vs 33.0 (-3.0)" in lines[1]
    lines = lines[4:]
    # mean and sample standard deviation: 32 +- 2 mIoU, 15 +- 3 mAP; fps: the mean
    assert lines[2].split()[-8:] == ["32.0", "+-", "2.0", "5.0", "15.0", "+-", "3.0", "4.0"]
    assert lines[3].split()[-8:] == ["33.0", "+-", "0.0", "5.0", "10.0", "+-", "0.0", "8.0"]
    assert lines[4].split()[-8:] == ["30.0", "+-", "0.0", "7.0", "10.0", "+-", "0.0", "12.0"]
    assert lines[5].split()[-8:] == ["31.0", "+-", "0.0", "-", "10.0", "+-", "0.0", "16.0"]
    assert lines[8].split()[-6:] == ["-", "-", "10.0", "+-", "0.0", "28.0"]


def test_rows_name_the_rows_the_two_table4_tools_write():
    from analysis_tools import detection_table4 as det_table4
    from analysis_tools.segmentation import QUICK_METHODS

    det_iters = det_table4.parse_args([]).dff_iters
    for label, seg, _ in demo_main.ROWS:
        seg_row = seg[0] if isinstance(seg, tuple) else seg
        assert seg_row is None or seg_row in QUICK_METHODS, label
    (control,) = (det for label, _, det in demo_main.ROWS if label == "Frame, trained as DFF")
    assert control == f"Frame (+{det_iters} it)"


def test_detection_frames_are_the_size_its_config_is_built_for():
    """The demo's detection set is rendered at the size the _192 config reads frames at
    (input size = frame height, anchors doubled with it), not at the 96x128 default."""
    from dff_detectron2 import get_dff_cfg

    cfg = get_dff_cfg(str(REPO / demo_main.DETECTION_CONFIG))
    height, width = demo_main.DETECTION_SIZE
    assert cfg.INPUT.MIN_SIZE_TEST == cfg.INPUT.MIN_SIZE_TRAIN[0] == height
    assert cfg.INPUT.MAX_SIZE_TEST >= width
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[height // 4, height // 2, height]]
