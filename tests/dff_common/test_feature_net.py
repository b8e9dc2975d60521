"""Tests of the feature network N_feat (Sec. 4) and the split points of Table 5."""

import math

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from dff_common.feature_net import DilatedResNetFeatureNet


@pytest.fixture(scope="module")
def nets():
    """ResNet-50 feature networks (8 output channels) for each split point, in eval mode."""
    torch.manual_seed(0)
    return {n: DilatedResNetFeatureNet(50, 8, num_task_layers=n).eval() for n in (1, 5, 12, 21)}


@pytest.fixture(scope="module")
def images():
    return torch.randn(1, 3, 65, 97, generator=torch.Generator().manual_seed(1))


def count_weight_layers(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def test_output_stride_16_with_ceil_on_odd_sizes(nets, images):
    net = nets[1]
    with torch.no_grad():
        features = net(images)
    assert net.stride == 16
    assert features.shape == (1, 8, math.ceil(65 / 16), math.ceil(97 / 16)) == (1, 8, 5, 7)
    assert net.feature_map_size(65, 97) == (5, 7)
    with torch.no_grad():
        other = net(torch.randn(1, 3, 33, 50))
    assert other.shape[-2:] == net.feature_map_size(33, 50) == (3, 4)
    assert net.feature_map_size(600, 1000) == (38, 63)  # the paper's ImageNet VID size
    assert (features >= 0).all() and features.gt(0).any()  # conv_feat ends with a ReLU


def test_conv5_dilated_and_conv_feat(nets):
    net = nets[1]
    for unit in net.body.layer4:  # res5a, res5b, res5c: all 3x3 kernels dilated (holing)
        assert unit.conv2.stride == (1, 1)
        assert unit.conv2.dilation == (2, 2) and unit.conv2.padding == (2, 2)
    assert net.body.layer4[0].downsample[0].stride == (1, 1)
    assert net.body.layer3[0].conv2.stride == (2, 2)
    conv = net.conv_feat
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (2048, 8, (3, 3))
    assert conv.dilation == (6, 6) and conv.padding == (6, 6)
    assert net.out_channels == 8
    assert not hasattr(net.body, "fc") and not hasattr(net.body, "avgpool")


def test_frozen_batch_norm_everywhere(nets):
    modules = list(nets[1].modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in modules)
    # ResNet-50: stem + 16 bottlenecks x 3 + 4 projection shortcuts = 53 norm layers
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in modules) == 53


def test_frozen_stages():
    net = DilatedResNetFeatureNet(50, 8, frozen_stages=2, norm_layer=nn.BatchNorm2d).train()
    frozen = {n for n, p in net.named_parameters() if not p.requires_grad}
    stem_and_res2 = ("body.conv1.", "body.bn1.", "body.layer1.")
    assert frozen == {n for n, _ in net.named_parameters() if n.startswith(stem_and_res2)}
    # stem: conv1 + bn1 (weight, bias); res2: 3 units of 3 convs + 3 norms, 1 shortcut conv + norm
    assert len(frozen) == 3 + 3 * (3 + 3 * 2) + 3
    # frozen stages keep their norm statistics fixed in training mode; later stages update
    stem_mean = net.body.bn1.running_mean.clone()
    res3_mean = net.body.layer2[0].bn1.running_mean.clone()
    net(torch.randn(2, 3, 64, 64)).sum().backward()
    assert torch.equal(net.body.bn1.running_mean, stem_mean)
    assert not torch.equal(net.body.layer2[0].bn1.running_mean, res3_mean)
    assert net.body.conv1.weight.grad is None and net.body.layer1[0].conv1.weight.grad is None
    assert net.body.layer2[0].conv1.weight.grad.abs().sum() > 0
    assert net.conv_feat.weight.grad.abs().sum() > 0
    unfrozen = DilatedResNetFeatureNet(50, 8, frozen_stages=0)
    assert all(p.requires_grad for p in unfrozen.parameters())


@pytest.mark.parametrize("num_task_layers", [1, 5, 12, 21])
def test_split_point_composes_to_the_full_network(nets, images, num_task_layers):
    net = nets[num_task_layers]
    feature_part, task_prefix = net.feature_part(), net.task_prefix()
    with torch.no_grad():
        full = net(images)
        propagated = feature_part(images)
        composed = task_prefix(propagated)
    assert propagated.shape[1] == net.channels_at_split
    assert torch.equal(composed, full)
    # the two parts share this module's parameters and partition them
    part_ids = [id(p) for p in feature_part.parameters()], [id(p) for p in task_prefix.parameters()]
    assert not set(part_ids[0]) & set(part_ids[1])
    assert set(part_ids[0]) | set(part_ids[1]) == {id(p) for p in net.parameters()}


@pytest.mark.parametrize(
    "num_task_layers, channels_at_split, moved",
    [
        (1, 8, []),
        (5, 2048, ["layer4_2", "conv_feat"]),
        (12, 1024, ["layer4_0", "layer4_1", "layer4_2", "conv_feat"]),
        (
            21,
            1024,
            ["layer3_3", "layer3_4", "layer3_5", "layer4_0", "layer4_1", "layer4_2", "conv_feat"],
        ),
    ],
)
def test_table5_layer_counts(nets, num_task_layers, channels_at_split, moved):
    net = nets[num_task_layers]
    task_prefix = net.task_prefix()
    # learnable weight layers of N_task: convs moved from N (projection shortcuts included)
    # plus the task head's 1x1 conv
    assert count_weight_layers(task_prefix) + 1 == num_task_layers
    assert net.channels_at_split == channels_at_split
    if moved:
        assert [n for n, _ in task_prefix.named_children()] == moved
    else:
        assert isinstance(task_prefix, nn.Identity)
    assert count_weight_layers(net.feature_part()) + count_weight_layers(task_prefix) == 54


def test_resnet101_split_21_moves_last_res4_units():
    net = DilatedResNetFeatureNet(101, 8, num_task_layers=21)
    names = [n for n, _ in net.task_prefix().named_children()]
    assert names[:3] == ["layer3_20", "layer3_21", "layer3_22"]  # res4 has 23 units
    assert count_weight_layers(net.task_prefix()) + 1 == 21
    assert count_weight_layers(net) == 1 + 33 * 3 + 4 + 1  # 104 convs incl. conv_feat


def test_torchvision_checkpoint_layout_loads_into_body():
    torch.manual_seed(2)
    reference = torchvision.models.resnet50(weights=None).eval()
    for module in reference.modules():  # non-trivial statistics, so loading them matters
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    net = DilatedResNetFeatureNet(50).eval()
    net.body.load_state_dict(state)  # strict: the same names, minus fc
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = nn.Sequential(*list(reference.children())[:-3])(x)  # conv1 .. layer3
        actual = net.body[:-1](x)  # up to res4: not affected by the dilation of res5
    # FrozenBatchNorm2d folds the statistics into one affine map: float rounding only
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * expected.abs().max())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 34}, "depth"),
        ({"num_task_layers": 0}, "num_task_layers"),
        ({"num_task_layers": 3}, "num_task_layers"),
        ({"frozen_stages": 6}, "frozen_stages"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DilatedResNetFeatureNet(**kwargs)
