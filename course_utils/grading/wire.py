"""Plain data between the grader and a sandbox: JSON with tagged tensors, never pickle.

A message is a JSON document behind an 8-byte length. Values are None, bools, ints, floats
(NaN and infinities too), strings, lists, tuples, dicts, tensors (dtype, shape and raw bytes),
references to course / torch / torchvision objects by import path (the grader passes the
course's ``BasicBlock`` to a ResNet exercise that way), and, from the sandbox only, handles: a
name for an object that stays in the sandbox (a function, a module, an instance), with what the
grader needs to know of it. Decoding builds nothing but these: a message can carry no code.
Malformed or oversized input raises :class:`WireError`.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import math
import os
import select
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..contract import MAX_MESSAGE_BYTES

__all__ = ["DTYPES", "WireError", "decode", "encode", "read_message", "write_message"]

DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
    )
}
_REFERABLE = ("course_utils.", "torch.", "torchvision.")
_MAX_DEPTH = 64
_NUMPY_SCALARS = {  # exact numpy scalar types, sent as themselves (a check sees what it would)
    t.__name__: t
    for t in (
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
    )
}


class WireError(ValueError):
    """A message that is not valid data (malformed, too large, too deep, unknown tags)."""


class Unencodable(TypeError):
    """A value that is not plain data (``encode`` raises it unless given ``handle``)."""


def _tensor(t: torch.Tensor) -> dict:
    t = torch.Tensor.detach(t)
    if t.is_sparse or t.layout != torch.strided:
        raise Unencodable("a sparse tensor")
    if t.device.type == "meta":
        raise Unencodable("a tensor on the meta device")
    dtype = str(t.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        raise Unencodable(f"a tensor of dtype {t.dtype}")
    plain = torch.Tensor.contiguous(torch.Tensor.cpu(t)).as_subclass(torch.Tensor)
    data = plain.reshape(-1).view(torch.uint8).numpy().tobytes() if plain.numel() else b""
    return {"dtype": dtype, "shape": list(plain.shape), "data": base64.b64encode(data).decode()}


def encode(value: Any, handle: Callable[[Any], dict] | None = None, _depth: int = 0) -> Any:
    """``value`` as JSON-ready data; objects that are not data go to ``handle`` (else raise)."""
    if _depth > _MAX_DEPTH:
        raise Unencodable("nested too deeply")
    if value is None or type(value) in (bool, str, int):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if (
        type(value).__name__ in _NUMPY_SCALARS
        and type(value) is _NUMPY_SCALARS[type(value).__name__]
    ):
        return {"$np": [type(value).__name__, encode(value.item())]}
    if isinstance(value, (bool, str, int, float)):  # a subclass: its plain value
        return encode(type(value).__mro__[-2](value), handle, _depth + 1)
    if isinstance(value, torch.Tensor):
        return {"$tensor": _tensor(value)}
    if isinstance(value, (list, tuple)):  # torch.Size and named tuples become tuples
        items = [encode(v, handle, _depth + 1) for v in value]
        return items if type(value) is list else {"$tuple": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": [[k, encode(v, handle, _depth + 1)] for k, v in value.items()]}
    if isinstance(value, torch.dtype):
        return {"$dtype": str(value).removeprefix("torch.")}
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if (
        handle is None  # only the grader refers to its objects by name
        and isinstance(module, str)
        and isinstance(name, str)
        and (module + ".").startswith(_REFERABLE)
        and _resolve(f"{module}:{name}") is value
    ):
        return {"$ref": f"{module}:{name}"}
    if handle is not None:
        return {"$handle": handle(value)}
    raise Unencodable(f"a {type(value).__name__}")


def _resolve(path: str) -> Any:
    """A class or function of the course, torch or torchvision, by ``module:qualname``: only
    one defined in that very module (no walking through attributes to other objects)."""
    module, _, name = path.partition(":")
    if not (module + ".").startswith(_REFERABLE):
        raise WireError(f"refusing a reference outside the course and torch: {path!r}")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = inspect.getattr_static(obj, part)
    except (ImportError, AttributeError) as error:
        raise WireError(f"unknown reference {path!r}") from error
    if not (inspect.isclass(obj) or inspect.isfunction(obj)) or obj.__module__ != module:
        raise WireError(
            f"refusing a reference to something other than a class or function: {path!r}"
        )
    return obj


def _decode_tensor(spec: Any) -> torch.Tensor:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise WireError("a tensor needs exactly dtype, shape and data")
    dtype, shape, data = spec["dtype"], spec["shape"], spec["data"]
    if dtype not in DTYPES:
        raise WireError(f"unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape
    ):
        raise WireError("a tensor's shape must be a list of non-negative ints")
    if not isinstance(data, str):
        raise WireError("a tensor's data must be base64 text")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as error:
        raise WireError("a tensor's data is not base64") from error
    dt = DTYPES[dtype]
    numel = math.prod(shape)
    if numel * dt.itemsize != len(raw):
        raise WireError(f"a {dtype} tensor of shape {shape} needs {numel * dt.itemsize} bytes")
    if not raw:
        return torch.empty(shape, dtype=dt)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dt).reshape(shape).clone()


def decode(
    data: Any, handle: Callable[[Any], Any] | None = None, refs: bool = False, _depth: int = 0
) -> Any:
    """The value ``encode`` made; handles go to ``handle`` (else they are refused).

    References to the course's classes and functions (``$ref``) are accepted only with
    ``refs=True``: the sandbox accepts them from the grader, never the other way round.
    """
    if _depth > _MAX_DEPTH:
        raise WireError("nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, handle, refs, _depth + 1) for v in data]
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError(f"unexpected {type(data).__name__} in a message")
    ((tag, body),) = data.items()
    if tag == "$tuple" and isinstance(body, list):
        return tuple(decode(v, handle, refs, _depth + 1) for v in body)
    if tag == "$dict" and isinstance(body, list):
        pairs = {}
        for pair in body:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise WireError("a dict entry must be a [key, value] pair with a str key")
            pairs[pair[0]] = decode(pair[1], handle, refs, _depth + 1)
        return pairs
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$tensor":
        return _decode_tensor(body)
    if tag == "$np" and isinstance(body, list) and len(body) == 2 and body[0] in _NUMPY_SCALARS:
        value = body[1]
        if type(value) not in (bool, int, float) and not isinstance(value, dict):
            raise WireError("a numpy scalar must hold a number")
        return _NUMPY_SCALARS[body[0]](decode(value, _depth=_depth + 1))
    if tag == "$dtype" and body in DTYPES:
        return DTYPES[body]
    if tag == "$ref" and refs and isinstance(body, str):
        return _resolve(body)
    if tag == "$handle" and handle is not None:
        return handle(body)
    raise WireError(f"unexpected tag {tag!r} in a message")


def write_message(fd: int, message: dict) -> None:
    """Send one message (a JSON object) on a file descriptor."""
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {len(body):,} bytes is over the limit")
    view = memoryview(struct.pack(">Q", len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks, got = [], 0
    while got < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(fd: int, timeout: float | None = None) -> dict:
    """Receive one message; TimeoutError after ``timeout`` s, EOFError when the peer is gone."""
    deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8, deadline))
    if size > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {size:,} bytes is over the limit")
    try:
        message = json.loads(_read_exactly(fd, size, deadline))
    except (ValueError, RecursionError) as error:
        raise WireError(f"a message that is not valid JSON: {str(error)[:100]}") from error
    if not isinstance(message, dict):
        raise WireError("a message must be a JSON object")
    return message
