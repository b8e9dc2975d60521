# DFF trained on your own videos labelled by the image model (tools/label_videos.py writes
# data_root: frames/<video>/*.png, labels/<video>/*.png): N from the image model (load_from),
# F = FlowNet Half from its Flying Chairs pre-training, fine-tuned end to end on pairs (l = 5).
# Give both: --cfg-options load_from=IMAGE.pth model.flow_net.init_cfg.checkpoint=FLOW.pth
_base_ = ["./dff-ft_r50-flownet_1xb2-100it_synthcity-128x256.py"]
load_from = None
model = dict(flow_net=dict(type="FlowNetHalf", init_cfg=dict(checkpoint=None)))
classes = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
           "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
           "bus", "train", "motorcycle", "bicycle")  # fmt: skip
train_dataloader = dict(
    dataset=dict(
        _delete_=True, type="VideoSegDataset", data_root="datasets/my_videos",
        data_prefix=dict(img_path="frames", seg_map_path="labels"), img_suffix=".png",
        seg_map_suffix=".png", metainfo=dict(classes=classes), interval=5,
        pipeline={{_base_.train_pipeline}},
    )
)  # fmt: skip
val_dataloader, val_cfg, val_evaluator = None, None, None  # no labelled val set
