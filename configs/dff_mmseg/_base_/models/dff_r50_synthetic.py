# DFF on the synthetic set, small enough to train on a CPU in minutes: ResNet-50 feature
# network trained from scratch (no ImageNet weights here, so GroupNorm instead of frozen BN),
# 256-channel conv_feat, FlowNet pre-trained on the synthetic Flying-Chairs-layout set
# (tools/pretrain_flow.py; BatchNorm encoder, kept frozen during fine-tuning).
_base_ = ["./dff_r101_flownet.py"]
model = dict(
    data_preprocessor=dict(size=(128, 256)),
    backbone=dict(depth=50, out_channels=256, frozen_stages=0, norm="GN"),
    decode_head=dict(in_channels=256, channels=256),
    flow_net=dict(
        norm="BN",
        init_cfg=dict(type="Pretrained", checkpoint="work_dirs/flownet_synthchairs.pth"),
    ),
)
