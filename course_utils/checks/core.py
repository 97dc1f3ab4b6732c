"""What the exercise check cells call.

Each ``check_*`` function runs the student's function on fixed cases (random inputs from a
private, seeded generator, plus edge cases), compares with the library (``torch.nn`` /
``torchvision``) and prints ONE line:

- ``<name>: correct on N cases`` when every case matches (the line nbval expects), or
- ``<name>: not implemented yet`` / ``<name>: wrong on <case>: <what differs>`` /
  ``<name>: raised <Error> on <case>: <message>`` otherwise, so nbval flags the cell and
  the student reads what is wrong.

They return None, so a check cell shows nothing but that line.

The grader (``course_utils.grading``) runs the same checks in its own process, on an answer that
runs in a sandbox: it collects the verdict lines with :func:`collecting_verdicts` instead of
reading what the student's kernel printed, and runs every check a second time with
:func:`hidden_cases`, whose random cases are drawn with the instructor's seed. In the student's
kernel each call of the answer is also watched by :func:`course_utils.checks.guard.guarded`, so
an answer that calls what its exercise re-implements is told so at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..contract import HIDDEN_CASE, REMOTE_VALUE_AND_GRADIENT, is_passed, passed_line
from ..cost import count_parameters
from .guard import guarded

__all__ = [
    "Case",
    "answer_guard",
    "case_generator",
    "collecting_verdicts",
    "compare_modules",
    "compare_tensors",
    "compare_value_and_gradient",
    "guarding_answers",
    "hidden_cases",
    "passed_or_twin",
    "randomize_batch_norms",
    "report",
    "run_cases",
    "value_and_gradient",
]

Case = tuple[str, tuple, Any]  # (description, arguments, expected result)


_verdicts: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "course_verdicts", default=None
)
_hidden_seed: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "course_hidden_seed", default=None
)
_guard_here: contextvars.ContextVar[bool] = contextvars.ContextVar("course_guard", default=True)
_exercise: contextvars.ContextVar[str] = contextvars.ContextVar("course_exercise", default="")


def answer_guard(name: str | None = None):
    """The guard for a call of the answer (see :mod:`.guard`), or nothing when it is off
    (in the grader, whose answers are guarded in their sandbox). ``name`` defaults to the
    exercise that :func:`run_cases` is checking."""
    name = _exercise.get() if name is None else name
    return guarded(name) if _guard_here.get() and name else contextlib.nullcontext()


def report(line: str) -> None:
    """Print a check's verdict (or hand it to :func:`collecting_verdicts`, when active)."""
    sink = _verdicts.get()
    if sink is None:
        print(line)
    else:
        sink.append(line)


@contextlib.contextmanager
def guarding_answers(on: bool) -> Iterator[None]:
    """Turn the guard on the answer's calls on or off inside (the course's own tests run the
    checks on the course's twins, which the guard blocks by design)."""
    token = _guard_here.set(on)
    try:
        yield
    finally:
        _guard_here.reset(token)


@contextlib.contextmanager
def collecting_verdicts(guard_here: bool | None = None) -> Iterator[list[str]]:
    """Collect the verdict lines of the checks run inside, instead of printing them.

    ``guard_here=False`` is for the grader, whose answers run (and are guarded) in a sandbox;
    None keeps the current setting.
    """
    lines: list[str] = []
    keep = _guard_here.get() if guard_here is None else guard_here
    token, guard = _verdicts.set(lines), _guard_here.set(keep)
    try:
        yield lines
    finally:
        _verdicts.reset(token)
        _guard_here.reset(guard)


@contextlib.contextmanager
def hidden_cases(seed: int) -> Iterator[None]:
    """Draw the checks' random cases with ``seed`` mixed in (the grader's hidden cases); a
    verdict then names a failing case only as "a hidden case" and the kind of input."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"the hidden seed must be an int, got {type(seed).__name__}")
    token = _hidden_seed.set(seed)
    try:
        yield
    finally:
        _hidden_seed.reset(token)


def hidden() -> bool:
    """Whether the checks are drawing hidden cases now."""
    return _hidden_seed.get() is not None


def case_generator(seed: int) -> torch.Generator:
    """The generator a check draws its random cases from: ``seed`` itself in the notebook,
    ``seed`` mixed with the instructor's seed under :func:`hidden_cases`."""
    secret = _hidden_seed.get()
    if secret is not None:
        digest = hashlib.sha256(f"{secret}:{seed}".encode()).digest()
        seed = int.from_bytes(digest[:8], "little") & (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def _case_label(description: str) -> str:
    return f'{HIDDEN_CASE} ("{description}")' if hidden() else f'case "{description}"'


def run_cases(
    name: str,
    fn: Callable,
    cases: Sequence[Case],
    compare: Callable[[Any, Any], str | None],
) -> str:
    """Run ``fn(*arguments)`` on every case; return the one-line verdict.

    ``compare(got, expected)`` returns None when they agree, else what differs.
    Arguments are cloned before each call, so an answer that modifies its inputs in place
    cannot change the expected results. In the student's kernel each call is guarded (see
    :mod:`course_utils.checks.guard`): calling what the exercise re-implements is an error.
    """
    if not callable(fn):
        return f"{name}: expected a function, got {type(fn).__name__}"
    token = _exercise.set(name)  # compare_modules guards the module's forward by it
    try:
        for description, args, expected in cases:
            args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
            try:
                with answer_guard(name):
                    got = fn(*args)
            except NotImplementedError:
                return f"{name}: not implemented yet (it raises NotImplementedError)"
            except Exception as error:  # the student's code: report, do not crash the cell
                label = _case_label(description)
                return f"{name}: raised {type(error).__name__} on {label}: {error}"
            problem = compare(got, expected)
            if problem:
                return f"{name}: wrong on {_case_label(description)}: {problem}"
        return passed_line(name, len(cases))
    finally:
        _exercise.reset(token)


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
    g = case_generator(seed)
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
            with answer_guard():
                out = got(*inputs)
        except Exception as error:  # the student's forward: report, do not crash the cell
            return f"its forward raised {type(error).__name__}: {error}"
        return compare_tensors(out, expected, atol=1e-4, rtol=1e-4)


def value_and_gradient(fn: Callable, x: torch.Tensor, *args):
    """``fn(x, *args)`` and the gradient of a fixed random weighting of it with respect to x
    (``(output, None)`` when no gradient reaches x), for :func:`compare_value_and_gradient`.

    An answer that runs in the grader's sandbox is differentiated there (its proxy has the
    contract's ``REMOTE_VALUE_AND_GRADIENT`` method).
    """
    remote = getattr(fn, REMOTE_VALUE_AND_GRADIENT, None)
    if remote is not None:
        return remote(x, *args)
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
    with collecting_verdicts() as lines, contextlib.redirect_stdout(None):
        check(answer)
    verdict = lines[-1] if lines else "the check said nothing"
    if is_passed(verdict):
        return answer
    name = getattr(answer, "__name__", type(answer).__name__)
    twin_name = getattr(twin, "__name__", "version")
    print(f"Using the course's {twin_name} instead of your {name}: {verdict}")
    return twin
