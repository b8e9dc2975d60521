# The wrapped zoo model on the synthetic set (`python tools/table4.py seg --zoo`): SegFormer
# MiT-B0 as in its unchanged mmseg config, N from the synthetic Frame model
# (frame_segformer-mit-b0_...; no ImageNet MiT exists for this data), F from the synthetic
# Flying-Chairs pre-training (BatchNorm FlowNet, kept frozen), fine-tuned end to end on pairs
# (l = 5): 75 iterations at the zoo's AdamW lr 6e-5 (heads x10), 25 at 6e-6. 128x256 frames,
# whole-frame inference.
_base_ = ["./dff_segformer-mit-b0-flownet_8xb1-20k_cityscapes-video-1024x1024.py"]
data_root = "datasets/synthetic_cityscapes"
crop_size = (128, 256)
max_iters = 100
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=None),
    flow_net=dict(norm="BN", init_cfg=dict(checkpoint="work_dirs/flownet_synthchairs.pth")),
    test_cfg=dict(mode="whole"),
)
load_from = "work_dirs/table4_zoo/frame-segformer/iter_200.pth"
train_pipeline = [
    dict(type="LoadVideoFrames"),
    dict(type="RandomResize", scale=(256, 128), ratio_range=(1.0, 1.5), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size),
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
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[75], gamma=0.1)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1)
)
randomness = dict(seed=0, deterministic=True)  # as every synthetic config: same seed, same numbers
