# Table 3 "DFF fix N" on the synthetic set: N (N_feat and the 1x1 classifier) from the Frame
# model and kept fixed; only F (from the synthetic Flying-Chairs pre-training) is trained on
# frame pairs (l = 5), with the schedule of dff-ft (lr 1e-3 for 150 iterations, 1e-4 for 50).
_base_ = ["./dff-ft_r50-flownet_1xb2-200it_synthcity-128x256.py"]
model = dict(fix_image_net=True)
