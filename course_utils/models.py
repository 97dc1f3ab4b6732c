"""Small networks the notebooks train (CPU-sized; later notebooks add ResNet, FCN, U-Net...)."""

from __future__ import annotations

from torch import nn

__all__ = ["GAPNet", "FlattenNet", "conv_bn_relu"]


def conv_bn_relu(c_in: int, c_out: int, kernel_size: int = 3) -> nn.Sequential:
    """Conv (same padding, no bias: batch norm has one) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def _features(in_channels: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        conv_bn_relu(in_channels, width),
        conv_bn_relu(width, width),
        nn.MaxPool2d(2),
        conv_bn_relu(width, 2 * width),
        conv_bn_relu(2 * width, 2 * width),
    )


class GAPNet(nn.Module):
    """Four 3x3 conv layers, one max-pool, then global average pooling and one linear layer.

    The head is ``GAP -> Linear(2 * width, num_classes)``: it has few parameters and accepts
    any input size, and its weights turn the last feature maps into class activation maps
    (notebook 02). ``features`` and ``classifier`` are exposed for that.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.features = _features(in_channels, width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class FlattenNet(nn.Module):
    """The same features as :class:`GAPNet` with a flatten + fully connected head.

    The head's input size is fixed by ``input_size``, so the network only accepts that size.
    """

    def __init__(
        self, in_channels: int = 1, num_classes: int = 10, width: int = 32, input_size: int = 16
    ) -> None:
        super().__init__()
        self.features = _features(in_channels, width)
        side = input_size // 2
        self.classifier = nn.Linear(2 * width * side * side, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
