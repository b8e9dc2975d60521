# Table 3 "SFF" on the synthetic set: the Frame network N with a hand-crafted, untrained flow
# (OpenCV DIS in place of SIFT-Flow) and no scale field, evaluated on the l = 5 pairs.
# Evaluation only: --eval-only --checkpoint <Frame checkpoint>.
_base_ = ["./dff_r50-flownet_1xb2-400it_synthcity-128x256.py"]
model = dict(flow_net=dict(_delete_=True, type="DISFlow", preset="medium"))
