"""call_naming_batchnorm: PyTorch's one-value BatchNorm error, with the layer named."""

import pytest
import torch
from torch import nn

from dff_common.norm import call_naming_batchnorm


def test_the_batchnorm_that_gets_one_value_per_channel_is_named():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4)
    ).train()
    with pytest.raises(ValueError, match=r"^3 \(BatchNorm2d\) gets a \(1, 4, 1, 1\) input"):
        call_naming_batchnorm(model, model, torch.randn(1, 3, 8, 8))
    assert not any(m._forward_pre_hooks for m in model.modules())  # the check is gone again
    assert call_naming_batchnorm(model, model, torch.randn(2, 3, 8, 8)).shape == (2, 4, 1, 1)
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, 8, 8))  # eval: the running statistics, any batch


def test_other_errors_pass_unchanged():
    def fails():
        raise ValueError("something else")

    with pytest.raises(ValueError, match="^something else$"):
        call_naming_batchnorm(nn.BatchNorm2d(2), fails)
