# Table 5, split 21: the 12 layers of split 12 plus the last three res4 units (res4b20-22 of
# ResNet-101, 3 layers each); the 1024-channel output of res4b19 is propagated.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(backbone=dict(num_task_layers=21))
