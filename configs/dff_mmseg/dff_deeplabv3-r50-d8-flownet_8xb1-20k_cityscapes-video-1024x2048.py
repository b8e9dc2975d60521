# DFF around mmseg's DeepLabV3 R-50-D8, composed from the zoo's model file (N, unchanged) and
# this project's Cityscapes video data (full frames), schedule (Sec. 5.1) and runtime.
# N is cut after the backbone; F: FlowNet with the scale field on half-size frames; l = 5.
_base_ = [
    "mmseg::_base_/models/deeplabv3_r50-d8.py",
    "./_base_/datasets/cityscapes_video.py",
    "./_base_/schedules/schedule_20k.py",
    "./_base_/default_runtime.py",
]
model = dict(
    type="DFFSegmentor",
    data_preprocessor=dict(type="VideoSegDataPreProcessor"),
    flow_net=dict(
        type="FlowNetSimple",
        init_cfg=dict(type="Pretrained", checkpoint="checkpoints/flownet_flyingchairs_dff.pth"),
    ),
    split="neck",
    interval=5,
    test_cfg=dict(protocol="pairs"),
)
load_from = "checkpoints/deeplabv3_r50-d8_512x1024_40k_cityscapes_20200605_022449-acadc2f8.pth"
