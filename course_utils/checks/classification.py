"""Checks for the exercises of notebooks 01-04 (1x1 convolutions, GAP, AlexNet, ResNet)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..cost import count_macs, count_parameters
from .core import Case, compare_modules, compare_tensors, randomize_batch_norms, report, run_cases

__all__ = [
    "check_basic_block",
    "check_bottleneck",
    "check_conv_output_size",
    "check_conv1x1",
    "check_conv2d_cost",
    "check_dropout",
    "check_global_avg_pool",
]


# ---------------------------------------------------------------- notebook 01


def check_conv1x1(fn: Callable) -> None:
    """Exercise: ``conv1x1(x, weight, bias)`` must equal ``nn.Conv2d(C_in, C_out, 1)``."""
    g = torch.Generator().manual_seed(101)
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
    except (TypeError, ValueError):
        return f"expected two whole numbers, got {got!r}"
    if any(float(v) != int(v) for v in got):
        return f"expected two whole numbers, got {got!r}"
    if params != expected[0]:
        return f"params: nn.Conv2d has {expected[0]:,}, you computed {params:,}"
    if macs != expected[1]:
        return f"multiply-adds: counted {expected[1]:,} on the real layer, you computed {macs:,}"
    return None


def check_conv2d_cost(fn: Callable) -> None:
    """Exercise: ``conv2d_cost(c_in, c_out, k, out_h, out_w, bias)`` -> (params, macs).

    The truth is measured on a real ``nn.Conv2d``: its parameter count, and its
    multiply-adds counted by hooks while it runs on an input of the right size.
    """
    cases = []
    for desc, (c_in, c_out, k, out_h, out_w, bias) in [
        ("3->8 channels, 3x3 kernel, 10x10 output, bias", (3, 8, 3, 10, 10, True)),
        ("256->256 channels, 3x3 kernel, 28x28 output, no bias", (256, 256, 3, 28, 28, False)),
        ("256->64 channels, 1x1 kernel, 28x28 output, bias", (256, 64, 1, 28, 28, True)),
        ("16->32 channels, 5x5 kernel, 7x9 output, bias", (16, 32, 5, 7, 9, True)),
        ("1->1 channel, 1x1 kernel, 1x1 output, no bias", (1, 1, 1, 1, 1, False)),
    ]:
        conv = nn.Conv2d(c_in, c_out, k, bias=bias)
        x = torch.zeros(1, c_in, out_h + k - 1, out_w + k - 1)
        expected = (count_parameters(conv), count_macs(conv, x))
        cases.append((desc, (c_in, c_out, k, out_h, out_w, bias), expected))
    report(run_cases("conv2d_cost", fn, cases, _compare_cost))


# ---------------------------------------------------------------- notebook 02


def check_global_avg_pool(fn: Callable) -> None:
    """Exercise: ``global_avg_pool(x)`` (N, C, H, W) -> (N, C), like ``AdaptiveAvgPool2d(1)``."""
    g = torch.Generator().manual_seed(202)
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


# ---------------------------------------------------------------- notebook 03


def _compare_int(got: Any, expected: int) -> str | None:
    if isinstance(got, bool) or not isinstance(got, int):
        return f"expected a whole number (int), got {got!r}"
    if got != expected:
        return f"the real layer gives {expected}, you computed {got}"
    return None


def check_conv_output_size(fn: Callable) -> None:
    """Exercise: ``conv_output_size(size, kernel_size, stride, padding, dilation)`` -> int.

    The truth is the output size of a real ``nn.Conv2d`` / ``nn.MaxPool2d`` on that input.
    """
    cases = []
    for desc, (size, k, s, p, d), layer in [
        ("AlexNet's first conv: 224, kernel 11, stride 4, padding 2", (224, 11, 4, 2, 1), "conv"),
        ("a 3x3 max-pool with stride 2 on 55", (55, 3, 2, 0, 1), "pool"),
        ("kernel 5, padding 2 keeps 27", (27, 5, 1, 2, 1), "conv"),
        ("stride 2 that does not divide evenly: 8, kernel 3", (8, 3, 2, 0, 1), "conv"),
        ("dilation 2: 10, kernel 3", (10, 3, 1, 0, 2), "conv"),
        ("kernel as large as the input: 5, kernel 5", (5, 5, 1, 0, 1), "conv"),
    ]:
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
        mean_ratio = (got.sum() / x.sum()).item()
        if abs(mean_ratio - 1) > 0.05:
            return f"the expected value must stay unchanged (sum ratio {mean_ratio:.3f})"
        return None

    return validate


def check_dropout(fn: Callable) -> None:
    """Exercise: inverted ``dropout(x, p, training)``, with ``nn.Dropout``'s expectation."""
    g = torch.Generator().manual_seed(303)
    x = torch.rand(256, 400, generator=g) + 0.5  # positive, so a dropped value is exactly 0
    cases = [
        ("training, p=0.5", (x, 0.5, True), _dropout_property(x, 0.5, True)),
        ("training, p=0.2", (x, 0.2, True), _dropout_property(x, 0.2, True)),
        ("eval mode (training=False), p=0.5", (x, 0.5, False), _dropout_property(x, 0.5, False)),
        ("training, p=0", (x, 0.0, True), _dropout_property(x, 0.0, True)),
        ("training, p=0.8", (x, 0.8, True), _dropout_property(x, 0.8, True)),
    ]

    def seeded(*args):
        with torch.random.fork_rng():  # the notebook's random stream stays as it was
            torch.manual_seed(0)
            return fn(*args)

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
    g = torch.Generator().manual_seed(404)
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
