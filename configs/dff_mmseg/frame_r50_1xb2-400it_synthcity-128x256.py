# Table 3 "Frame" on the synthetic set: the per-frame network N trained on single annotated
# frames (key offset always 0, l = 1), no flow network.
_base_ = [
    "./_base_/models/dff_r50_synthetic.py",
    "./_base_/datasets/synthetic_cityscapes_video.py",
    "./_base_/default_runtime.py",
    "./_base_/schedules/schedule_synthetic.py",
]
interval = 1
model = dict(interval=interval, flow_net=None)
train_dataloader = dict(dataset=dict(interval=interval))
val_dataloader = dict(dataset=dict(interval=interval))
test_dataloader = val_dataloader
