"""No answer by delegation: what each exercise may not call, and the guard that enforces it.

An exercise re-implements something the library (or the course's own twin in ``course_utils``)
already has; an answer that simply calls it has learnt nothing. :data:`BLOCKED` names, per
exercise, the dispatcher ops (``aten::convolution``, ``torchvision::nms``) and the Python
functions, classes or packages (``torchvision.ops.boxes.box_iou``, ``torchmetrics``) it may not
reach. :func:`guarded` watches one call of the answer two ways:

- a ``TorchDispatchMode`` sees every op that reaches PyTorch's dispatcher, whatever Python name
  it was called by (``F.conv2d``, ``torch.conv2d``, ``nn.Conv2d``, ``torch.ops.aten...``);
- a profile hook (``sys.setprofile``) sees every Python function that starts, and matches its
  code against the blocked functions by file and line, so an alias, a subclass or a reloaded
  module is caught as well.

The guard runs in the process of the answer, so it stops honest shortcuts, not a program
written to switch it off; :func:`suspicious_names` lists the source's reaches for the guard's
machinery (and for processes and threads, which the guard does not follow), and the grader
fails an answer that has any.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import importlib
import inspect
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

from torch.utils._python_dispatch import TorchDispatchMode

from .delegation import BLOCKED, Blocked

__all__ = ["BLOCKED", "BlockedCall", "Blocked", "guarded", "suspicious_names"]


class BlockedCall(RuntimeError):
    """An answer called what its exercise re-implements."""


def _import_path(path: str):
    """The object an import path names: ``package.module.attr.attr``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {path}")


@dataclass
class _Resolved:
    ops: frozenset[str]
    code: dict[tuple[str, int], str] = field(default_factory=dict)  # (file, line) -> name
    builtins: dict[int, str] = field(default_factory=dict)  # id of a C function -> name
    folders: dict[str, str] = field(default_factory=dict)  # package folder -> name


def _codes(obj) -> list[CodeType]:
    """The code objects of a function, or of every function defined in a class."""
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if inspect.isclass(obj):
        found = []
        for value in vars(obj).values():
            value = getattr(value, "__func__", value)  # staticmethod, classmethod
            if isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                found.append(value.__code__)
        return found
    code = getattr(obj, "__code__", None)
    return [code] if isinstance(code, CodeType) else []


_resolved: dict[str, _Resolved] = {}
# Python functions that switch the dispatch mode off: no answer calls them, whatever its exercise
_ALWAYS = (
    "torch.utils._python_dispatch._disable_current_modes",
    "torch.utils._python_dispatch._pop_mode",
    "torch.utils._python_dispatch._pop_mode_temporarily",
)
_lock = threading.Lock()


def _resolve(exercise: str) -> _Resolved | None:
    """The blocked code and ops of one exercise, looked up once (then cached)."""
    spec = BLOCKED.get(exercise)
    if spec is None:
        return None
    with _lock:
        if exercise not in _resolved:
            found = _Resolved(frozenset(spec.ops))
            for path in (*spec.functions, *_ALWAYS):
                try:
                    obj = _import_path(path)
                except (ImportError, AttributeError):
                    continue  # an optional package that is not installed: nothing to block
                if inspect.isbuiltin(obj):
                    found.builtins[id(obj)] = path
                    continue
                if inspect.ismodule(obj):
                    where = Path(obj.__file__).resolve()
                    folder = where.parent if where.name == "__init__.py" else where
                    found.folders[str(folder)] = path
                    continue
                for code in _codes(obj):
                    for file in (code.co_filename, str(Path(code.co_filename).resolve())):
                        found.code[(file, code.co_firstlineno)] = path
            _resolved[exercise] = found
        return _resolved[exercise]


class _OpWatch(TorchDispatchMode):
    """Sees every op that reaches the dispatcher; blocked names may be patterns
    (``aten::*conv*`` is every convolution kernel, however it is reached)."""

    def __init__(self, ops: frozenset[str], hits: list[str]):
        super().__init__()
        self.blocked, self.hits = ops, hits
        self.seen: dict[str, bool] = {}

    def is_blocked(self, name: str) -> bool:
        if name not in self.seen:
            self.seen[name] = any(fnmatch.fnmatchcase(name, p) for p in self.blocked)
        return self.seen[name]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if self.is_blocked(name):
            self.hits.append(name)
            raise BlockedCall(name)
        return func(*args, **(kwargs or {}))


def _blocked_message(message: str, hits: list[str]) -> str:
    names = ", ".join(dict.fromkeys(hits))
    return f"{message.rstrip('.')} (it called {names})"


def _tampering() -> dict[int, str]:
    """C functions no answer calls while it is watched: switching the guard off, or starting
    a thread or process (which the guard would not follow). Blocked for every exercise."""
    import _thread

    import torch

    found = {
        id(sys.setprofile): "sys.setprofile (it would switch off this guard)",
        id(sys.settrace): "sys.settrace",
        id(_thread.start_new_thread): "a new thread (the guard does not follow it)",
    }
    if hasattr(_thread, "start_joinable_thread"):
        found[id(_thread.start_joinable_thread)] = "a new thread (the guard does not follow it)"
    if hasattr(os, "fork"):
        found[id(os.fork)] = "a new process (the guard does not follow it)"
    for name in ("_pop_torch_dispatch_stack", "_set_dispatch_mode", "_unset_dispatch_mode"):
        if hasattr(torch._C, name):
            found[id(getattr(torch._C, name))] = f"torch._C.{name} (it would switch off this guard)"
    return found


_TAMPERING = _tampering()


def guard_for(exercise: str):
    """A guard bound now to what ``exercise`` may not call: later changes to this module's
    tables (by code the guard watches) change nothing in it. None if nothing is blocked."""
    resolved = _resolve(exercise)
    if resolved is None:
        return None
    message, watch_class, tampering = BLOCKED[exercise].message, _OpWatch, dict(_TAMPERING)
    return lambda: _guarding(resolved, message, watch_class, tampering)


@contextlib.contextmanager
def guarded(exercise: str):
    """Run a call of ``exercise``'s answer; raise :class:`BlockedCall` if it reached a blocked
    op or function (even when the answer caught the error and carried on)."""
    bound = guard_for(exercise)
    if bound is None:
        yield
        return
    with bound():
        yield


@contextlib.contextmanager
def _guarding(resolved, message: str, watch_class, tampering: dict[int, str]):
    hits: list[str] = []
    folders: dict[str, str | None] = {}  # file -> the blocked package it lies in, if any
    active = [True]  # off while the guard itself restores the previous hook

    def watch(frame, event, arg):
        if not active[0]:
            return
        if event == "c_call":
            name = resolved.builtins.get(id(arg)) or tampering.get(id(arg))
            if name is not None:
                hits.append(name)
            return
        if event != "call":
            return
        code = frame.f_code
        name = resolved.code.get((code.co_filename, code.co_firstlineno))
        if name is None and resolved.folders:
            if code.co_filename not in folders:
                path = str(Path(code.co_filename).resolve())
                folders[code.co_filename] = next(
                    (n for f, n in resolved.folders.items() if path.startswith(f)), None
                )
            name = folders[code.co_filename]
        if name is not None:
            hits.append(name)

    mode = watch_class(resolved.ops, hits)
    mode.__enter__()  # the mode goes on and comes off while the profile hook is not watching
    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        yield
    except BlockedCall:
        pass  # reported below, with every name it reached
    finally:
        if sys.getprofile() is not watch:
            hits.append("sys.setprofile (it switched off this guard)")
        active[0] = False
        sys.setprofile(previous)
        try:
            mode.__exit__(None, None, None)
        except Exception:  # the answer took the mode off itself
            hits.append("the dispatch mode stack (it switched off this guard)")
    if hits:
        raise BlockedCall(_blocked_message(message, hits))


# ---------------------------------------------------------------- reading the source

_MODULES = {
    "ctypes": "a foreign function interface",
    "cffi": "a foreign function interface",
    "subprocess": "processes",
    "multiprocessing": "processes",
    "threading": "threads",
    "_thread": "threads",
    "concurrent": "threads and processes",
    "signal": "signals",
    "socket": "the network",
    "asyncio": "threads",
    "importlib": "importing by name",
    "gc": "the garbage collector's objects",
    "inspect": "the interpreter's frames",
    "builtins": "the builtins",
    "course_utils.checks": "the checks",
    "course_utils.grading": "the grader",
    "course_utils.contract": "the grader",
}
_ATTRIBUTES = {
    "setprofile",
    "settrace",
    "getprofile",
    "gettrace",
    "_getframe",
    "f_back",
    "f_globals",
    "f_locals",
    "f_code",
    "__code__",
    "__globals__",
    "__subclasses__",
    "__builtins__",
    "_C",
    "_python_dispatch",
    "_disable_current_modes",
    "_pop_mode",
    "_push_mode",
    "_set_dispatch_mode",
    "fork",
    "forkpty",
    "system",
    "popen",
    "kill",
    "killpg",
    "setsid",
    "setpgid",
    "execv",
    "execve",
    "execvp",
    "execl",
    "execlp",
    "spawnv",
    "posix_spawn",
}
_NAMES = {
    "eval",
    "exec",
    "compile",
    "__import__",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "__builtins__",
}
_MODULE_ATTRIBUTES = {
    "sys",
    "os",
    "builtins",
    "importlib",
    "gc",
    "inspect",
    "subprocess",
    "ctypes",
    "posix",
    "signal",
    "socket",
    "threading",
    "multiprocessing",
}
_DUNDERS = {"__dict__", "__mro__", "__bases__", "__getattribute__", "__closure__"}
_COURSE_INTERNALS = {
    "checks",
    "grading",
    "guard",
    "delegation",
    "BLOCKED",
    "_resolved",
    "_resolve",
    "contract",
    "serve",
    "worker",
}


def suspicious_names(source: str) -> list[str]:
    """What an exercise cell reaches for that no answer needs: the guard's machinery,
    processes, threads, signals, the network, dynamic code. Empty for an honest answer."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # running the cell reports the syntax error
    found: list[str] = []
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _MODULE_ATTRIBUTES:
            found.append(f".{node.attr} (a module reached through another)")
        if (  # x.modules that is not x.modules(): sys.modules by another name
            isinstance(node, ast.Attribute)
            and node.attr == "modules"
            and not (isinstance(parents.get(node), ast.Call) and parents[node].func is node)
        ):
            found.append(".modules")
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            modules = []
        for module in modules:
            for banned, what in _MODULES.items():
                if module == banned or module.startswith(banned + "."):
                    found.append(f"import {module} ({what})")
        if isinstance(node, ast.ImportFrom):  # names imported from anywhere are names too
            banned = _ATTRIBUTES | _DUNDERS | _COURSE_INTERNALS | _MODULE_ATTRIBUTES
            found += [f"from {node.module} import {a.name}" for a in node.names if a.name in banned]
        if (  # a banned name spelled as a string: getattr(x, "modules"), attrgetter(...)
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in _ATTRIBUTES | _DUNDERS | _COURSE_INTERNALS | {"modules"}
        ):
            found.append(f'"{node.value}"')
        if isinstance(node, ast.Attribute) and node.attr in _COURSE_INTERNALS:
            found.append(f".{node.attr} (the course's checks or grader)")
        if isinstance(node, ast.ImportFrom) and node.module in ("sys", "os", "posix"):
            found += [  # (the other banned names are read for every from-import above)
                f"from {node.module} import {a.name}"
                for a in node.names
                if a.name in ("modules", "*") or a.name.startswith("exec")
            ]
        if (  # getattr(module, <computed name>): a way around the names read here
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "delattr")
            and len(node.args) >= 2
            and not isinstance(node.args[1], ast.Constant)
            and not (isinstance(node.args[0], ast.Name) and node.args[0].id == "self")
        ):
            found.append(f"{node.func.id}() with a computed name")
        if isinstance(node, ast.Attribute) and node.attr in _DUNDERS:
            found.append(f".{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in _ATTRIBUTES:
            found.append(f".{node.attr}")
        elif isinstance(node, ast.Name) and node.id in _NAMES:
            found.append(f"{node.id}()")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr == "modules":
                found.append("sys.modules")
            elif node.value.id == "checks":
                found.append(f"checks.{node.attr} (the checks)")
    return list(dict.fromkeys(found))
