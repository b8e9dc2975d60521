# CPU schedule for the synthetic set: the paper's shape (a 10x lr drop for the last quarter,
# Sec. 5.1) over a few hundred iterations, with a higher lr since nothing is pre-trained.
_base_ = ["./schedule_20k.py"]
max_iters = 400
optim_wrapper = dict(optimizer=dict(lr=0.01, weight_decay=1e-4))
param_scheduler = [
    dict(type="LinearLR", by_epoch=False, start_factor=0.1, begin=0, end=20),
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[300], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
)
# Same command, same numbers on a machine: mmengine seeds Python's, NumPy's and torch's
# generators (weights, sampler order, augmentations) with this seed.
randomness = dict(seed=0, deterministic=True)
