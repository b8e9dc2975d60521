# Cityscapes benchmark submission for the test split (no labels): one prediction per annotated
# frame, the one Algorithm 1 gives it (key frames every l = 5 frames from the snippet's first,
# so the 20th frame is 19 % 5 = 4 frames after its key frame), written as label-id PNGs.
# Evaluation only: --eval-only --checkpoint <DFF checkpoint>.
_base_ = ["./dff_r101-flownet_8xb1-20k_cityscapes-video-1024x2048.py"]
test_pipeline = [
    dict(type="LoadVideoFrames", with_label=False),
    dict(type="Resize", scale=(2048, 1024), keep_ratio=True),
    dict(type="PackSegInputs", meta_keys={{_base_.meta_keys}}),
]
test_dataloader = dict(
    dataset=dict(split="test", with_labels=False, key_distances=[4], pipeline=test_pipeline)
)
test_evaluator = dict(
    _delete_=True,
    type="CityscapesMetric",
    format_only=True,
    keep_results=True,
    output_dir="work_dirs/format_results",
)
