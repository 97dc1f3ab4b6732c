"""Classification networks: the Inception module (01), GAP and flatten heads (02), MiniAlexNet
(03), residual blocks and ResNets (04)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "SHORTCUTS",
    "ZeroPadShortcut",
    "BasicBlock",
    "Bottleneck",
    "FlattenNet",
    "GAPNet",
    "Inception",
    "MiniAlexNet",
    "ResNet",
    "conv_bn_relu",
    "conv_relu",
    "init_weights",
    "resnet18",
    "resnet50",
    "resnet_cifar",
    "small_resnet",
]


def conv_bn_relu(c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv (same padding, no bias: batch norm has one) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, stride, padding=kernel_size // 2, bias=False),
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


# ---------------------------------------------------------------- Inception (notebook 01)


def conv_relu(c_in: int, c_out: int, kernel_size: int, padding: int | None = None) -> nn.Sequential:
    """Conv (with bias; "same" padding unless given) + ReLU, as in the GoogLeNet paper (no batch
    norm). Also a ``conv_block`` for ``torchvision.models.googlenet.Inception``."""
    padding = kernel_size // 2 if padding is None else padding
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, padding=padding), nn.ReLU(inplace=True)
    )


class Inception(nn.Module):
    """GoogLeNet's Inception module: four parallel branches, concatenated along the channels.

    ``reduce=True`` (the module GoogLeNet uses): a 1x1 conv; a 1x1 reduction to ``c3_reduce``
    then a 3x3 conv; a 1x1 reduction to ``c5_reduce`` then a 5x5 conv; a 3x3 max-pool
    (stride 1) then a 1x1 projection to ``pool_proj``. Output depth
    ``c1 + c3 + c5 + pool_proj``. ``reduce=False``, the naive module: the 3x3 and 5x5 convs
    see the whole input depth and the pooled channels pass through unchanged (depth
    ``c1 + c3 + c5 + c_in``). Every conv is followed by a ReLU. The branches are named as in
    ``torchvision.models.googlenet.Inception`` (whose "5x5" branch uses a 3x3 kernel).
    """

    def __init__(
        self,
        c_in: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        reduce: bool = True,
    ) -> None:
        super().__init__()
        self.branch1 = conv_relu(c_in, c1, 1)
        if reduce:
            self.branch2 = nn.Sequential(conv_relu(c_in, c3_reduce, 1), conv_relu(c3_reduce, c3, 3))
            self.branch3 = nn.Sequential(conv_relu(c_in, c5_reduce, 1), conv_relu(c5_reduce, c5, 5))
            self.branch4 = nn.Sequential(
                nn.MaxPool2d(3, stride=1, padding=1), conv_relu(c_in, pool_proj, 1)
            )
        else:
            self.branch2 = conv_relu(c_in, c3, 3)
            self.branch3 = conv_relu(c_in, c5, 5)
            self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


# ---------------------------------------------------------------- ResNet (notebook 04)


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """The shortcut when the shape changes: a strided 1x1 convolution and batch norm (the
    paper's option B, torchvision's ``downsample``)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
    )


class ZeroPadShortcut(nn.Module):
    """The shortcut when the shape changes, without parameters (the paper's option A, used in
    its CIFAR experiments): keep every ``stride``-th pixel and append zero channels."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if c_out < c_in:
            raise ValueError(f"zero padding cannot reduce channels ({c_in} -> {c_out})")
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


SHORTCUTS = ("projection", "zero-pad", "none")


def _shortcut(kind: str, c_in: int, c_out: int, stride: int) -> nn.Module | None:
    """``downsample`` for a block: None when the input can be added as it is."""
    if kind not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {kind!r}")
    if kind == "none" or (stride == 1 and c_in == c_out):
        return None
    return (
        _projection(c_in, c_out, stride)
        if kind == "projection"
        else ZeroPadShortcut(c_in, c_out, stride)
    )


class BasicBlock(nn.Module):
    """ResNet's basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, add the shortcut, ReLU.

    ``shortcut``: the identity whenever the shape is kept; when the stride or the number of
    channels changes, ``"projection"`` (a 1x1 conv + BN, the paper's option B and
    torchvision's ``downsample``) or ``"zero-pad"`` (option A, no parameters); ``"none"``
    removes the shortcut altogether: the "plain" block of the degradation experiment. Layer
    names follow torchvision's ``BasicBlock``, so its weights load into this block.
    """

    expansion = 1

    def __init__(
        self, c_in: int, c_out: int, stride: int = 1, shortcut: str = "projection"
    ) -> None:
        super().__init__()
        self.residual = shortcut != "none"
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = _shortcut(shortcut, c_in, c_out, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block: 1x1 reduce, 3x3, 1x1 expand (x4), add the shortcut, ReLU.

    ``c_mid`` is the reduced width; the block outputs ``4 * c_mid`` channels. The stride sits
    on the 3x3 convolution, as in torchvision ("ResNet v1.5"); the paper puts it on the first
    1x1. ``shortcut`` as in :class:`BasicBlock`. Layer names follow torchvision's
    ``Bottleneck``.
    """

    expansion = 4

    def __init__(
        self, c_in: int, c_mid: int, stride: int = 1, shortcut: str = "projection"
    ) -> None:
        super().__init__()
        c_out = c_mid * self.expansion
        self.residual = shortcut != "none"
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = _conv3x3(c_mid, c_mid, stride)
        self.bn2 = nn.BatchNorm2d(c_mid)
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(shortcut, c_in, c_out, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ResNet(nn.Module):
    """A ResNet: stem, stages of blocks (the first block of a stage may halve H and W), GAP, FC.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]`` (ResNet-18) or ``[3, 4, 6, 3]`` (-50).
        widths: the block width of each stage (64, 128, 256, 512 for the ImageNet models).
        stem: ``"imagenet"``: 7x7 conv stride 2 + 3x3 max-pool stride 2 (a 224x224 image
            becomes 56x56 before the first stage); ``"small"``: one 3x3 conv, no downsampling
            (for 16x16 digits or 32x32 images, as in the paper's CIFAR experiments).
        shortcut: ``"projection"``, ``"zero-pad"`` or ``"none"`` (a plain network of the same
            depth); see :class:`BasicBlock`.

    Layer names and the initialisation (He's, for the convolutions) follow
    ``torchvision.models.ResNet``, so its state dicts load into this model.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: list[int],
        widths: list[int] | None = None,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: str = "imagenet",
        shortcut: str = "projection",
    ) -> None:
        super().__init__()
        widths = widths or [64 * 2**i for i in range(len(layers))]
        if len(widths) != len(layers) or not layers:
            raise ValueError(f"need one width per stage, got layers={layers}, widths={widths}")
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        c = widths[0]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, c, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            self.conv1 = _conv3x3(in_channels, c)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        for i, (n, width) in enumerate(zip(layers, widths, strict=True)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(c, width, stride, shortcut=shortcut))
                c = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():  # He initialisation, as the paper and torchvision's ResNet
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 as in torchvision (11,689,512 parameters with 1000 classes)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50 as in torchvision (25,557,032 parameters with 1000 classes)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)


def resnet_cifar(
    block: type[BasicBlock] | type[Bottleneck],
    n: int,
    width: int = 16,
    num_classes: int = 10,
    in_channels: int = 1,
    shortcut: str = "projection",
) -> ResNet:
    """The ResNet paper's CIFAR-10 network, built from ``block``: a 3x3 conv (+ BN + ReLU),
    three stages of ``n`` blocks of width ``width``, ``2 * width``, ``4 * width`` (the first
    block of stages 2 and 3 halves H and W), global average pooling and a linear layer.

    With basic blocks that is 6n + 2 layers with weights. The twin of notebook 04's
    exercise ``ResNetCIFAR``; ``shortcut`` as in :class:`BasicBlock`.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (blocks per stage) must be a positive int, got {n!r}")
    return ResNet(
        block,
        [n, n, n],
        [width, 2 * width, 4 * width],
        num_classes=num_classes,
        in_channels=in_channels,
        stem="small",
        shortcut=shortcut,
    )


def small_resnet(
    depth: int,
    width: int = 16,
    shortcut: str = "zero-pad",
    num_classes: int = 10,
    in_channels: int = 1,
) -> ResNet:
    """:func:`resnet_cifar` with basic blocks, by depth: ``depth = 6n + 2`` (8, 20, 56...).

    ``shortcut="zero-pad"`` is the paper's option A for CIFAR (no parameters, so the residual
    and the plain network have exactly the same parameters); ``"none"`` gives the plain
    network (notebook 04's degradation experiment); ``"projection"`` gives option B.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 56...), got {depth}")
    return resnet_cifar(BasicBlock, (depth - 2) // 6, width, num_classes, in_channels, shortcut)


# ---------------------------------------------------------------- AlexNet-style (notebook 03)

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def init_weights(model: nn.Module, activation: str = "relu") -> nn.Module:
    """Each activation's usual initialisation: He (Kaiming) for ReLU, Glorot (Xavier) with the
    activation's gain for tanh and sigmoid; zero biases. Returns the model."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if activation == "relu":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain(activation))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class MiniAlexNet(nn.Module):
    """AlexNet's design at digit size: convolutions with max-pooling, then a fully connected
    head of two hidden layers, with dropout on their outputs (as in the AlexNet paper).

    A 5x5 conv, then 3x3 convs; the first ``pools`` convs are followed by a 2x2 max-pool. No
    batch norm (AlexNet had none), so the activation matters.

    Args:
        activation: "relu", "tanh" or "sigmoid"; weights are initialised to suit it.
        dropout: dropout probability on the outputs of the two hidden fully connected layers
            (the paper's FC6 and FC7; torchvision's AlexNet drops their inputs instead); 0
            disables it.
        conv_widths: channels of each conv layer.
        fc: width of the two hidden fully connected layers.
        pools: how many of the first convs are followed by a max-pool.
    """

    def __init__(
        self,
        activation: str = "relu",
        dropout: float = 0.0,
        conv_widths: tuple[int, ...] = (32, 64, 64),
        fc: int = 256,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 16,
        pools: int = 2,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        act = ACTIVATIONS[activation]
        layers, c, side = [], in_channels, input_size
        for i, width in enumerate(conv_widths):
            k = 5 if i == 0 else 3
            layers += [nn.Conv2d(c, width, k, padding=k // 2), act()]
            if i < pools:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            c = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(  # dropout on the outputs of FC6 and FC7, as in the paper
            nn.Linear(c * side * side, fc),
            act(),
            nn.Dropout(dropout),
            nn.Linear(fc, fc),
            act(),
            nn.Dropout(dropout),
            nn.Linear(fc, num_classes),
        )
        init_weights(self, activation)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
