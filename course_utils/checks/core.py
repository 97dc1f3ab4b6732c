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

import contextlib
import io
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..cost import count_parameters

__all__ = [
    "Case",
    "compare_modules",
    "compare_tensors",
    "compare_value_and_gradient",
    "passed_or_twin",
    "randomize_batch_norms",
    "report",
    "run_cases",
    "value_and_gradient",
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
        err = (got.double() - expected.double()).abs().max().item()
        return f"values differ from the library's (largest difference {err:.3g})"
    return None


def randomize_batch_norms(module: nn.Module, seed: int) -> nn.Module:
    """Give every batch norm non-trivial weights and running statistics; return it in eval mode.

    With the defaults (weight 1, bias 0, mean 0, variance 1) a batch norm in eval mode is the
    identity, so an answer that left one out would pass: random values make every layer matter.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module.eval()


def compare_modules(got: Any, expected: tuple[nn.Module, tuple]) -> str | None:
    """None if the module ``got`` has the reference's layers and, given the reference's
    weights, the same outputs on ``inputs`` (in eval mode); else what differs.

    ``expected`` is ``(reference, inputs)``, ``inputs`` a tuple of forward arguments.
    """
    reference, inputs = expected
    if not isinstance(got, nn.Module):
        return f"expected an nn.Module, got {type(got).__name__}"
    n_ref, n_got = count_parameters(reference), count_parameters(got)
    if n_got != n_ref:
        return f"the reference has {n_ref:,} parameters, yours {n_got:,}"
    ours, theirs = set(got.state_dict()), set(reference.state_dict())
    if ours != theirs:
        missing, extra = sorted(theirs - ours), sorted(ours - theirs)
        return (
            f"layer names differ from the reference's: missing {missing[:4]}, "
            f"unexpected {extra[:4]}"
        )
    try:
        got.load_state_dict(reference.state_dict())
    except RuntimeError as error:
        return f"the reference's weights do not fit: {str(error).splitlines()[-1].strip()}"
    got.eval()
    with torch.no_grad():
        expected = reference(*inputs)
        try:
            out = got(*inputs)
        except Exception as error:  # the student's forward: report, do not crash the cell
            return f"its forward raised {type(error).__name__}: {error}"
        return compare_tensors(out, expected, atol=1e-4, rtol=1e-4)


def value_and_gradient(fn: Callable, x: torch.Tensor, *args):
    """``fn(x, *args)`` and the gradient of a fixed random weighting of it with respect to x
    (``(output, None)`` when no gradient reaches x), for :func:`compare_value_and_gradient`."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, *args)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return out, None
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(709))
    (grad,) = torch.autograd.grad((out * weights.to(out.dtype)).sum(), x, allow_unused=True)
    return out, grad


def compare_value_and_gradient(got, expected) -> str | None:
    """None if two :func:`value_and_gradient` results agree, else what differs."""
    (out, grad), (out_ref, grad_ref) = got, expected
    problem = compare_tensors(out, out_ref)
    if problem:
        return problem
    if grad is None:
        return "no gradient reaches the input: use torch operations (no .item(), numpy or detach)"
    problem = compare_tensors(grad, grad_ref)
    return f"the gradient: {problem}" if problem else None


def passed_or_twin(answer: Any, check: Callable, twin: Any) -> Any:
    """``answer`` if it passes ``check``, else ``twin`` (the course's version), with a note.

    For a cell that builds on an exercise (notebook 04 trains a network made from your
    blocks): it runs your answer when it is right, and the course's twin otherwise, so the
    rest of the notebook still runs. The check runs silently (nothing printed or logged).
    """
    log = os.environ.pop("COURSE_CHECKS_LOG", None)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            check(answer)
    finally:
        if log is not None:
            os.environ["COURSE_CHECKS_LOG"] = log
    verdict = printed.getvalue().strip()
    if verdict.endswith(" cases") and ": correct on " in verdict:
        return answer
    name = getattr(answer, "__name__", type(answer).__name__)
    twin_name = getattr(twin, "__name__", "version")
    print(f"Using the course's {twin_name} instead of your {name}: {verdict}")
    return twin
