# DFF around mmseg's STDC1 (a light real-time model), composed from the zoo's model file (N,
# unchanged) and this project's Cityscapes video data, schedule and runtime. N_feat is the
# backbone (the decode head's and the auxiliary heads' inputs); F is FlowNet Half on
# quarter-size frames, cheap enough for a light N; l = 5 (docs/BENCHMARKS.md, "Light models and
# heavy heads": propagating the scores, split="decode_head", is faster still).
_base_ = [
    "mmseg::_base_/models/stdc.py",
    "./_base_/datasets/cityscapes_video.py",
    "./_base_/schedules/schedule_20k.py",
    "./_base_/default_runtime.py",
]
model = dict(
    type="DFFSegmentor",
    data_preprocessor=dict(type="VideoSegDataPreProcessor"),
    flow_net=dict(type="FlowNetHalf", init_cfg=None),
    flow_input_scale=0.25,
    split="neck",
    interval=5,
    test_cfg=dict(protocol="pairs"),
)
