# DFF with N from the short-schedule Frame model, the demo's schedule (`python tools/table4.py
# seg --quick`): N and F fine-tuned end to end on pairs (l = 5) at lr 1e-3 for 75 iterations and
# 1e-4 for 25.
_base_ = ["./dff-ft_r50-flownet_1xb2-200it_synthcity-128x256.py"]
max_iters = 100
load_from = "work_dirs/table4_quick_seed0/frame-quick/iter_200.pth"
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[75], gamma=0.1)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
