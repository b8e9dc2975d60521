# Feature copying on the synthetic set: the Frame network N with a zero flow, i.e. the key
# frame's features reused unchanged for the next l - 1 frames (evaluated on the l = 5 pairs).
# Evaluation only: --eval-only --checkpoint <Frame checkpoint>.
_base_ = ["./dff_r50-flownet_1xb2-400it_synthcity-128x256.py"]
model = dict(flow_net=dict(_delete_=True, type="ZeroFlow"))
