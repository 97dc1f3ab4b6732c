"""What the exercise check cells call.

Each ``check_*`` function runs the student's function on fixed cases (random inputs from a
private, seeded generator, plus edge cases), compares with the library (``torch.nn`` /
``torchvision``) and prints ONE line:

- ``<name>: correct on N cases`` when every case matches (the line nbval expects), or
- ``<name>: not implemented yet`` / ``<name>: wrong on <case>: <what differs>`` /
  ``<name>: raised <Error> on <case>: <message>`` otherwise, so nbval flags the cell and
  the student reads what is wrong.

They return None, so a check cell shows nothing but that line. When the environment variable
``COURSE_CHECKS_LOG`` names a file (the grader sets it), the line is also appended there, so the
grader can report it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .cost import count_macs, count_parameters

__all__ = [
    "check_conv1x1",
    "check_conv2d_cost",
    "check_global_avg_pool",
    "compare_tensors",
    "report",
    "run_cases",
]

Case = tuple[str, tuple, Any]  # (description, arguments, expected result)


def report(line: str) -> None:
    """Print a check's verdict (and append it to ``$COURSE_CHECKS_LOG`` when set)."""
    print(line)
    log = os.environ.get("COURSE_CHECKS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def run_cases(
    name: str,
    fn: Callable,
    cases: Sequence[Case],
    compare: Callable[[Any, Any], str | None],
) -> str:
    """Run ``fn(*arguments)`` on every case; return the one-line verdict.

    ``compare(got, expected)`` returns None when they agree, else what differs.
    Arguments are cloned before each call, so an answer that modifies its inputs in place
    cannot change the expected results.
    """
    if not callable(fn):
        return f"{name}: expected a function, got {type(fn).__name__}"
    for description, args, expected in cases:
        args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        try:
            got = fn(*args)
        except NotImplementedError:
            return f"{name}: not implemented yet (it raises NotImplementedError)"
        except Exception as error:  # the student's code: report, do not crash the cell
            return f'{name}: raised {type(error).__name__} on case "{description}": {error}'
        problem = compare(got, expected)
        if problem:
            return f'{name}: wrong on case "{description}": {problem}'
    return f"{name}: correct on {len(cases)} cases"


def compare_tensors(got: Any, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-5):
    """None if ``got`` is a tensor of ``expected``'s shape and values, else what differs."""
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if got.is_floating_point() != expected.is_floating_point():
        return f"expected dtype {expected.dtype}, got {got.dtype}"
    got = got.detach().to(expected.dtype).cpu()
    if not torch.allclose(got, expected, atol=atol, rtol=rtol):
        err = (got - expected).abs().max().item()
        return f"values differ from the library's (largest difference {err:.3g})"
    return None


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
