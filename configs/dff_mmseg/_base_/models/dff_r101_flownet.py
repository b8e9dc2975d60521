# DFF for semantic segmentation (Sec. 4): dilated ResNet-101 + 3x3 dilation-6 conv to 1024
# channels (N_feat), one 1x1 conv to C classes (N_task: an FCNHead without convs), FlowNet
# (Table 6) with the scale field on half-size frames (F), key frame duration l = 5 (Cityscapes,
# Sec. 5.2). Initial weights (ImageNet ResNet, FlowNet on Flying Chairs) are init_cfg's of the
# leaf configs, read when training starts; a trained checkpoint needs neither.
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
    interval=5,  # l, the key frame duration length
    backbone=dict(
        type="DilatedResNet",
        depth=101,
        out_channels=1024,  # channels of the propagated feature maps (Sec. 4)
        num_task_layers=1,  # split point of Table 5: 1, 5, 12 or 21 layers in N_task
        frozen_stages=2,  # conv1 and res2 fixed, as in the original code
        norm="FrozenBN",  # BatchNorm frozen at its ImageNet statistics
    ),
    decode_head=dict(
        type="FCNHead",  # with no conv: the single 1x1 conv of N_task (Sec. 4)
        in_channels=1024,
        in_index=0,
        channels=1024,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=19,
        align_corners=False,
        loss_decode=dict(
            type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True
        ),
    ),
    flow_net=dict(
        type="FlowNetSimple",  # FlowNet | FlowNetHalf | FlowNetInception | DISFlow (SFF) | ZeroFlow
        # FlowNet predicts flow / 20 in its input's pixels at stride 4; x 20 / 8 gives pixels of
        # the stride-8 grid of the half-size input, the feature map's (Sec. 4)
        flow_factor=2.5,
    ),
    split="neck",  # N_feat = the backbone (no neck); "decode_head": Table 5's split 0
    flow_input_scale=0.5,  # F sees frames at half the feature network's resolution (Sec. 4)
    use_scale=True,  # the scale field S of Eq. 3
    fix_image_net=False,  # Table 3 "DFF fix N"
    fix_flow_net=False,  # Table 3 "DFF fix F"
    test_cfg=dict(mode="whole", protocol="pairs"),  # "pairs": Sec. 5.2; "stream": Algorithm 1
)
