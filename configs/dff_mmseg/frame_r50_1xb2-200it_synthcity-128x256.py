# "Frame" on the synthetic set with the demo's short schedule (`python tools/table4.py seg
# --quick`): 150 iterations at lr 1e-2, 50 at 1e-3.
_base_ = ["./frame_r50_1xb2-400it_synthcity-128x256.py"]
max_iters = 200
param_scheduler = [
    dict(type="LinearLR", by_epoch=False, start_factor=0.1, begin=0, end=20),
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[150], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
