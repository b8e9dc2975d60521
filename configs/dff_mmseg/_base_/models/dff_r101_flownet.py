# DFF for semantic segmentation (Sec. 4): dilated ResNet-101 + 3x3 dilation-6 conv to 1024
# channels (N_feat), one 1x1 conv to C classes (N_task), FlowNet (Table 6) with the scale field
# on half-size frames (F), key frame duration l = 5 (Cityscapes, Sec. 5.2).
data_preprocessor = dict(
    type="VideoSegDataPreProcessor",
    mean=[123.675, 116.28, 103.53],  # RGB, also the flow net's (RGB - mean) / 255 (Sec. 4)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(1024, 2048),
)
model = dict(
    type="DFFSegmentor",
    data_preprocessor=data_preprocessor,
    num_classes=19,
    interval=5,  # l, the key frame duration length
    feature_net=dict(
        depth=101,
        out_channels=1024,  # channels of the propagated feature maps (Sec. 4)
        frozen_stages=2,  # conv1 and res2 fixed, as in the original code
        norm="FrozenBN",  # BatchNorm frozen at its ImageNet statistics
        pretrained=None,  # torchvision ImageNet ResNet checkpoint (set by leaf configs)
    ),
    flow_net=dict(
        name="flownet",  # flownet | flownet_half | flownet_inception | dis (SFF) | zero (copy)
        checkpoint=None,  # flow net pre-trained on Flying Chairs (set by leaf configs)
        layout="auto",
        # FlowNet predicts flow / 20 in its input's pixels at stride 4; x 20 / 8 gives pixels of
        # the stride-8 grid of the half-size input, the feature map's (Sec. 4, PEERS.md)
        flow_factor=2.5,
    ),
    num_task_layers=1,  # split point of Table 5: 0, 1, 5, 12 or 21 layers in N_task
    flow_input_scale=0.5,  # F sees frames at half the feature network's resolution (Sec. 4)
    use_scale=True,  # the scale field S of Eq. 3
    fix_feature_net=False,  # Table 3 "DFF fix N"
    fix_flow_net=False,  # Table 3 "DFF fix F"
    ignore_index=255,
    test_cfg=dict(mode="pairs"),  # "pairs": Sec. 5.2 protocol; "stream": Algorithm 1
)
