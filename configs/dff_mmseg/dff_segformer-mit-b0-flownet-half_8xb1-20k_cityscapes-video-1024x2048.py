# DFF around mmseg's SegFormer MiT-B0, composed from the zoo's model file (N, unchanged) and
# this project's Cityscapes video data, schedule and runtime. N_feat is the Mix Transformer (four
# stages); F is FlowNet Half on quarter-size frames; l = 5 (docs/BENCHMARKS.md, "Light models
# and heavy heads": its all-MLP head is most of the time, split="decode_head" the faster cut).
_base_ = [
    "mmseg::_base_/models/segformer_mit-b0.py",
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
