# Fig. 3: ResNet-50 feature network + FlowNet.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/resnet50-0676ba61.pth"),
    )
)
