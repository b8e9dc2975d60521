"""use_exact_flow: a detector propagating with the exact motion of a written set's videos."""

import pytest
import torch
from detectron2.modeling import build_model

from analysis_tools.detection_flow_error import use_exact_flow
from analysis_tools.flow_error import exact_feature_flow
from dff_common import propagation
from dff_common.propagation import resize_flow
from dff_common.synthetic.vid import replay_synthetic_vid
from dff_common.warp import warp
from dff_detectron2.engine.trainer import Trainer


@pytest.mark.parametrize("round_to_cells", [False, True])
def test_the_warp_gets_the_exact_motion_from_the_key_frame_on_any_frame_size(
    tiny_cfg, synthetic_vid, tmp_path, round_to_cells, monkeypatch
):
    synthetic_vid(
        "exactflow", num_train_videos=1, num_val_videos=2, num_test_videos=0, num_frames=5,
        height=64, width=96, num_det_images=1, max_speed=0.3, seed=4,
    )  # fmt: skip
    videos = replay_synthetic_vid(tmp_path / "ILSVRC2015", "val")
    # frames resized 64x96 -> 96x144: the 4x6 grid's flow reaches the 6x9 feature grid x1.5
    cfg = tiny_cfg(
        "MODEL.DFF.FLOW.NAME", "ZeroFlow", "MODEL.DFF.KEY_FRAME_INTERVAL", 3,
        "INPUT.MIN_SIZE_TEST", 96, "DATASETS.TEST", ("exactflow_vid_val",),
    )  # fmt: skip
    torch.manual_seed(0)
    model = use_exact_flow(build_model(cfg).eval(), videos, round_to_cells)
    warped = []

    def spy(features, flow, scale=None, **kwargs):
        warped.append((flow, scale))
        return warp(features, flow, scale, **kwargs)

    monkeypatch.setattr(propagation, "warp", spy)
    seen = []
    with torch.no_grad():
        for inputs in Trainer.build_test_loader(cfg, "exactflow_vid_val"):
            outputs = model(inputs)
            video_id, i = inputs[0]["video_id"], inputs[0]["frame_idx"]
            assert outputs[0]["key_frame_idx"] == i // 3 * 3
            if i % 3:
                seen.append((video_id, i))
    assert len(seen) == len(warped) == 2 * 3  # frames 1, 2, 4 of each video
    for (video_id, i), (flow, scale) in zip(seen, warped):
        exact = exact_feature_flow(videos[video_id], i, i // 3 * 3, 16)
        exact = exact.round() if round_to_cells else exact
        assert scale is None and flow.shape == (1, 2, 6, 9)
        torch.testing.assert_close(flow, resize_flow(exact[None], (6, 9)))
    assert any(flow.abs().max() >= 1 for flow, _ in warped)  # the scene moves by cells


def test_a_model_without_a_fixed_interval_or_propagation_is_refused(tiny_cfg):
    frame = build_model(tiny_cfg("MODEL.DFF.MODE", "frame"))
    with pytest.raises(ValueError, match="fixed key-frame interval"):
        use_exact_flow(frame, {})


def test_frames_in_batches_are_refused(tiny_cfg):
    model = use_exact_flow(build_model(tiny_cfg("MODEL.DFF.FLOW.NAME", "ZeroFlow")).eval(), {})
    image = torch.zeros(3, 64, 96, dtype=torch.uint8)
    inputs = [{"image": image, "video_id": v, "frame_idx": 0} for v in ("a", "b")]
    with pytest.raises(ValueError, match="one video frame per call"):
        model(inputs)
