# DFF on the synthetic set with N initialised from the Frame model (the stand-in for the
# paper's ImageNet initialisation, which does not exist for this data) and F from the
# synthetic Flying-Chairs pre-training; N and F then fine-tuned end to end on frame pairs
# (l = 5) at the paper's lr 1e-3 for 150 iterations and 1e-4 for 50.
_base_ = ["./dff_r50-flownet_1xb2-400it_synthcity-128x256.py"]
max_iters = 200
load_from = "work_dirs/table4_seed0/frame/iter_400.pth"
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(custom_keys={"propagation.flow_net": dict(lr_mult=1.0)}),
)
param_scheduler = [
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[150], gamma=0.1)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
