# Table 3 "DFF" on the synthetic set: N and F trained end to end on frame pairs, l = 5.
# N starts from scratch at lr 1e-2 (schedule_synthetic); F keeps the paper's lr 1e-3
# (lr_mult 0.1): at 1e-2 its flow field diverges.
_base_ = [
    "./_base_/models/dff_r50_synthetic.py",
    "./_base_/datasets/synthetic_cityscapes_video.py",
    "./_base_/default_runtime.py",
    "./_base_/schedules/schedule_synthetic.py",
]
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={"propagation.flow_net": dict(lr_mult=0.1)}),
)
