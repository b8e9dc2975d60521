# Table 3 "DFF separate": N from Frame, F from Flying Chairs, no joint training.
# Evaluation only: --eval-only (N from the Frame checkpoint, F from its own checkpoint).
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
load_from = "work_dirs/frame_r101_8xb1-20k_cityscapes-video-1024x2048/iter_20000.pth"
