"""Checks for the exercises of notebooks 01-04 (1x1 convolutions, GAP, AlexNet, ResNet)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..contract import passed_line
from ..cost import count_parameters, torch_flops
from ..models.classification import BasicBlock, Inception, small_resnet
from .core import (
    Case,
    answer_guard,
    case_generator,
    compare_modules,
    compare_tensors,
    hidden,
    randomize_batch_norms,
    report,
    run_cases,
)

__all__ = [
    "check_basic_block",
    "check_bottleneck",
    "check_class_activation_maps",
    "check_conv1x1",
    "check_conv2d_cost",
    "check_conv_output_size",
    "check_dropout",
    "check_global_avg_pool",
    "check_inception",
    "check_inception_3a_macs",
    "check_resnet_cifar",
    "check_stack_of_3x3",
]


# ---------------------------------------------------------------- notebook 01


def check_conv1x1(fn: Callable) -> None:
    """Exercise: ``conv1x1(x, weight, bias)`` must equal ``nn.Conv2d(C_in, C_out, 1)``."""
    g = case_generator(101)
    cases = []
    for desc, n, c_in, c_out, h, w, use_bias in [
        ("1 image, 3->2 channels, 4x4", 1, 3, 2, 4, 4, True),
        ("a batch of 2, 5->7 channels, 3x6 (H != W)", 2, 5, 7, 3, 6, True),
        ("bias=None", 2, 4, 3, 5, 5, False),
        ("a 1x1 image, 16->4 channels", 3, 16, 4, 1, 1, True),
        ("6->6 channels (a square weight matrix)", 2, 6, 6, 5, 5, True),
    ]:
        x = torch.randn(n, c_in, h, w, generator=g)
        conv = nn.Conv2d(c_in, c_out, kernel_size=1, bias=use_bias)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
            if use_bias:
                conv.bias.copy_(torch.randn(c_out, generator=g))
            expected = conv(x)
        bias = conv.bias.detach() if use_bias else None
        cases.append((desc, (x, conv.weight.detach(), bias), expected))
    report(run_cases("conv1x1", fn, cases, compare_tensors))


def _compare_cost(got: Any, expected: tuple[int, int]) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a pair (params, macs), got {got!r}"
    try:
        params, macs = (int(v) for v in got)
    except (TypeError, ValueError, OverflowError):
        return f"expected two whole numbers, got {got!r}"
    if any(float(v) != int(v) for v in got):
        return f"expected two whole numbers, got {got!r}"
    if params != expected[0]:
        return f"params: nn.Conv2d has {expected[0]:,}, you computed {params:,}"
    if macs != expected[1]:
        return (
            f"multiply-adds: PyTorch's FLOP counter gives {2 * expected[1]:,} FLOPs on the real "
            f"layer, that is {expected[1]:,} multiply-adds; you computed {macs:,}"
        )
    return None


def check_conv2d_cost(fn: Callable) -> None:
    """Exercise: ``conv2d_cost(c_in, c_out, k, out_h, out_w, bias)`` -> (params, macs).

    The truth is measured on a real ``nn.Conv2d``: its parameter count, and half the FLOPs
    that PyTorch's own counter (``torch.utils.flop_counter``) reports while it runs on an
    input of the right size (it counts a multiply-add as two FLOPs).
    """
    configs = [
        ("3->8 channels, 3x3 kernel, 10x10 output, bias", (3, 8, 3, 10, 10, True)),
        ("256->256 channels, 3x3 kernel, 28x28 output, no bias", (256, 256, 3, 28, 28, False)),
        ("256->64 channels, 1x1 kernel, 28x28 output, bias", (256, 64, 1, 28, 28, True)),
        ("16->32 channels, 5x5 kernel, 7x9 output, bias", (16, 32, 5, 7, 9, True)),
        ("1->1 channel, 1x1 kernel, 1x1 output, no bias", (1, 1, 1, 1, 1, False)),
    ]
    if hidden():  # layers of sizes drawn with the instructor's seed
        g = case_generator(77)
        configs = []
        for _ in range(5):
            c_in, c_out, out_h, out_w = (_randint(g, 1, 64) for _ in range(4))
            k, bias = 2 * _randint(g, 0, 3) + 1, bool(_randint(g, 0, 1))
            desc = f"a convolution of random size, {'with' if bias else 'without'} bias"
            configs.append((desc, (c_in, c_out, k, out_h, out_w, bias)))
    cases = []
    for desc, (c_in, c_out, k, out_h, out_w, bias) in configs:
        conv = nn.Conv2d(c_in, c_out, k, bias=bias)
        x = torch.zeros(1, c_in, out_h + k - 1, out_w + k - 1)
        expected = (count_parameters(conv), torch_flops(conv, x) // 2)
        cases.append((desc, (c_in, c_out, k, out_h, out_w, bias), expected))
    report(run_cases("conv2d_cost", fn, cases, _compare_cost))


# The naive and reduced Inception (3a) modules of GoogLeNet (Szegedy et al., 2015, Table 1).
_INCEPTION_3A = dict(c_in=192, c1=64, c3_reduce=96, c3=128, c5_reduce=16, c5=32, pool_proj=32)


def _counted_3a_macs() -> tuple[float, float]:
    """Multiply-adds (millions, one 28x28 image) of module 3a, naive and reduced: half the
    FLOPs PyTorch's counter reports on the real layers."""
    x = torch.zeros(1, 192, 28, 28)
    naive = torch_flops(Inception(**_INCEPTION_3A, reduce=False), x) / 2e6
    reduced = torch_flops(Inception(**_INCEPTION_3A, reduce=True), x) / 2e6
    return naive, reduced


def check_inception_3a_macs(fn: Callable) -> None:
    """Exercise: ``inception_3a_macs()`` -> (naive, reduced), multiply-adds in millions.

    A prediction: it must agree with the count on the real layers within 1% (so whole
    millions are fine). A wrong one is told only whether it is too high or too low.
    """
    name = "inception_3a_macs"
    if hidden():  # a prediction of two fixed numbers: there is nothing to hide
        report(passed_line(name, 0))
        return
    if not callable(fn):
        report(f"{name}: expected a function, got {type(fn).__name__}")
        return
    try:
        with answer_guard(name):
            got = fn()
    except NotImplementedError:
        report(f"{name}: not implemented yet (it raises NotImplementedError)")
        return
    except Exception as error:
        report(f"{name}: raised {type(error).__name__}: {error}")
        return
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        report(f"{name}: wrong: expected a pair (naive, reduced) in millions, got {got!r}")
        return
    try:
        values = [float(v) for v in got]
    except (TypeError, ValueError):
        report(f"{name}: wrong: expected two numbers (millions), got {got!r}")
        return
    for label, value, truth in zip(("naive", "reduced"), values, _counted_3a_macs(), strict=True):
        if not math.isfinite(value) or value <= 0:
            report(f"{name}: wrong: the {label} module's prediction must be a positive number")
            return
        if abs(value - truth) > 0.01 * truth:
            direction = "too high" if value > truth else "too low"
            hint = " (in millions? divide by 1e6)" if value > 1e4 * truth else ""
            report(
                f'{name}: wrong on case "the {label} module": your prediction is {direction}{hint}'
            )
            return
    report(f"{name}: correct on 2 cases")


def check_inception(cls: Callable) -> None:
    """Exercise: ``Inception(c_in, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)`` with 1x1
    dimensionality reduction equals the course's module once given its weights."""
    g = case_generator(111)
    cases = []
    for desc, config, (n, h, w) in [
        ("module 3a of GoogLeNet, 192 channels in, 28x28", _INCEPTION_3A, (1, 28, 28)),
        ("a small module, 8 channels in, a batch of 2", (8, 4, 3, 5, 2, 3, 2), (2, 9, 9)),
        ("an odd-sized input, 7x5", (6, 2, 4, 4, 3, 2, 5), (2, 7, 5)),
        ("reductions wider than their output", (5, 3, 6, 2, 4, 1, 3), (1, 6, 6)),
    ]:
        args = tuple(config.values()) if isinstance(config, dict) else config
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
            reference = Inception(*args).eval()
        x = torch.randn(n, args[0], h, w, generator=g)
        cases.append((desc, args, (reference, (x,))))
    report(run_cases("Inception", cls, cases, compare_modules))


# ---------------------------------------------------------------- notebook 02


def check_global_avg_pool(fn: Callable) -> None:
    """Exercise: ``global_avg_pool(x)`` (N, C, H, W) -> (N, C), like ``AdaptiveAvgPool2d(1)``."""
    g = case_generator(202)
    gap = nn.AdaptiveAvgPool2d(1)
    cases = []
    for desc, shape, scale in [
        ("a batch of 2, 3 channels, 4x5", (2, 3, 4, 5), 1.0),
        ("1 image, 8 channels, 7x7", (1, 8, 7, 7), 1.0),
        ("1x1 feature maps", (3, 4, 1, 1), 1.0),
        ("1x6 feature maps", (2, 4, 1, 6), 1.0),
        ("large positive activations, 6x3", (2, 5, 6, 3), 100.0),
    ]:
        x = torch.randn(shape, generator=g) * scale
        if scale != 1.0:
            x = x.abs()  # ReLU-like activations: max-pooling and sums stand out
        cases.append((desc, (x,), gap(x).flatten(1)))
    report(run_cases("global_avg_pool", fn, cases, compare_tensors))


def check_class_activation_maps(fn: Callable) -> None:
    """Exercise: ``class_activation_maps(features, weight)``: features (N, K, h, w), the
    linear layer's weight (C, K) -> (N, C, h, w), one map per class whose spatial mean is
    the class score minus its bias."""
    g = case_generator(212)
    cases = []
    for desc, (n, k, c, h, w) in [
        ("2 images, 6 feature maps, 10 classes, 4x4", (2, 6, 10, 4, 4)),
        ("as many classes as feature maps (5), 3x7 maps", (3, 5, 5, 3, 7)),
        ("1 image, 1 feature map, 3 classes, 1x1", (1, 1, 3, 1, 1)),
        ("64 feature maps, 10 classes, 8x8 (GAPNet's size)", (2, 64, 10, 8, 8)),
        ("negative weights and ReLU features, 4 classes", (2, 8, 4, 5, 6)),
    ]:
        features = torch.randn(n, k, h, w, generator=g).relu()  # after a ReLU, like a net's
        weight = torch.randn(c, k, generator=g)
        expected = (features[:, None] * weight[None, :, :, None, None]).sum(2)
        cases.append((desc, (features, weight), expected))

    def compare(got: Any, expected: torch.Tensor) -> str | None:
        problem = compare_tensors(got, expected)
        area = expected.shape[-2] * expected.shape[-1]
        scaled = got * area if isinstance(got, torch.Tensor) else None
        if problem and area > 1 and compare_tensors(scaled, expected) is None:
            return (
                f"your maps are 1/{area} (1/(h w)) of the right ones: "
                "the map's mean, not its sum, gives the score"
            )
        return problem

    report(run_cases("class_activation_maps", fn, cases, compare))


# ---------------------------------------------------------------- notebook 03


def _compare_int(got: Any, expected: int) -> str | None:
    if isinstance(got, bool) or not isinstance(got, int):
        return f"expected a whole number (int), got {got!r}"
    if got != expected:
        return f"the real layer gives {expected}, you computed {got}"
    return None


def _randint(g: torch.Generator, low: int, high: int) -> int:
    """A whole number in [low, high], drawn from ``g``."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def _random_layer(g: torch.Generator, i: int) -> tuple[str, tuple, str]:
    """A random convolution (even i) or max-pool (odd i) configuration, as a case."""
    k, d, s = _randint(g, 1, 7), _randint(g, 1, 3), _randint(g, 1, 4)
    p = _randint(g, 0, k // 2)
    size = _randint(g, max(1, d * (k - 1) + 1 - 2 * p), 60)
    layer = "conv" if i % 2 == 0 else "pool"
    # a hidden case is named by its kind only, not by its numbers
    return (
        f"a {layer} layer of random size, kernel, stride, padding and dilation",
        (
            size,
            k,
            s,
            p,
            d,
        ),
        layer,
    )


def check_conv_output_size(fn: Callable) -> None:
    """Exercise: ``conv_output_size(size, kernel_size, stride, padding, dilation)`` -> int.

    The truth is the output size of a real ``nn.Conv2d`` / ``nn.MaxPool2d`` on that input.
    """
    cases = []
    configs = [
        ("AlexNet's first conv: 224, kernel 11, stride 4, padding 2", (224, 11, 4, 2, 1), "conv"),
        ("a 3x3 max-pool with stride 2 on 55", (55, 3, 2, 0, 1), "pool"),
        ("kernel 5, padding 2 keeps 27", (27, 5, 1, 2, 1), "conv"),
        ("stride 2 that does not divide evenly: 8, kernel 3", (8, 3, 2, 0, 1), "conv"),
        ("dilation 2: 10, kernel 3", (10, 3, 1, 0, 2), "conv"),
        ("kernel as large as the input: 5, kernel 5", (5, 5, 1, 0, 1), "conv"),
    ]
    if hidden():  # the same kinds of layer, at sizes drawn with the instructor's seed
        configs = [_random_layer(case_generator(230 + i), i) for i in range(len(configs))]
    for desc, (size, k, s, p, d), layer in configs:
        if layer == "conv":
            module = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        else:
            module = nn.MaxPool2d(k, stride=s, padding=p, dilation=d)
        with torch.no_grad():
            expected = module(torch.zeros(1, 1, size, size)).shape[-1]
        cases.append((desc, (size, k, s, p, d), expected))
    report(run_cases("conv_output_size", fn, cases, _compare_int))


def _dropout_property(x: torch.Tensor, p: float, training: bool) -> Callable[[Any], str | None]:
    """What inverted dropout must return for (x, p, training), as a validator of the output."""

    def validate(got: Any) -> str | None:
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {type(got).__name__}"
        if got.shape != x.shape:
            return f"expected shape {tuple(x.shape)}, got {tuple(got.shape)}"
        got = got.detach()
        if not training or p == 0:
            if not torch.equal(got, x):
                return "expected the input unchanged (at eval time, or with p = 0)"
            return None
        dropped = got == 0
        kept = ~dropped
        if not torch.allclose(got[kept], x[kept] / (1 - p), rtol=1e-5, atol=1e-6):
            return f"kept values must be scaled by 1 / (1 - p) = {1 / (1 - p):.3g}"
        rate = dropped.float().mean().item()
        if abs(rate - p) > 0.01:
            return f"expected about {p:.0%} of the values dropped, got {rate:.1%}"
        for dim, what in ((1, "row (sample)"), (0, "column (feature)")):
            per = dropped.float().mean(dim)
            if (per - p).abs().max() > 0.15:
                return f"values must be dropped independently: some {what} lost {per.max():.0%}"
            # Independent drops make each row's (column's) count binomial: it varies from one
            # row to the next with standard deviation sqrt(n p (1 - p)). A fixed count does not.
            n = x.shape[dim]
            spread = dropped.float().sum(dim).std().item() / math.sqrt(n * p * (1 - p))
            if not 0.6 < spread < 1.4:
                return (
                    f"values must be dropped independently: the number dropped per {what} varies "
                    f"{spread:.2f} times as much as independent drops would make it vary"
                )
        mean_ratio = (got.sum() / x.sum()).item()
        if abs(mean_ratio - 1) > 0.05:
            return f"the expected value must stay unchanged (sum ratio {mean_ratio:.3f})"
        return None

    return validate


def check_dropout(fn: Callable) -> None:
    """Exercise: inverted ``dropout(x, p, training)``, with ``nn.Dropout``'s expectation."""
    g = case_generator(303)
    x = torch.rand(256, 400, generator=g) + 0.5  # positive, so a dropped value is exactly 0
    cases = [
        ("training, p=0.5", (x, 0.5, True), _dropout_property(x, 0.5, True)),
        ("training, p=0.2", (x, 0.2, True), _dropout_property(x, 0.2, True)),
        ("eval mode (training=False), p=0.5", (x, 0.5, False), _dropout_property(x, 0.5, False)),
        ("training, p=0", (x, 0.0, True), _dropout_property(x, 0.0, True)),
        ("training, p=0.8", (x, 0.8, True), _dropout_property(x, 0.8, True)),
    ]

    def seeded(*args):
        before = args[0].clone()
        with torch.random.fork_rng():  # the notebook's random stream stays as it was
            torch.manual_seed(0)
            out = fn(*args)
        if not torch.equal(args[0], before):
            raise ValueError("dropout changed its input x in place: return a new tensor instead")
        return out

    if not callable(fn):
        report(f"dropout: expected a function, got {type(fn).__name__}")
        return
    report(run_cases("dropout", seeded, cases, lambda got, validate: validate(got)))


# ---------------------------------------------------------------- notebook 04


def _torchvision_block(kind: str, c_in: int, c: int, stride: int) -> nn.Module:
    from torchvision.models import resnet as tv

    block = tv.BasicBlock if kind == "basic" else tv.Bottleneck
    c_out = c * block.expansion
    downsample = None
    if stride != 1 or c_in != c_out:
        downsample = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
        )
    module = block(c_in, c, stride, downsample)
    return randomize_batch_norms(module, seed=c_in * 1000 + c + stride)


def _block_cases(kind: str, configs) -> list[Case]:
    g = case_generator(404)
    cases = []
    for desc, (c_in, c, stride, side) in configs:
        x = torch.randn(2, c_in, side, side, generator=g)
        cases.append((desc, (c_in, c, stride), (_torchvision_block(kind, c_in, c, stride), (x,))))
    return cases


def check_basic_block(cls: Callable) -> None:
    """Exercise: ``BasicBlock(c_in, c_out, stride)`` equals torchvision's with the same weights."""
    cases = _block_cases(
        "basic",
        [
            ("64 -> 64 channels, stride 1 (identity shortcut)", (64, 64, 1, 8)),
            ("64 -> 128 channels, stride 2 (projection)", (64, 128, 2, 8)),
            ("16 -> 32 channels, stride 2, odd size 7x7", (16, 32, 2, 7)),
            ("32 -> 48 channels, stride 1 (projection)", (32, 48, 1, 5)),
        ],
    )
    report(run_cases("BasicBlock", cls, cases, compare_modules))


def check_bottleneck(cls: Callable) -> None:
    """Exercise: ``Bottleneck(c_in, c_mid, stride)`` equals torchvision's with the same weights."""
    cases = _block_cases(
        "bottleneck",
        [
            ("64 -> 64 -> 256 channels, stride 1 (projection)", (64, 64, 1, 8)),
            ("256 -> 64 -> 256 channels, stride 1 (identity shortcut)", (256, 64, 1, 8)),
            ("256 -> 128 -> 512 channels, stride 2 (projection)", (256, 128, 2, 8)),
            ("32 -> 16 -> 64 channels, stride 2, odd size 7x7", (32, 16, 2, 7)),
        ],
    )
    report(run_cases("Bottleneck", cls, cases, compare_modules))


def check_stack_of_3x3(fn: Callable) -> None:
    """Exercise: ``stack_of_3x3(n, channels)`` -> (receptive field, weights) of n stacked 3x3
    convolutions (stride 1, no bias, ``channels`` in and out), measured on real layers: the
    receptive field as the input pixels that reach the centre output, the weights counted."""
    configs = [
        ("1 layer, 4 channels", (1, 4)),
        ("2 layers, 64 channels", (2, 64)),
        ("3 layers, 64 channels", (3, 64)),
        ("5 layers, 8 channels", (5, 8)),
    ]
    if hidden():  # stacks drawn with the instructor's seed
        g = case_generator(383)
        draws = [(_randint(g, 1, 7), _randint(g, 1, 32)) for _ in configs]
        configs = [("a stack of random depth and width", (n, c)) for n, c in draws]
    cases = []
    for desc, (layers, channels) in configs:
        stack = nn.Sequential(
            *[nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(layers)]
        )
        side = 2 * layers + 5
        x = torch.zeros(1, channels, side, side, requires_grad=True)
        stack(x)[0, :, side // 2, side // 2].sum().backward()
        reached = (x.grad.abs().sum((0, 1)) > 0).any(0).sum().item()  # columns that matter
        cases.append((desc, (layers, channels), (int(reached), count_parameters(stack))))

    def compare(got: Any, expected: tuple[int, int]) -> str | None:
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (receptive field side, weights), got {got!r}"
        if any(isinstance(v, bool) or not isinstance(v, int) for v in got):
            return f"expected two whole numbers (int), got {got!r}"
        if got[0] != expected[0]:
            side = expected[0]
            return f"receptive field: the layers see a {side}x{side} window, you said {got[0]}"
        if got[1] != expected[1]:
            return f"weights: the layers have {expected[1]:,}, you said {got[1]:,}"
        return None

    report(run_cases("stack_of_3x3", fn, cases, compare))


def check_resnet_cifar(cls: Callable) -> None:
    """Exercise: ``ResNetCIFAR(block, n, width, num_classes, in_channels)`` builds the paper's
    CIFAR ResNet of 6n + 2 layers from ``block``; checked with the course's ``BasicBlock``
    against ``models.small_resnet(6n + 2, width, shortcut="projection")``, given its weights."""
    g = case_generator(414)
    cases = []
    for desc, (n, width, classes, c_in, side) in [
        ("n=1 (8 layers), width 4, 16x16 digits", (1, 4, 10, 1, 16)),
        ("n=3 (20 layers), width 8, 8x8 digits", (3, 8, 10, 1, 8)),
        ("n=2 (14 layers), width 6, 5 classes, RGB 12x12", (2, 6, 5, 3, 12)),
        ("n=1, width 4, an odd size, 9x9", (1, 4, 10, 1, 9)),
    ]:
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
            reference = small_resnet(6 * n + 2, width, "projection", classes, c_in)
        reference = randomize_batch_norms(reference, seed=n * 100 + width)
        x = torch.randn(2, c_in, side, side, generator=g)
        cases.append((desc, (BasicBlock, n, width, classes, c_in), (reference, (x,))))
    report(run_cases("ResNetCIFAR", cls, cases, compare_modules))
