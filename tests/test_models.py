import pytest
import torch

from course_utils import cost, models


@pytest.mark.parametrize("size", [(16, 16), (8, 8), (40, 28)])
def test_gapnet_accepts_any_size(size):
    net = models.GAPNet(in_channels=3, num_classes=5, width=8).eval()
    assert net(torch.randn(2, 3, *size)).shape == (2, 5)


def test_flattennet_accepts_only_its_size():
    net = models.FlattenNet(width=8, input_size=16).eval()
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    with pytest.raises(RuntimeError):
        net(torch.randn(1, 1, 20, 16))


def test_head_parameter_counts():
    gap, flat = models.GAPNet(width=32), models.FlattenNet(width=32, input_size=16)
    assert cost.count_parameters(gap.classifier) == 64 * 10 + 10
    assert cost.count_parameters(flat.classifier) == 64 * 8 * 8 * 10 + 10
    assert cost.count_parameters(gap.features) == cost.count_parameters(flat.features)


def test_conv_bn_relu_keeps_size():
    block = models.conv_bn_relu(3, 7, kernel_size=5)
    out = block(torch.randn(2, 3, 9, 11))
    assert out.shape == (2, 7, 9, 11) and (out >= 0).all()
