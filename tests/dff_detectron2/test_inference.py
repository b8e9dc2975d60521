"""dff_detectron2.inference: the engine's networks of a DFFRCNN give the model's own video
inference, the clip is normalised and padded as the model does it, the proposals are counted."""

import pytest
import torch
from detectron2.modeling import build_model

from dff_common.engine import DFFInferenceEngine
from dff_common.scheduler import FixedIntervalScheduler
from dff_detectron2.inference import engine_networks, normalize_clip, record_proposals


@pytest.fixture(scope="module")
def clip():
    """(3, 3, 56, 64) uint8 frames: 56 rows, padded to 64 by the backbone's divisibility."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 3, 56, 64), generator=generator, dtype=torch.uint8)


@pytest.fixture(scope="module")
def model(tiny_cfg):
    torch.manual_seed(0)
    return build_model(tiny_cfg("MODEL.DFF.KEY_FRAME_INTERVAL", 2)).eval()


def test_normalize_clip_is_the_models_preprocessing(model, clip):
    inputs = normalize_clip(model, clip)
    (expected,) = model.preprocess_frames([{"image": frame} for frame in clip])
    assert inputs.shape == (3, 3, 64, 64) and torch.equal(inputs, expected.tensor)


def test_algorithm_1_on_the_engine_networks_is_the_models_video_inference(model, clip):
    proposals = record_proposals(model)
    engine = DFFInferenceEngine(*engine_networks(model, (56, 64)), FixedIntervalScheduler(2))
    with torch.no_grad():
        outputs = [out.result for out in engine.run_video(normalize_clip(model, clip))]
        model.reset_videos()
        video = [
            model.inference([{"image": f, "video_id": "a", "frame_idx": i}], False)[0]
            for i, f in enumerate(clip)
        ]
    for ours, theirs in zip(outputs, video, strict=True):
        assert ours.image_size == theirs.image_size == (56, 64)
        assert torch.equal(ours.pred_boxes.tensor, theirs.pred_boxes.tensor)
        assert torch.equal(ours.scores, theirs.scores)
    # one count per frame, the same for the engine's frames and the model's
    assert len(proposals) == 6 and proposals[:3] == proposals[3:]
    assert all(0 < count <= model.proposal_generator.post_nms_topk[False] for count in proposals)


def test_image_size_defaults_to_the_frames(model, clip):
    feature_net, task_net, _ = engine_networks(model)
    inputs = normalize_clip(model, clip[:1])
    with torch.no_grad():
        (instances,) = task_net(feature_net(inputs), inputs)
    assert instances.image_size == (64, 64)
