# "Frame" of the wrapped zoo model on the synthetic set (`python tools/table4.py seg --zoo`):
# SegFormer MiT-B0 as in its unchanged mmseg config, trained from scratch on single annotated
# frames (key offset 0, l = 1, no flow network): the zoo's AdamW at 10x its lr (6e-4, heads
# x10) after a 20-iteration warm-up, 150 iterations, then 50 at 6e-5.
_base_ = ["./dff_segformer-mit-b0-flownet_1xb2-100it_synthcity-128x256.py"]
interval = 1
max_iters = 200
model = dict(interval=interval, flow_net=None)
load_from = None
train_dataloader = dict(dataset=dict(interval=interval))
val_dataloader = dict(dataset=dict(interval=interval))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=6e-4))
param_scheduler = [
    dict(type="LinearLR", by_epoch=False, start_factor=0.1, begin=0, end=20),
    dict(type="MultiStepLR", by_epoch=False, begin=0, end=max_iters, milestones=[150], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
