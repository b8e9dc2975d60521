# Fig. 3: ResNet-50 + FlowNet Half.
_base_ = ["./dff_r101-flownet-half_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(feature_net=dict(depth=50, pretrained="checkpoints/resnet50-0676ba61.pth"))
