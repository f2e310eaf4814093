"""The message format between the grader and the student's child process.

Pickle is never used: unpickling data from student code would run student code in the grader.
A message is a JSON header plus raw array buffers. Only plain data crosses: numbers, strings,
lists, tuples, dicts, and numeric numpy arrays (torch tensors arrive as numpy arrays). Anything
else arrives as an ``Opaque`` placeholder that names its type, so a check can say what came back.
"""
from __future__ import annotations

import importlib
import json
import socket
import struct
from dataclasses import dataclass

import numpy as np

MAX_MESSAGE_BYTES = 1 << 30
_ALLOWED_DTYPE_KINDS = "biufc"
_LENGTH = struct.Struct("!Q")


class WireError(RuntimeError):
    """The other side sent something that is not a valid message, or hung up."""


@dataclass(frozen=True)
class Opaque:
    """A value the child could not send as plain data, e.g. a model object or a generator."""
    type_name: str
    summary: str

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.summary}>"


@dataclass(frozen=True)
class Callback:
    """A grader-side function passed into a student call; the child calls it back by id."""
    id: int


@dataclass(frozen=True)
class Build:
    """An object the child constructs itself from trusted grader code, e.g. a random CNN.

    ``factory`` is "tmlkit.module:function", called with ``args`` in the child; ``path``
    then picks an attribute of the result (``"features.2"``). Builds with equal factory and args
    in one call are the same object, so a model and one of its layers can be passed together.
    ``args`` may hold grader functions (passed as callbacks, like a call's own arguments): a
    trusted model can then report what the student's code does with it, e.g. each forward pass.
    """
    factory: str       # or the function itself: Build(small_cnn, ...) names it "tmlkit.models:small_cnn"
    args: tuple = ()
    path: str = ""

    def __post_init__(self):
        if callable(self.factory):   # a renamed factory then fails at import, not at grading
            object.__setattr__(self, "factory",
                               f"{self.factory.__module__}:{self.factory.__qualname__}")

    def attribute(self, path: str) -> Build:
        return Build(self.factory, self.args, path)


TRUSTED_FACTORY_PREFIX = "tmlkit."


def builder():
    """A ``make_build`` for decode: imports the trusted factory and caches results per call."""
    built: dict = {}

    def build(factory: str, args: tuple, path: str):
        if not factory.startswith(TRUSTED_FACTORY_PREFIX):
            raise WireError(f"refused to build from {factory!r}")
        key = (factory, repr(args))
        if key not in built:
            module_name, function_name = factory.split(":")
            built[key] = getattr(importlib.import_module(module_name), function_name)(*args)
        value = built[key]
        for part in filter(None, path.split(".")):
            value = value[int(part)] if part.isdigit() else getattr(value, part)
        return value
    return build


def resolve_builds(value, build):
    """Replace each Build inside plain containers by ``build(factory, args, path)``."""
    if isinstance(value, Build):
        return build(value.factory, value.args, value.path)
    if type(value) in (list, tuple):
        return type(value)(resolve_builds(item, build) for item in value)
    if type(value) is dict:
        return {key: resolve_builds(item, build) for key, item in value.items()}
    return value


def _torch_to_numpy(value):
    return value.detach().cpu().resolve_conj().resolve_neg().numpy()


def encode(value, buffers: list[bytes], callbacks: dict | None = None, depth: int = 0):
    """Turn ``value`` into JSON-able data, appending array bytes to ``buffers``."""
    if depth > 50:
        return _opaque(value, "nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if type(value) in (int, float):
        return {"t": "float", "v": repr(value)} if type(value) is float else (
            value if abs(value) < 2**63 else {"t": "bigint", "v": str(value)})
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return _encode_array(value, buffers)
    if type(value).__module__.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter"):
        return _encode_array(_torch_to_numpy(value), buffers, torch=True)
    if type(value) in (list, tuple):
        return {"t": type(value).__name__,
                "v": [encode(item, buffers, callbacks, depth + 1) for item in value]}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"t": "dict", "v": [[key, encode(item, buffers, callbacks, depth + 1)]
                                   for key, item in value.items()]}
    if isinstance(value, Build):
        return {"t": "build", "factory": value.factory, "path": value.path,
                "v": encode(list(value.args), buffers, callbacks, depth + 1)}
    if callbacks is not None and callable(value):
        callbacks[len(callbacks)] = value
        return {"t": "callback", "v": len(callbacks) - 1}
    return _opaque(value)


def _opaque(value, summary: str | None = None):
    kind = type(value)
    try:
        summary = summary or object.__repr__(value)
    except Exception:
        summary = "?"
    return {"t": "opaque", "type": f"{kind.__module__}.{kind.__qualname__}", "v": summary[:200]}


def _encode_array(value, buffers: list[bytes], torch: bool = False):
    array = np.asarray(value) if isinstance(value, np.generic) else value.view(np.ndarray)
    if array.dtype.kind not in _ALLOWED_DTYPE_KINDS:
        return _opaque(value, f"array of dtype {array.dtype}")
    # A flat byte view, not a copy: a 200 MB training set costs no extra 200 MB to send.
    buffers.append(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return {"t": "nd", "dtype": array.dtype.str, "shape": list(array.shape),
            "b": len(buffers) - 1, "scalar": isinstance(value, np.generic), "torch": torch}


def decode(data, buffers: list[bytes], make_callback=None, make_build=None):
    """Rebuild a value from ``encode``'s output. Never executes anything from the data."""
    if not isinstance(data, dict):
        return data
    tag, payload = data.get("t"), data.get("v")
    if tag == "float":
        return float(payload)
    if tag == "bigint":
        return int(payload)
    if tag in ("list", "tuple"):
        items = [decode(item, buffers, make_callback, make_build) for item in payload]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        return {str(key): decode(item, buffers, make_callback, make_build) for key, item in payload}
    if tag == "nd":
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in _ALLOWED_DTYPE_KINDS:
            raise WireError(f"refused dtype {dtype}")
        index = data["b"]
        if not isinstance(index, int) or not 0 <= index < len(buffers) or buffers[index] is None:
            raise WireError(f"array refers to buffer {index!r}, missing or already used")
        # The array is a view of the received buffer, which is then let go: no two arrays share it.
        buffer, buffers[index] = buffers[index], None
        array = np.frombuffer(buffer, dtype=dtype).reshape(data["shape"])
        if not (array.flags.writeable and array.flags.aligned):
            array = array.copy()
        return array[()] if data.get("scalar") else array
    if tag == "callback" and make_callback is not None:
        return make_callback(int(payload))
    if tag == "build" and make_build is not None:
        return make_build(str(data.get("factory")), tuple(decode(payload, buffers, make_callback)),
                          str(data.get("path", "")))
    if tag == "opaque":
        return Opaque(str(data.get("type")), str(payload))
    raise WireError(f"unknown value tag {tag!r}")


_JOIN_BELOW = 1 << 16     # small buffers go out joined, in one system call; large ones as they are


def send(sock: socket.socket, header: dict, buffers: list = ()) -> None:
    """``buffers``: bytes-like objects (bytes, or the flat uint8 views ``encode`` makes)."""
    head = json.dumps({**header, "nbuf": len(buffers)}).encode()
    pending = [_LENGTH.pack(len(head)), head]
    for buffer in buffers:
        pending.append(_LENGTH.pack(len(buffer)))
        if len(buffer) < _JOIN_BELOW:
            pending.append(bytes(buffer))
        else:
            sock.sendall(b"".join(pending))
            pending = []
            sock.sendall(buffer)
    if pending:
        sock.sendall(b"".join(pending))


def _recv_exact(sock: socket.socket, size: int, limit: int = MAX_MESSAGE_BYTES) -> bytearray:
    """Exactly ``size`` bytes, read straight into one buffer (no chunks joined afterwards)."""
    if size > limit:
        raise WireError(f"a message of over {limit >> 20} MiB")
    data = bytearray(size)
    view, received = memoryview(data), 0
    while received < size:
        count = sock.recv_into(view[received:], min(size - received, 1 << 22))
        if not count:
            raise WireError("the other side hung up")
        received += count
    return data


def recv(sock: socket.socket, limit: int = MAX_MESSAGE_BYTES) -> tuple[dict, list[bytearray]]:
    """One message; one over ``limit`` bytes in all is refused before anything is allocated."""
    (size,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    try:
        header = json.loads(_recv_exact(sock, size, limit))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WireError(f"malformed message: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("nbuf"), int):
        raise WireError("malformed message header")
    total, buffers = size, []
    for _ in range(header["nbuf"]):
        (length,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
        total += length
        if total > limit:
            raise WireError(f"a message of over {limit >> 20} MiB")
        buffers.append(_recv_exact(sock, length))
    return header, buffers
