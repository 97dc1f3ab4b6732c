"""Inside the sandbox: run the student's cells, then call what they define for the grader.

Requests (one JSON message each, see :mod:`course_utils.grading.wire`):

- ``exec``: run a cell's source in the notebook's namespace;
- ``lookup``: a name of that namespace, as data or as a handle;
- ``call``: call a handle (or one of its methods) on arguments, under the exercise's guard
  (:mod:`course_utils.checks.guard`), with torch's global random state the grader sends;
- ``forward``: load a state dict into a module handle, set its mode, and call it;
- ``value_and_gradient``: :func:`course_utils.checks.core.value_and_gradient` of a handle.

Every answer is ``{"ok": value}`` or ``{"error": {"type", "message"}}``. Whatever this process
sends is only ever data for the grader to compare: nothing here decides a grade.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from typing import Any

import torch
from torch import nn

from ..checks import core
from ..checks.delegation import BLOCKED
from ..checks.guard import BlockedCall, guard_for
from .wire import WireError, decode, encode, read_message, write_message


class _Magics:
    """``get_ipython()`` for a cell with magics: ``%%time`` / ``%%timeit`` / ``%%capture``
    run the cell's body; every other magic and shell command is skipped."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def run_cell_magic(self, name, line, body):
        if name in ("time", "timeit", "capture"):
            exec(compile(body, "<cell>", "exec"), self.namespace)

    def run_line_magic(self, *args, **kwargs):
        return None

    def system(self, *args, **kwargs):
        return None

    getoutput = system


def _python_source(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def _public_method(request: dict) -> str | None:
    """The method a request names (None for a plain call); only public ones may be called."""
    method = request.get("method")
    if method is not None and (not isinstance(method, str) or method.startswith("_")):
        raise WireError(f"refusing to call method {method!r}")
    return method


class Server:
    def __init__(self, into: int, out: int):
        self.into, self.out = into, out
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.namespace["get_ipython"] = lambda: _Magics(self.namespace)
        self.objects: dict[int, Any] = {}
        self.pid = os.getpid()
        # the guard, as it is before any student code runs: bound here, and every exercise's
        # blocked code looked up now, so a cell that rebinds names later changes neither
        self.guards = {name: guard_for(name) for name in BLOCKED}

    def only_the_worker(self) -> None:
        """A copy of this process that an answer forked ends here: only the worker talks to
        the grader (copies that answered too would garble the channel)."""
        if os.getpid() != self.pid:
            os._exit(0)

    # ------------------------------------------------------------ handles
    def handle(self, obj: Any) -> dict:
        key = len(self.objects) + 1
        self.objects[key] = obj
        described = {
            "id": key,
            "type": type(obj).__name__,
            "name": str(getattr(obj, "__name__", type(obj).__name__))[:100],
            "callable": callable(obj),
        }
        if isinstance(obj, nn.Module):  # the class's own methods, not the answer's overrides
            state = nn.Module.state_dict(obj)
            params = dict(nn.Module.named_parameters(obj))
            described["module"] = {
                "parameters": [
                    [n, list(p.shape), str(p.dtype).removeprefix("torch."), p.requires_grad]
                    for n, p in params.items()
                ],
                "buffers": [
                    [n, list(b.shape), str(b.dtype).removeprefix("torch.")]
                    for n, b in state.items()
                    if n not in params and isinstance(b, torch.Tensor)
                ],
                "training": bool(obj.training),
            }
        return described

    def data(self, value: Any) -> Any:
        return encode(value, handle=self.handle)

    def target(self, key: Any) -> Any:
        if not isinstance(key, int) or key not in self.objects:
            raise WireError(f"unknown handle {key!r}")
        return self.objects[key]

    # ------------------------------------------------------------ requests
    def guarded(self, exercise: str):
        """The guard of ``exercise`` as it was bound before any student code ran."""
        bound = self.guards.get(exercise)
        return bound() if bound is not None else contextlib.nullcontext()

    def exec(self, request: dict) -> None:
        """Run a cell; an exercise's cell runs under that exercise's guard (what it computes
        when it is defined is its answer too)."""
        source = _python_source(request["source"])
        code = compile(source, f"<exercise cell {request.get('key', '')}>", "exec")
        with self.guarded(str(request.get("exercise", ""))):
            exec(code, self.namespace)

    def lookup(self, request: dict) -> Any:
        name = request["name"]
        if name not in self.namespace:
            raise NameError(f"name '{name}' is not defined")
        return self.data(self.namespace[name])

    def _call(self, request: dict, run) -> dict:
        args = decode(request.get("args", []), refs=True)
        kwargs = decode(request.get("kwargs", {"$dict": []}), refs=True)
        rng = decode(request["rng"])
        torch.set_rng_state(rng)
        with torch.set_grad_enabled(bool(request.get("grad", True))):
            # the answer's result is turned into data under the guard too: what an answer's
            # object does when it is read (a method, a property) is still the answer's work
            with self.guarded(str(request.get("exercise", ""))):
                value = self.data(run(args, kwargs))
                after = encode([a if type(a) is torch.Tensor else None for a in args])
        return {"value": value, "args": after, "rng": encode(torch.get_rng_state())}

    def call(self, request: dict) -> dict:
        target = self.target(request.get("target"))
        method = _public_method(request)
        if method is not None:
            target = getattr(target, method)
        return self._call(request, lambda args, kwargs: target(*args, **kwargs))

    def forward(self, request: dict) -> dict:
        """Load the grader's copy of the weights and mode into a module, then call it (or one
        of its public methods)."""
        module = self.target(request.get("target"))
        if not isinstance(module, nn.Module):
            raise WireError("forward needs a module")
        method = _public_method(request)
        with self.guarded(str(request.get("exercise", ""))):
            module.load_state_dict(decode(request["state"]))
            module.train(bool(request.get("training")))
        call = module if method is None else getattr(module, method)
        return self._call(request, lambda args, kwargs: call(*args, **kwargs))

    def value_and_gradient(self, request: dict) -> dict:
        fn = self.target(request.get("target"))
        return self._call(request, lambda args, kwargs: core.value_and_gradient(fn, *args))

    def serve(self) -> None:
        handlers = {
            "exec": self.exec,
            "lookup": self.lookup,
            "call": self.call,
            "forward": self.forward,
            "value_and_gradient": self.value_and_gradient,
        }
        write_message(self.out, {"ready": True, "id": None})
        while True:
            self.only_the_worker()
            try:
                request = read_message(self.into)
            except EOFError:
                return
            op = request.get("op")
            try:
                if op not in handlers:
                    raise WireError(f"unknown request {op!r}")
                reply = {"ok": handlers[op](request)}
            except NotImplementedError as error:
                reply = {"error": {"type": "NotImplementedError", "message": str(error)}}
            except BlockedCall as error:
                reply = {"error": {"type": "BlockedCall", "message": str(error)}}
            except Exception as error:  # the answer's error, reported as data
                last = traceback.format_exception_only(type(error), error)[-1].strip()
                message = last.partition(": ")[2] if ": " in last else ""
                reply = {"error": {"type": type(error).__name__, "message": message[:2000]}}
            reply["id"] = request.get("id")
            self.only_the_worker()
            with contextlib.suppress(BrokenPipeError):
                write_message(self.out, reply)


def serve(into: int, out: int, config: dict) -> None:
    """Answer the grader's requests until it closes the channel."""
    torch.set_num_threads(1)
    Server(into, out).serve()
