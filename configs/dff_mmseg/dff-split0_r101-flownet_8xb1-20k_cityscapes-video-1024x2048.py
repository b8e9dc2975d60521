# Table 5, split 0: the 1x1 classifier moved into N_feat, leaving N_task with no learnable
# layer: the 19 class score maps are propagated (the scale field has 19 channels).
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(split="decode_head")
