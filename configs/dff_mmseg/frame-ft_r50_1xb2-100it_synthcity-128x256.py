# Control for dff-ft-quick (the demo's schedule, `python tools/table4.py seg --quick`): the
# short-schedule Frame model trained 100 more iterations on single frames with DFF's
# fine-tuning schedule (lr 1e-3 for 75 iterations, 1e-4 for 25), so that Frame and "DFF with
# N from Frame" have seen the same iterations.
_base_ = ["./frame-ft_r50_1xb2-200it_synthcity-128x256.py"]
max_iters = 100
load_from = "work_dirs/table4_quick_seed0/frame-quick/iter_200.pth"
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[75], gamma=0.1)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
