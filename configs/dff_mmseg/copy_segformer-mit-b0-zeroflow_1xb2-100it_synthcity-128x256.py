# Feature copying for the wrapped zoo model on the synthetic set: the SegFormer Frame network
# with a zero flow, the key frame's features (all 4 levels) reused unchanged for the next
# l - 1 frames (evaluated on the l = 5 pairs). Evaluation only: --eval-only --checkpoint
# <SegFormer Frame checkpoint>.
_base_ = ["./dff_segformer-mit-b0-flownet_1xb2-100it_synthcity-128x256.py"]
model = dict(flow_net=dict(_delete_=True, type="ZeroFlow"))
