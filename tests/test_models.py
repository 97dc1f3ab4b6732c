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


def test_resnets_equal_torchvision():
    import torchvision

    x = torch.randn(1, 3, 64, 64)
    for ours, theirs, count in [
        (models.resnet18(), torchvision.models.resnet18(weights=None), 11_689_512),
        (models.resnet50(), torchvision.models.resnet50(weights=None), 25_557_032),
    ]:
        assert cost.count_parameters(ours) == cost.count_parameters(theirs) == count
        ours.load_state_dict(theirs.state_dict())
        ours.eval(), theirs.eval()
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("block", [models.BasicBlock, models.Bottleneck])
@pytest.mark.parametrize("stride", [1, 2])
def test_blocks_shapes_and_shortcuts(block, stride):
    x = torch.randn(2, 16, 9, 9)
    side = 9 if stride == 1 else 5
    for shortcut in models.SHORTCUTS:
        b = block(16, 16, stride, shortcut=shortcut).eval()
        assert b(x).shape == (2, 16 * block.expansion, side, side)
        assert b.residual == (shortcut != "none")
    plain = block(16, 16, stride, shortcut="none")
    assert plain.downsample is None
    with pytest.raises(ValueError, match="shortcut must be one of"):
        block(16, 16, stride, shortcut="identity")


def test_zero_pad_shortcut_is_option_a():
    """Option A: every other pixel, the new channels zero, no parameters."""
    shortcut = models.ZeroPadShortcut(4, 8, stride=2)
    x = torch.randn(2, 4, 6, 5)
    out = shortcut(x)
    assert out.shape == (2, 8, 3, 3) and cost.count_parameters(shortcut) == 0
    assert torch.equal(out[:, :4], x[:, :, ::2, ::2]) and not out[:, 4:].any()
    with pytest.raises(ValueError, match="cannot reduce"):
        models.ZeroPadShortcut(8, 4, 1)


def test_small_resnet_depths_and_equal_parameters():
    for depth in (8, 20, 56):
        counts = {}
        for shortcut in models.SHORTCUTS:
            net = models.small_resnet(depth, width=4, shortcut=shortcut)
            convs3 = sum(
                isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in net.modules()
            )
            assert convs3 + 1 == depth  # the 3x3 convs and the final linear layer
            assert net(torch.randn(2, 1, 16, 16)).shape == (2, 10)
            counts[shortcut] = cost.count_parameters(net)
        # option A adds no parameters: plain and residual networks are the same size
        assert counts["zero-pad"] == counts["none"] < counts["projection"]
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.small_resnet(10)
    with pytest.raises(ValueError, match="positive int"):
        models.resnet_cifar(models.BasicBlock, 0)
    with pytest.raises(ValueError, match="stem must be"):
        models.ResNet(models.BasicBlock, [1], stem="tiny")
    with pytest.raises(ValueError, match="one width per stage"):
        models.ResNet(models.BasicBlock, [1, 1], widths=[8])


def test_inception_module_as_in_the_paper():
    """Module 3a: 256 channels out, 163,328 weights + 368 biases; the naive one 416 channels."""
    x = torch.randn(1, 192, 28, 28)
    reduced = models.Inception(192, 64, 96, 128, 16, 32, 32)
    naive = models.Inception(192, 64, 96, 128, 16, 32, 32, reduce=False)
    assert reduced(x).shape == (1, 256, 28, 28) and naive(x).shape == (1, 416, 28, 28)
    weights = sum(p.numel() for name, p in reduced.named_parameters() if name.endswith("weight"))
    assert weights == 163_328 and cost.count_parameters(reduced) == 163_696
    assert round(cost.count_macs(reduced, x) / 1e6) == 128
    assert round(cost.count_macs(naive, x) / 1e6) == 303


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mini_alexnet(activation):
    net = models.MiniAlexNet(activation, dropout=0.5)
    assert net(torch.randn(3, 1, 16, 16)).shape == (3, 10)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 2
    assert all(m.bias.abs().sum() == 0 for m in net.modules() if isinstance(m, torch.nn.Linear))
    # dropout on the outputs of the two hidden layers (FC6, FC7), as in the paper
    kinds = [type(m).__name__ for m in net.classifier]
    assert kinds == ["Linear", type(net.classifier[1]).__name__, "Dropout"] * 2 + ["Linear"]
    one_conv = models.MiniAlexNet(conv_widths=(16,), fc=64)
    assert one_conv.classifier[0].in_features == 16 * 8 * 8
    with pytest.raises(ValueError, match="activation must be one of"):
        models.MiniAlexNet("gelu")
