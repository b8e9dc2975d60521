# Table 3 "DFF" on the synthetic set: N and F trained end to end on frame pairs, l = 5.
_base_ = [
    "./_base_/models/dff_r50_synthetic.py",
    "./_base_/datasets/synthetic_cityscapes_video.py",
    "./_base_/default_runtime.py",
    "./_base_/schedules/schedule_synthetic.py",
]
