# Table 3 "DFF fix N": N trained as Frame, then fixed while F is trained on pairs.
# Train the Frame config first; its checkpoint initialises N here.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(fix_image_net=True)
load_from = "work_dirs/frame_r101_8xb1-20k_cityscapes-video-1024x2048/iter_20000.pth"
