# The paper's setting (Sec. 5.1, Table 4 "DFF"): ResNet-101 + FlowNet, l = 5, frames at
# 1024x2048 for N_feat and 512x1024 for F, SGD lr 1e-3 for 15K then 1e-4 for 5K iterations,
# 8 GPUs x 1 pair. Weights: torchvision's ImageNet ResNet-101 and a FlowNet pre-trained on
# Flying Chairs by tools/pretrain_flow.py ("dff" layout: input (RGB - mean) / 255).
_base_ = [
    "./_base_/models/dff_r101_flownet.py",
    "./_base_/datasets/cityscapes_video.py",
    "./_base_/default_runtime.py",
    "./_base_/schedules/schedule_20k.py",
]
model = dict(
    backbone=dict(
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/resnet101-63fe2227.pth")
    ),
    flow_net=dict(
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/flownet_flyingchairs_dff.pth")
    ),
)
