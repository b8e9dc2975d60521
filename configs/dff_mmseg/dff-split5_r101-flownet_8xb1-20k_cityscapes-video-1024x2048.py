# Table 5, split 5: N_task = res5c (3 layers) + the 3x3 conv to 1024 channels + the 1x1
# classifier; the 2048-channel res5b output is propagated.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(backbone=dict(num_task_layers=5))
