# Fig. 3 / Table 8: ResNet-101 + FlowNet Inception (1/8 of FlowNet's complexity).
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(
    flow_net=dict(
        type="FlowNetInception",
        init_cfg=dict(
            type="Pretrained", checkpoint="checkpoints/flownet_inception_flyingchairs_dff.pth"
        ),
    )
)
