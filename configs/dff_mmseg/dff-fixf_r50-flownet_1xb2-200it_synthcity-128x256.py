# Table 3 "DFF fix F" on the synthetic set: N trained on frame pairs as in dff-ft (from the
# Frame model, the stand-in for ImageNet), F kept at its synthetic Flying-Chairs weights.
_base_ = ["./dff-ft_r50-flownet_1xb2-200it_synthcity-128x256.py"]
model = dict(fix_flow_net=True)
