"""Test-time sharding: whole videos per process, frames in order (VideoInferenceSampler)."""

import pytest
import torch
from detectron2.data import DatasetCatalog

from dff_detectron2.data.data_loader import VideoInferenceSampler, build_dff_test_loader
from dff_detectron2.data.dataset_mapper import DFFPairDatasetMapper
from dff_detectron2.engine.trainer import Trainer


def _records(lengths, shuffle_frames=False):
    records = []
    for video, n in enumerate(lengths):
        frames = list(range(n))[::-1] if shuffle_frames else range(n)
        records += [{"video_id": f"v{video}", "frame_idx": f} for f in frames]
    return records


def test_shards_are_whole_videos_in_frame_order():
    records = _records([5, 2, 3, 6, 4], shuffle_frames=True)  # frames stored last to first
    shards = [list(VideoInferenceSampler(records, rank, 2)) for rank in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(len(records)))  # each frame exactly once
    for shard in shards:
        videos = [records[i]["video_id"] for i in shard]
        frames = [records[i]["frame_idx"] for i in shard]
        for video in set(videos):
            mine = [f for v, f in zip(videos, frames) if v == video]
            assert mine == list(range(_length(records, video))), video  # whole, in order
    # 20 frames, middle frames at 2.5, 6, 8.5 | 13, 18: videos 0-2 and 3-4, 10 frames each
    assert [records[i]["video_id"] for i in shards[1]] == ["v3"] * 6 + ["v4"] * 4
    assert len(VideoInferenceSampler(records, 0, 1)) == len(records)


def _length(records, video):
    return sum(r["video_id"] == video for r in records)


def test_more_processes_than_videos_and_images_without_video():
    records = _records([3]) + [{"image_id": "a"}, {"image_id": "b"}]  # two single images
    shards = [list(VideoInferenceSampler(records, rank, 4)) for rank in range(4)]
    assert sorted(sum(shards, [])) == [0, 1, 2, 3, 4]
    assert [0, 1, 2] in shards  # the video stays together
    with pytest.raises(ValueError, match="rank 4 is outside 0..3"):
        VideoInferenceSampler(records, 4, 4)
    with pytest.raises(ValueError, match="no frames"):
        VideoInferenceSampler([], 0, 1)


@pytest.fixture
def shardvid(synthetic_vid):
    return synthetic_vid(
        "shardvid", num_train_videos=1, num_val_videos=3, num_test_videos=0, num_frames=5,
        height=48, width=64, num_det_images=1, seed=2,
    )  # fmt: skip


def _detections(model, cfg, rank, world_size):
    """Boxes and scores per image_id of Algorithm 1 run over one process's shard."""
    records = DatasetCatalog.get("shardvid_vid_val")
    mapper = DFFPairDatasetMapper(cfg, is_train=False)
    model.reset_videos()
    out = {}
    with torch.no_grad():
        for index in VideoInferenceSampler(records, rank, world_size):
            inputs = [mapper(records[index])]
            (result,) = model(inputs)
            instances = result["instances"]
            out[inputs[0]["image_id"]] = (instances.pred_boxes.tensor, instances.scores)
    return out


def test_two_processes_give_the_single_process_detections(tiny_cfg, shardvid):
    """detectron2's InferenceSampler would cut the 15 frames 8 | 7, in the middle of video 2,
    and start it anew on rank 1 with a key frame at its frame 3 (l = 4: keys 0, 4); whole
    videos keep every key frame."""
    cfg = tiny_cfg(
        "DATASETS.TEST", ("shardvid_vid_val",), "MODEL.DFF.KEY_FRAME_INTERVAL", 4,
        "MODEL.ROI_HEADS.NUM_CLASSES", 30, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Trainer.build_model(cfg).eval()
    single = _detections(model, cfg, 0, 1)
    split = {**_detections(model, cfg, 0, 2), **_detections(model, cfg, 1, 2)}
    assert split.keys() == single.keys() and len(single) == 15
    for image_id, (boxes, scores) in single.items():
        assert len(scores) > 0, image_id
        assert torch.equal(split[image_id][0], boxes) and torch.equal(split[image_id][1], scores)
    # and the loader the trainer builds uses it: batch 1, video 0's frames first, in order
    loader = build_dff_test_loader(cfg, "shardvid_vid_val", DFFPairDatasetMapper(cfg, False))
    frames = [(b[0]["video_id"], b[0]["frame_idx"]) for b in loader]
    assert len(frames) == 15 and frames[:5] == [(frames[0][0], f) for f in range(5)]
