"""What a layer costs: parameters, multiply-adds, forward time (notebooks 01-04, 07).

A multiply-add (MAC) is one weight multiplied with one input and added to a sum; a conv
layer does ``C_in/groups * k_h * k_w`` of them for each of its output values. Bias
additions are not counted. FLOPs are often quoted as 2 x MACs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from .env import synchronize

__all__ = [
    "conv2d_cost",
    "conv_output_size",
    "count_macs",
    "count_parameters",
    "torch_flops",
    "layer_table",
    "time_forward",
    "time_modules",
]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def conv2d_cost(
    c_in: int, c_out: int, kernel_size: int, out_h: int, out_w: int, bias: bool = True
) -> tuple[int, int]:
    """Parameters and multiply-adds of one ``nn.Conv2d`` layer (notebook 01).

    ``params = c_out * (c_in * k * k + [bias])``, ``macs = c_out * c_in * k * k * out_h * out_w``
    (for one image).
    """
    arguments = {
        "c_in": c_in,
        "c_out": c_out,
        "kernel_size": kernel_size,
        "out_h": out_h,
        "out_w": out_w,
    }
    for name, value in arguments.items():
        _positive_int(value, name)
    per_output = c_in * kernel_size * kernel_size
    return c_out * (per_output + int(bias)), c_out * per_output * out_h * out_w


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Total number of parameters (elements) of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass, per image, counted by hooks on the layers.

    Counts ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear`` (the layers that hold
    nearly all the arithmetic of a convnet); pooling, normalisation and activations are
    left out.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError("x must be a batched input tensor, (N, ...)")
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * k
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0].numel() * k
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    _forward_with_hooks(model, x, {m: hook for m in model.modules() if isinstance(m, layers)})
    return total // x.shape[0]


def torch_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass, per image, as PyTorch's own counter reports them.

    ``torch.utils.flop_counter.FlopCounterMode`` counts the matrix products and convolutions
    that the operators dispatch (two FLOPs per multiply-add, bias additions left out): an
    independent check of :func:`count_macs`, which applies the formula to each layer's
    configuration and output shape (for plain convolutions and linear layers,
    ``torch_flops == 2 * count_macs``).
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError("x must be a batched input tensor, (N, ...)")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // x.shape[0]


def _run_with_hooks(run: Callable[[], object], hooks, pre_hooks=()) -> None:
    """Call ``run()`` with forward hooks and forward pre-hooks, each given as (module, hook)
    pairs, then remove them, whatever happens."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    handles += [module.register_forward_pre_hook(hook) for module, hook in pre_hooks]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()


def _forward_with_hooks(model: nn.Module, x: torch.Tensor, hooks: dict) -> None:
    """Run ``model(x)`` without gradients with forward hooks {module: hook}."""
    with torch.no_grad():
        _run_with_hooks(lambda: model(x), hooks.items())


def time_forward(model: nn.Module, x: torch.Tensor, repeats: int = 10, warmup: int = 2) -> float:
    """Median wall-clock seconds of ``model(x)`` without gradients, after a warm-up."""
    _positive_int(repeats, "repeats")
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            synchronize(x.device)
            start = time.perf_counter()
            model(x)
            synchronize(x.device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output side of a convolution or pooling layer (notebook 03).

    ``floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1``, as in
    ``nn.Conv2d`` and ``nn.MaxPool2d`` (``ceil_mode=False``).
    """
    for v, n in (
        (size, "size"),
        (kernel_size, "kernel_size"),
        (stride, "stride"),
        (dilation, "dilation"),
    ):
        _positive_int(v, n)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    out = (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"the kernel ({kernel_size}, dilation {dilation}) does not fit in "
            f"{size} + 2 * {padding} pixels"
        )
    return out


def layer_table(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str, tuple, int]]:
    """One row per leaf layer run by ``model(x)``: (name, type, output shape, parameters)."""
    rows = []

    def recorder(name):
        def hook(module, inputs, output):
            rows.append(
                (name, type(module).__name__, tuple(output.shape), count_parameters(module))
            )

        return hook

    leaves = {m: recorder(n) for n, m in model.named_modules() if next(m.children(), None) is None}
    _forward_with_hooks(model, x, leaves)
    return rows


def time_modules(run: Callable[[], object], modules: dict[str, nn.Module]) -> dict[str, dict]:
    """Call ``run()`` once with a stopwatch on each named submodule; return, per name,
    ``{"seconds": total time in its forward calls, "calls": how many, "rows": the first
    dimension summed over calls of its first tensor argument}`` (images for a backbone,
    regions for a RoI head). Use it to see where a model's time goes (notebook 07).

    On a GPU every stopwatch start and stop first waits for the queued work
    (:func:`course_utils.env.synchronize`), so that each part is charged its own kernels.
    """
    if not modules or not all(isinstance(m, nn.Module) for m in modules.values()):
        raise ValueError("modules must be a non-empty dict of {name: nn.Module}")
    stats = {name: {"seconds": 0.0, "calls": 0, "rows": 0} for name in modules}
    started: dict[str, list[float]] = {name: [] for name in modules}
    pre_hooks, hooks = [], []
    for name, module in modules.items():

        def before(_, args, name=name):
            synchronize()
            started[name].append(time.perf_counter())
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            stats[name]["rows"] += int(first.shape[0]) if first is not None and first.ndim else 0

        def after(*_, name=name):
            synchronize()
            stats[name]["seconds"] += time.perf_counter() - started[name].pop()
            stats[name]["calls"] += 1

        pre_hooks.append((module, before))
        hooks.append((module, after))
    _run_with_hooks(run, hooks, pre_hooks)
    return stats
