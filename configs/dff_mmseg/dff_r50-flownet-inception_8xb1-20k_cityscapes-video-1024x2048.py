# Fig. 3: ResNet-50 + FlowNet Inception, the fastest combination.
_base_ = ["./dff_r101-flownet-inception_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/resnet50-0676ba61.pth"),
    )
)
