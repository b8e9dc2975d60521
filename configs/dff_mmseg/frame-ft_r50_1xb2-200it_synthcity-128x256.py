# Control for dff-ft: the Frame model trained 200 more iterations on single frames with the
# same fine-tuning schedule (lr 1e-3 for 150 iterations, 1e-4 for 50), so that Frame and
# "DFF with N from Frame" have seen the same number of iterations.
_base_ = ["./frame_r50_1xb2-400it_synthcity-128x256.py"]
max_iters = 200
load_from = "work_dirs/table4_seed0/frame/iter_400.pth"
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[150], gamma=0.1)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
