# Sec. 5.1 (Cityscapes): 20K SGD iterations on 8 GPUs x 1 pair, lr 1e-3 for the first 15K and
# 1e-4 for the last 5K.
optimizer = dict(type="SGD", lr=1e-3, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(type="OptimWrapper", optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=20000, milestones=[15000], gamma=0.1)
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=20000, val_interval=5000)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    checkpoint=dict(type="AtomicCheckpointHook", by_epoch=False, interval=5000),  # kill-safe
    sampler_seed=dict(type="DistSamplerSeedHook"),
    visualization=dict(type="SegVisualizationHook"),
)
