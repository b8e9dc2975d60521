# Fig. 3 / Table 7: ResNet-101 + FlowNet Half (every width halved, 1/4 of the complexity).
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(
    flow_net=dict(
        type="FlowNetHalf",
        init_cfg=dict(
            type="Pretrained", checkpoint="checkpoints/flownet_half_flyingchairs_dff.pth"
        ),
    )
)
