"""Apply the compatibility shims (pure-Python detectron2 0.6) before any test imports it."""

import dff_detectron2  # noqa: F401

# isort: split
import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from dff_common.synthetic.vid import make_synthetic_vid
from dff_detectron2.config import add_dff_config
from dff_detectron2.data.datasets import register_imagenet_vid

SYNTHETIC_BASE = "configs/dff_detectron2/Base-DFF-RFCN-Synthetic.yaml"


def make_tiny_cfg(*opts):
    """The synthetic config shrunk for unit tests (random weights, 64-channel maps), + opts."""
    cfg = get_cfg()
    add_dff_config(cfg)
    cfg.merge_from_file(SYNTHETIC_BASE)
    cfg.merge_from_list(
        [
            "MODEL.DFF.FEATURE.OUT_CHANNELS", 64,
            "MODEL.DFF.FLOW.NAME", "FlowNetHalf",
            "MODEL.DFF.FLOW.NORM", "",
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


@pytest.fixture
def synthetic_vid(tmp_path):
    """``register(prefix, **kwargs)``: write a synthetic real-layout set (``make_synthetic_vid``
    kwargs) under ``tmp_path/ILSVRC2015``, register it as ``<prefix>_*`` and return the dataset
    names; they are removed from detectron2's catalogs after the test."""
    names = []

    def register(prefix, **kwargs):
        root = tmp_path / "ILSVRC2015"
        make_synthetic_vid(root, **kwargs)
        names.extend(register_imagenet_vid(root, prefix))
        return names

    yield register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
