# Fig. 3: ResNet-50 feature network + FlowNet.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
model = dict(feature_net=dict(depth=50, pretrained="checkpoints/resnet50-0676ba61.pth"))
