# Fig. 3 / Table 3 "Frame" with ResNet-50: the per-frame network N trained on single
# annotated frames (l = 1, no flow network).
_base_ = ["./frame_r101_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/resnet50-0676ba61.pth"),
    )
)
