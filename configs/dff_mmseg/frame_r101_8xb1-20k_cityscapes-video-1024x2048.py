# Table 3/4 "Frame": the per-frame network N (ResNet-101, conv_feat, 1x1 classifier) trained on
# single annotated frames (l = 1, no flow network); the oracle baseline.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
interval = 1
model = dict(interval=interval, flow_net=None)
train_dataloader = dict(dataset=dict(interval=interval))
val_dataloader = dict(dataset=dict(interval=interval))
test_dataloader = val_dataloader
