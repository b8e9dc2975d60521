"""Config keys of Deep Feature Flow for detectron2 (all under ``cfg.MODEL.DFF``)."""

import logging

from detectron2.config import CfgNode as CN

from dff_common.data.pairs import offsets_mismatch
from dff_common.scheduler import check_interval

__all__ = ["add_dff_config", "check_dff_config"]


def add_dff_config(cfg: CN) -> CN:
    """Add the DFF keys (Zhu et al., CVPR 2017) to a detectron2 config, in place.

    Args:
        cfg (CfgNode): e.g. ``detectron2.config.get_cfg()``.

    Returns:
        CfgNode: ``cfg``.
    """
    _C = cfg
    _C.MODEL.DFF = CN()
    # What runs on a non-key frame (Table 3/4): "dff" (the flow function FLOW.NAME + warp W:
    # DFF with a flow network, SFF with "DISFlow", feature copying with "ZeroFlow") or "frame"
    # (the per-frame network N on every frame; no flow function is built).
    _C.MODEL.DFF.MODE = "dff"
    # Key frame duration length l (Sec. 3, Eq. 7): a key frame every l frames at test time;
    # 10 on ImageNet VID (Sec. 5.2).
    _C.MODEL.DFF.KEY_FRAME_INTERVAL = 10
    # is_key_frame(i) of Algorithm 1: "fixed" (every l frames, the paper) or "adaptive"
    # (dff_common.scheduler.AdaptiveScheduler with its defaults; Sec. 6 future work).
    _C.MODEL.DFF.SCHEDULER = "fixed"
    # Training pairs (Sec. 3): key frame k = i + offset, offset uniform in this closed range;
    # [-(l-1), 0] = [-9, 0] on ImageNet VID ("0 <= i - k <= 9"). (0, 0) trains per frame.
    _C.MODEL.DFF.KEY_OFFSET_RANGE = (-9, 0)
    # Split point of Table 5: learnable weight layers in N_task (1 = default, or 5, 12, 21).
    _C.MODEL.DFF.NUM_TASK_LAYERS = 1
    # "DFF fix N" (Table 3): freeze the image recognition network N (feature network and
    # task network) while F is fine-tuned.
    _C.MODEL.DFF.FREEZE_RECOGNITION = False
    # "DFF fix F" (Table 3): freeze the flow network F (and the scale function S).
    _C.MODEL.DFF.FREEZE_FLOW = False

    # Feature network N_feat (Sec. 4): dilated ResNet (res5 stride 1, dilation 2) + 3x3
    # dilation-6 conv to 1024 channels + ReLU; output stride 16.
    _C.MODEL.DFF.FEATURE = CN()
    _C.MODEL.DFF.FEATURE.DEPTH = 101  # ResNet-50 or ResNet-101 (default)
    _C.MODEL.DFF.FEATURE.OUT_CHANNELS = 1024  # channels of the propagated maps f (1024)
    # Stages with frozen weights: 2 = conv1 and res2 (the authors' detection code).
    _C.MODEL.DFF.FEATURE.FROZEN_STAGES = 2
    # Normalisation layers: "FrozenBN" (paper: BatchNorm frozen), "BN" (trainable batch
    # statistics, for training from scratch), "GN" (32 groups).
    _C.MODEL.DFF.FEATURE.NORM = "FrozenBN"
    # Initial weights (ImageNet ResNet, FlowNet on Flying Chairs) come with MODEL.WEIGHTS, one
    # file written by tools/convert_weights.py, loaded by detectron2's DetectionCheckpointer.

    # Flow network F (Sec. 4, Appendix A) and scale function S (Sec. 3).
    _C.MODEL.DFF.FLOW = CN()
    # The flow function F, a name in DFF_FLOW_FUNCTION_REGISTRY: "FlowNetSimple" (Table 6),
    # "FlowNetHalf" (Table 7), "FlowNetInception" (Table 8), "DISFlow" (SFF: hand-crafted, S = 1),
    # "ZeroFlow" (feature copying).
    _C.MODEL.DFF.FLOW.NAME = "FlowNetSimple"
    _C.MODEL.DFF.FLOW.NORM = ""  # "" (paper: no normalisation) or "BN" (kept frozen)
    # Multiplier of F's flow output into feature-map pixels: FlowNet predicts flow / 20 in
    # pixels of its input at stride 4, so 20 / 8 = 2.5 for feature maps at stride 8 of the
    # half-size input (Sec. 4; the authors' code). Leaving it out makes the flow 2.5x too short.
    _C.MODEL.DFF.FLOW.FLOW_FACTOR = 2.5
    # F sees both frames resized by this factor: "half-sized" input (Sec. 4; 300 vs 600).
    _C.MODEL.DFF.FLOW.INPUT_SCALE = 0.5
    # Flow-net input is (RGB - mean) / FLOW.INPUT_STD (the authors' code: 255).
    _C.MODEL.DFF.FLOW.INPUT_STD = 255.0
    # Learning-rate factor of the flow network F in end-to-end training (paper: 1.0, one lr
    # for all), and of its scale field S (the ``scale_field`` parameters).
    _C.MODEL.DFF.FLOW.LR_FACTOR = 1.0
    _C.MODEL.DFF.FLOW.SCALE_LR_FACTOR = 1.0
    # Use the scale field S_{i->k} of Eq. 3 (the paper's ablation removes it: S = 1).
    _C.MODEL.DFF.FLOW.USE_SCALE = True
    # SFF (Table 3) with "DISFlow": OpenCV DIS flow preset, "ultrafast" | "fast" | "medium"
    # (the roles of SIFT-Flow's fast and slow parameter sets).
    _C.MODEL.DFF.FLOW.DIS_PRESET = "medium"

    # R-FCN detection branch on the second half of f (Sec. 4 "Object Detection").
    _C.MODEL.DFF.RFCN = CN()
    _C.MODEL.DFF.RFCN.POOLER_RESOLUTION = 7  # k: k x k position-sensitive bins
    # "PSROIAlign" (default) or "PSROIPool" (still selectable). torchvision's ps_roi_pool (0.29,
    # CPU and CUDA forward kernels) clips bin ends to the last row/column index and excludes
    # them, so it never reads the last row and column of the map (a box over a whole 4x4 map
    # with ones only there pools to zeros; roi_pool gives ones), unlike R-FCN's PSROIPooling,
    # which clips bins to the map size.
    _C.MODEL.DFF.RFCN.POOLER_TYPE = "PSROIAlign"
    _C.MODEL.DFF.RFCN.POOLER_SAMPLING_RATIO = 2  # PSROIAlign samples per bin side
    # Online hard example mining (R-FCN): train on the this many highest-loss RoIs per image
    # among all proposals; 0 disables OHEM (ROI_HEADS.BATCH_SIZE_PER_IMAGE sampling instead).
    _C.MODEL.DFF.RFCN.OHEM_ROIS_PER_IMAGE = 0

    # Data (Sec. 5.1).
    _C.MODEL.DFF.DATA = CN()
    # Mini-batches from ImageNet VID and ImageNet DET at this ratio (Sec. 5.1: 2 : 1). Each
    # mini-batch (per GPU) holds images of one source.
    _C.MODEL.DFF.DATA.VID_DET_RATIO = (2, 1)
    # Shorter side of the frames seen by F is FLOW.INPUT_SCALE x INPUT.MIN_SIZE_* (300).

    # Evaluation (Sec. 5.2): "video" runs Algorithm 1 on every video (key frame at its start,
    # then every l frames, caches reset per video); "frame" runs N on every frame.
    _C.MODEL.DFF.TEST = CN()
    _C.MODEL.DFF.TEST.MODE = "video"
    # Motion IoU ranges (FGFA) of the AP-by-speed report: slow > 0.9, 0.7 <= medium <= 0.9,
    # fast < 0.7; the motion IoU of an object is its mean IoU with itself +-FRAMES frames away.
    _C.MODEL.DFF.TEST.MOTION_IOU_FRAMES = 10
    return cfg


def check_dff_config(cfg: CN) -> None:
    """Raise naming the key when a ``cfg.MODEL.DFF`` value is out of its range.

    Args:
        cfg (CfgNode): a config with the keys of :func:`add_dff_config`.

    Raises:
        ValueError: if ``MODEL.DFF.KEY_FRAME_INTERVAL`` (l) is not an integer >= 1, or a
            ``MODEL.DFF.FLOW`` lr factor is not a number >= 0.

    Warns when the training pairs' ``KEY_OFFSET_RANGE`` is not ``[-(l-1), 0]`` (Sec. 3).
    """
    interval = check_interval(cfg.MODEL.DFF.KEY_FRAME_INTERVAL, "MODEL.DFF.KEY_FRAME_INTERVAL")
    for key in ("LR_FACTOR", "SCALE_LR_FACTOR"):
        factor = cfg.MODEL.DFF.FLOW[key]
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor >= 0:
            raise ValueError(
                f"MODEL.DFF.FLOW.{key} (lr factor) must be a number >= 0, got {factor!r} "
                f"({type(factor).__name__})"
            )
    low, high = cfg.MODEL.DFF.KEY_OFFSET_RANGE
    if cfg.MODEL.DFF.MODE != "frame" and (low, high) != (0, 0):
        mismatch = offsets_mismatch(-low, interval)
        if mismatch:
            logging.getLogger(__name__).warning(
                f"MODEL.DFF.KEY_OFFSET_RANGE {(low, high)} and MODEL.DFF.KEY_FRAME_INTERVAL "
                f"{interval}: {mismatch}; set MODEL.DFF.KEY_OFFSET_RANGE ({1 - interval}, 0)"
            )
