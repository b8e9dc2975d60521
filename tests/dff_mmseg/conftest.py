"""Shared fixtures of the mmseg plugin tests: a tiny synthetic Cityscapes set, mmseg scope."""

import pytest
from mmengine.registry import init_default_scope

import dff_mmseg  # noqa: F401  (registers the plugin; applies the compat shims)
from dff_common.synthetic.cityscapes import make_synthetic_cityscapes

FRAME_SIZE = (32, 64)  # (H, W) of the synthetic frames used in these tests


@pytest.fixture(scope="session", autouse=True)
def _mmseg_scope():
    init_default_scope("mmseg")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """3 train, 2 val and 1 test snippets of 32x64 frames in the real Cityscapes layout."""
    root = tmp_path_factory.mktemp("synthetic_cityscapes")
    height, width = FRAME_SIZE
    splits = {"train": 3, "val": 2, "test": 1}
    make_synthetic_cityscapes(root, splits, height=height, width=width, seed=0)
    return root
