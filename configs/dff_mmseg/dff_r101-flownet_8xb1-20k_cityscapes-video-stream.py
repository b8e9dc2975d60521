# Algorithm 1 on the val snippets: key frames every l = 5 frames from each snippet's first
# frame, features propagated by the engine of dff_common; scored on the annotated frames.
# Evaluation only: --eval-only --checkpoint <DFF checkpoint>.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(test_cfg=dict(protocol="stream"))
test_dataloader = dict(dataset=dict(mode="stream"))
