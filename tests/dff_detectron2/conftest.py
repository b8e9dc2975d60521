"""Apply the compatibility shims (pure-Python detectron2 0.6) before any test imports it."""

import dff_detectron2  # noqa: F401

# isort: split
import pytest
from detectron2.config import get_cfg

from dff_detectron2.config import add_dff_config

SYNTHETIC_BASE = "configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml"


def make_tiny_cfg(*opts):
    """The synthetic config shrunk for unit tests (random weights, 64-channel maps), + opts."""
    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(SYNTHETIC_BASE)
    cfg.merge_from_list(
        [
            "MODEL.DFF.FEATURE.OUT_CHANNELS", 64,
            "MODEL.DFF.FLOW.NAME", "flownet_half",
            "MODEL.DFF.FLOW.NORM", "",
            "MODEL.DFF.FLOW.WEIGHTS", "",
            "MODEL.ROI_HEADS.NUM_CLASSES", 3,
            "MODEL.RPN.POST_NMS_TOPK_TRAIN", 20,
            "MODEL.RPN.POST_NMS_TOPK_TEST", 20,
            "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 16,
            "MODEL.ANCHOR_GENERATOR.SIZES", [[16, 32, 64]],
            "INPUT.MIN_SIZE_TRAIN", (64,),
            "INPUT.MIN_SIZE_TEST", 64,
            *opts,
        ]
    )  # fmt: skip
    return cfg


@pytest.fixture(scope="session")
def tiny_cfg():
    return make_tiny_cfg
