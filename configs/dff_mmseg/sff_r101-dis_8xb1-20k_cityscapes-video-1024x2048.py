# Table 3 "SFF": N from Frame with a hand-crafted flow (OpenCV DIS in place of SIFT-Flow; the
# "medium" preset plays SFF-slow, "ultrafast" SFF-fast), no scale field, no training.
# Evaluation only: --eval-only (N from the Frame checkpoint).
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(flow_net=dict(_delete_=True, type="DISFlow", preset="medium"))
load_from = "work_dirs/frame_r101_8xb1-20k_cityscapes-video-1024x2048/iter_20000.pth"
