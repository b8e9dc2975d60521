# Table 5, split 12: N_task = res5a (3 layers + its projection shortcut), res5b, res5c, the
# 3x3 conv to 1024 channels and the 1x1 classifier; the 1024-channel res4 output is propagated.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(backbone=dict(num_task_layers=12))
