# DFF around mmseg's UPerNet R-50, composed from the zoo's model file (N, unchanged) and this
# project's Cityscapes video data, schedule and runtime. UPerNet's head costs several times its
# backbone, so the split is Table 5's 0: N_feat is the whole image network and its class scores
# are propagated (split="decode_head"; the auxiliary FCN head, which reads the current frame's
# backbone, is dropped); F is FlowNet Half on quarter-size frames; l = 5
# (docs/BENCHMARKS.md, "Light models and heavy heads").
_base_ = [
    "mmseg::_base_/models/upernet_r50.py",
    "./_base_/datasets/cityscapes_video.py",
    "./_base_/schedules/schedule_20k.py",
    "./_base_/default_runtime.py",
]
model = dict(
    type="DFFSegmentor",
    data_preprocessor=dict(type="VideoSegDataPreProcessor"),
    auxiliary_head=None,
    flow_net=dict(type="FlowNetHalf", init_cfg=None),
    flow_input_scale=0.25,
    split="decode_head",
    interval=5,
    test_cfg=dict(protocol="pairs"),
)
