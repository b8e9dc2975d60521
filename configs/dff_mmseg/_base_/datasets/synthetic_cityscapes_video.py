# The synthetic set of dff_common.synthetic.cityscapes.make_synthetic_cityscapes, in the real
# Cityscapes video layout: 128x256 frames, 30-frame snippets, frame 20 annotated. Written by
# `python tools/table4.py seg` (or make_synthetic_cityscapes("datasets/synthetic_cityscapes")).
_base_ = ["./cityscapes_video.py"]
data_root = "datasets/synthetic_cityscapes"
train_pipeline = [
    dict(type="LoadVideoFrames"),
    dict(type="RandomResize", scale=(256, 128), ratio_range=(1.0, 1.5), keep_ratio=True),
    dict(type="RandomCrop", crop_size=(128, 256)),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackSegInputs", meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type="LoadVideoFrames"),
    dict(type="PackSegInputs", meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
