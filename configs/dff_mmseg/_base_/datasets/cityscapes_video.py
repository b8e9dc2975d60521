# Cityscapes video snippets (Sec. 5.1): train on frame pairs (key offset in [-(l-1), 0]),
# evaluate the l pairs (k, i), k = i-l+1 .. i, of every annotated val frame (Sec. 5.2).
# Frames are used at their full 1024x2048 (shorter side 1024, Sec. 5.1).
dataset_type = "CityscapesVideoDataset"
data_root = "datasets/cityscapes"
interval = 5
meta_keys = (
    "img_path",
    "seg_map_path",
    "ori_shape",
    "img_shape",
    "pad_shape",
    "scale_factor",
    "flip",
    "flip_direction",
    "reduce_zero_label",
    "video_id",
    "frame_indices",
    "key_distance",
)
train_pipeline = [
    dict(type="LoadVideoFrames"),  # key and current frame stacked: one transform for both
    dict(type="Resize", scale=(2048, 1024), keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs", meta_keys=meta_keys),
]
test_pipeline = [
    dict(type="LoadVideoFrames"),
    dict(type="Resize", scale=(2048, 1024), keep_ratio=True),
    dict(type="PackSegInputs", meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="InfiniteSampler", shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="train",
        interval=interval,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split="val",
        interval=interval,
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="KeyDistanceIoUMetric", iou_metrics=["mIoU"])
test_evaluator = val_evaluator
