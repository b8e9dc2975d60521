# Table 3 "DFF fix F": N trained on pairs as DFF, F kept at its Flying Chairs weights.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(fix_flow_net=True)
