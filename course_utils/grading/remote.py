"""The grader's stand-ins for what a submission defined: calling one runs the real thing in
the sandbox and returns plain data.

A check (``course_utils.checks``) runs in the grader's process exactly as in the notebook, but
is handed a proxy instead of the student's function or class:

- :class:`RemoteCallable` forwards each call (arguments, torch's global random state, whether
  gradients are on) and copies back what the answer did to its tensor arguments, so a check
  that seeds torch or looks for in-place changes sees what it would see in the notebook;
- an answer that returns an ``nn.Module`` comes back as a :class:`RemoteModule`, a local module
  with the same parameter and buffer names and shapes: the check loads weights into it as
  usual, and its forward sends the weights and inputs to the sandbox;
- other objects come back as :class:`RemoteObject` (their methods are forwarded), and values
  that are data (tensors, numbers, tuples...) come back as themselves.

Nothing the student's code returns can run in the grader: it is data, or a name for an object
that stays in the sandbox.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import torch
from torch import nn

from ..contract import REMOTE_VALUE_AND_GRADIENT
from .sandbox import SandboxError
from .wire import DTYPES, WireError, decode, encode

MAX_MODULE_ELEMENTS = 50_000_000  # a described module bigger than this is refused
MAX_MODULE_ENTRIES = 10_000  # parameters and buffers
MAX_NAME = 200  # characters in a dotted name
MAX_DEPTH = 16  # parts of a dotted name
MAX_HANDLES = 1_000  # objects in one reply
MAX_SUBMODULES = 10_000  # submodules built for one reply


class RemoteError(Exception):
    """An error the answer raised in the sandbox (when its type is not a builtin one)."""


_error_types: dict[str, type] = {}


# builtin errors a check may catch by type (NotImplementedError means "not implemented yet");
# never one the grader itself catches by type (TimeoutError), nor BaseException's others
_BUILTIN_ERRORS = {
    "NotImplementedError",
    "ValueError",
    "TypeError",
    "RuntimeError",
    "IndexError",
    "KeyError",
    "ZeroDivisionError",
    "AttributeError",
    "AssertionError",
    "OverflowError",
    "NameError",
    "OSError",
    "MemoryError",
    "RecursionError",
    "BlockingIOError",
    "FileNotFoundError",
    "PermissionError",
    "UnboundLocalError",
    "ArithmeticError",
    "LookupError",
}


def _error(kind: str, message: str) -> Exception:
    """A local exception for an error raised in the sandbox, of a type with the same name."""
    builtin = getattr(builtins, kind, None) if kind in _BUILTIN_ERRORS else None
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except TypeError:
            pass
    if kind not in _error_types:
        _error_types[kind] = type(
            kind if kind.isidentifier() else "RemoteError", (RemoteError,), {}
        )
    return _error_types[kind](message)


class Link:
    """One exercise's connection to the sandbox: sends requests, turns replies into values."""

    def __init__(self, session, exercise: str, timeout: float):
        self.session, self.exercise, self.timeout = session, exercise, timeout

    def ask(self, request: dict) -> Any:
        reply = self.session.request(request, self.timeout)
        if "error" in reply:
            err = reply["error"]
            if not isinstance(err, dict):
                raise SandboxError("the answer's process broke the protocol: a bad error")
            raise _error(str(err.get("type", "Error"))[:80], str(err.get("message", ""))[:2000])
        return reply["ok"]

    def value(self, data: Any) -> Any:
        """What a reply holds, as values and stand-ins; one budget for the whole reply."""
        self.budget = {
            "handles": MAX_HANDLES,
            "elements": MAX_MODULE_ELEMENTS,
            "modules": MAX_SUBMODULES,
        }
        return decode(data, handle=self.proxy)  # no references: the sandbox sends only data

    def proxy(self, described: Any) -> Any:
        if not isinstance(described, dict) or not isinstance(described.get("id"), int):
            raise WireError("a malformed handle")
        self.budget["handles"] -= 1
        if self.budget["handles"] < 0:
            raise WireError("a reply with too many objects in it")
        kind = str(described.get("type", "object"))[:80]
        if isinstance(described.get("module"), dict):
            return RemoteModule(self, described)
        cls = RemoteCallable if described.get("callable") else RemoteObject
        if not kind.isidentifier():
            kind = cls.__name__
        return type(kind, (cls,), {})(self, described)

    def invoke(self, op: str, target: int, args: tuple, kwargs: dict, **fields) -> Any:
        """A call in the sandbox: sends the global random state, brings back its new state
        and what the call wrote into its tensor arguments."""
        request = {
            "op": op,
            "target": target,
            "exercise": self.exercise,
            "args": encode(list(args)),
            "kwargs": encode(dict(kwargs)),
            "rng": encode(torch.get_rng_state()),
            "grad": torch.is_grad_enabled(),
            **fields,
        }
        answer = self.ask(request)
        if not isinstance(answer, dict) or not {"value", "args", "rng"} <= set(answer):
            raise SandboxError("the answer's process broke the protocol: a bad call reply")
        rng = decode(answer["rng"])
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
            raise SandboxError("the answer's process broke the protocol: a bad random state")
        try:
            torch.set_rng_state(rng)
        except RuntimeError as error:
            raise SandboxError(
                "the answer's process broke the protocol: a bad random state"
            ) from error
        after = decode(answer["args"])
        if isinstance(after, list) and len(after) == len(args):
            for local, changed in zip(args, after, strict=True):
                if (
                    isinstance(local, torch.Tensor)
                    and isinstance(changed, torch.Tensor)
                    and changed.shape == local.shape
                    and changed.dtype == local.dtype
                    and not local.requires_grad
                ):
                    with torch.no_grad():
                        local.copy_(changed)
        return self.value(answer["value"])


class RemoteObject:
    """An object that stays in the sandbox; its public methods are forwarded."""

    def __init__(self, link: Link, described: dict):
        self._link, self._id = link, described["id"]
        self.__name__ = str(described.get("name", type(self).__name__))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        link, target = self._link, self._id

        def method(*args, **kwargs):
            return link.invoke("call", target, args, kwargs, method=name)

        method.__name__ = name
        return method

    def __repr__(self) -> str:
        return f"<{type(self).__name__} in the sandbox>"


class RemoteCallable(RemoteObject):
    """A function or class of the submission: calling it calls it in the sandbox."""

    def __call__(self, *args, **kwargs):
        return self._link.invoke("call", self._id, args, kwargs)


def _value_and_gradient(self, x, *args):
    return self._link.invoke("value_and_gradient", self._id, (x, *args), {})


setattr(RemoteCallable, REMOTE_VALUE_AND_GRADIENT, _value_and_gradient)


def _holder(module: nn.Module, dotted: str, budget: dict) -> tuple[nn.Module, str]:
    """The submodule that owns ``dotted`` (created empty as needed) and the last name."""
    *path, leaf = dotted.split(".")
    for part in path:
        if part not in module._modules:
            budget["modules"] -= 1
            if budget["modules"] < 0:
                raise ValueError("a reply with too many submodules")
            module.add_module(part, nn.Module())
        module = module._modules[part]
    return module, leaf


class RemoteModule(nn.Module):
    """A module built in the sandbox: here, its parameters and buffers by name and shape;
    its forward runs there, with the weights this copy holds."""

    def __init__(self, link: Link, described: dict):
        super().__init__()
        self._link, self._id = link, described["id"]
        spec = described["module"]
        shared = (
            link.budget
            if hasattr(link, "budget")
            else {
                "elements": MAX_MODULE_ELEMENTS,
                "modules": MAX_SUBMODULES,
                "handles": MAX_HANDLES,
            }
        )
        entries = [*spec.get("parameters", []), *spec.get("buffers", [])]
        if len(entries) > MAX_MODULE_ENTRIES or any(
            not (
                isinstance(e, list)
                and e
                and isinstance(e[0], str)
                and len(e[0]) <= MAX_NAME
                and e[0].count(".") < MAX_DEPTH
            )
            for e in entries
        ):
            raise WireError("a module description over the limits (entries, names)")

        def zeros(shape, dtype) -> torch.Tensor:
            shape = [int(s) for s in shape]
            if any(s < 0 for s in shape):
                raise ValueError("a negative size")
            shared["elements"] -= max(1, math.prod(shape))
            if shared["elements"] < 0:
                raise ValueError("a reply over the size limit")
            return torch.zeros(shape, dtype=DTYPES[dtype])

        try:
            for name, shape, dtype, grad in spec.get("parameters", []):
                owner, leaf = _holder(self, str(name), shared)
                param = nn.Parameter(zeros(shape, dtype), requires_grad=bool(grad))
                owner.register_parameter(leaf, param)
            for name, shape, dtype in spec.get("buffers", []):
                owner, leaf = _holder(self, str(name), shared)
                owner.register_buffer(leaf, zeros(shape, dtype))
        except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as error:
            raise WireError(f"a malformed module description: {error}") from error
        self.train(bool(spec.get("training", True)))
        self._ready = True  # from now on, unknown public names are the module's methods

    def forward(self, *args, **kwargs):
        return self._remote(None, args, kwargs)

    def __repr__(self) -> str:
        return f"<a module of type {type(self).__name__} in the sandbox>"

    def _remote(self, method: str | None, args, kwargs):
        state = {k: v.detach() for k, v in self.state_dict().items()}
        return self._link.invoke(
            "forward",
            self._id,
            args,
            kwargs,
            state=encode(state),
            training=self.training,
            method=method,
        )

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)  # parameters, buffers, submodules
        except AttributeError:
            if name.startswith("_") or not self.__dict__.get("_ready"):
                raise
        module = self

        def method(*args, **kwargs):
            return module._remote(name, args, kwargs)

        method.__name__ = name
        return method
