# DFF around mmseg's FCN R-50-D8 (Cityscapes, 512x1024 crops). The zoo config, unchanged, is
# the image network N; only what DFF needs is set here. N is cut after the backbone (there is
# no neck); of its 4 levels, those the heads read are propagated: level 3 (FCN head) and
# level 2 (auxiliary FCN head, training only), both at stride 8. F: FlowNet (Table 6) with the
# scale field on half-size frames (Sec. 4); l = 5.
# Training starts from the zoo's image checkpoint (load_from; the paper's DFF starts from its
# Frame model, Table 3) and F from Flying Chairs; the zoo's ImageNet init (`pretrained`) is
# then not read (dff_mmseg.train drops the initial weights that load_from holds).
_base_ = ["mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py"]
custom_imports = dict(imports=["dff_mmseg"], allow_failed_imports=False)
runner_type = "DFFRunner"  # names a bad checkpoint (dff_mmseg.checkpoint)
interval = 5  # l, the key frame duration length (Cityscapes, Sec. 5.2)
crop_size = (512, 1024)  # the zoo's training crop
model = dict(
    type="DFFSegmentor",
    data_preprocessor=dict(type="VideoSegDataPreProcessor"),  # the zoo's mean, std and size
    flow_net=dict(
        type="FlowNetSimple",
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/flownet_flyingchairs_dff.pth"),
    ),
    split="neck",  # N_feat: the backbone and the neck (none here)
    interval=interval,
    test_cfg=dict(protocol="pairs"),  # "pairs": Sec. 5.2; "stream": Algorithm 1
)
# https://download.openmmlab.com/mmsegmentation/v0.5/fcn/fcn_r50-d8_512x1024_40k_cityscapes/fcn_r50-d8_512x1024_40k_cityscapes_20200604_192608-efe53f0d.pth
load_from = "checkpoints/fcn_r50-d8_512x1024_40k_cityscapes_20200604_192608-efe53f0d.pth"

# Cityscapes video snippets: pairs [I_k, I_i] stacked in 6 channels, so that the zoo's random
# resize, crop and flip transform both frames alike (its 3-channel photometric jitter is left
# out); evaluation on the l pairs (k, i) of every annotated val frame (Sec. 5.2).
meta_keys = ("img_path", "seg_map_path", "ori_shape", "img_shape", "pad_shape", "scale_factor")
meta_keys += ("flip", "flip_direction", "reduce_zero_label")  # PackSegInputs' default keys
meta_keys += ("video_id", "frame_indices", "key_distance")
train_pipeline = [
    dict(type="LoadVideoFrames"),
    dict(type="RandomResize", scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=crop_size, cat_max_ratio=0.75),
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
    dataset=dict(
        _delete_=True,
        type="CityscapesVideoDataset",
        data_root="datasets/cityscapes",
        split="train",
        interval=interval,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type="CityscapesVideoDataset",
        data_root="datasets/cityscapes",
        split="val",
        interval=interval,
        test_mode=True,
        pipeline=test_pipeline,
    )
)
test_dataloader = val_dataloader
val_evaluator = dict(type="KeyDistanceIoUMetric")  # mIoU, and mIoU per key distance
test_evaluator = val_evaluator

# The paper's schedule (Sec. 5.1): 20K iterations, 8 GPUs x 1 pair, lr 1e-3 for 15K, then 1e-4.
optim_wrapper = dict(optimizer=dict(lr=1e-3))  # the zoo's SGD: momentum 0.9, decay 5e-4
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=20000, milestones=[15000], gamma=0.1)
]
train_cfg = dict(max_iters=20000, val_interval=5000)
default_hooks = dict(checkpoint=dict(type="AtomicCheckpointHook", interval=5000))  # kill-safe
