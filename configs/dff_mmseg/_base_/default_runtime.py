# Runtime shared by every DFF config (mmseg conventions).
default_scope = "mmseg"
runner_type = "DFFRunner"  # mmengine Runner; loading names a bad checkpoint (dff_mmseg.checkpoint)
custom_imports = dict(imports=["dff_mmseg"], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
    dist_cfg=dict(backend="nccl"),  # dff_mmseg.train switches to gloo on CPU-only machines
)
vis_backends = [dict(type="LocalVisBackend")]
visualizer = dict(type="SegLocalVisualizer", vis_backends=vis_backends, name="visualizer")
log_processor = dict(by_epoch=False)
log_level = "INFO"
load_from = None
resume = False
