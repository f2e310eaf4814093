"""The grader's side of the sandbox: starts the child, calls student functions, enforces time.

``Submission`` is what a check sees: ``hw.backward(X, Y, W, b)`` looks like a local call but runs
in the child and returns plain data. A call that hangs past the test's deadline kills the child; the
next call starts a fresh one, so one broken function fails only its own tests.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.notebook import Extraction
from autograder.sandbox import wire

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TML_DATA_DIR", "TML_CACHE_DIR", "TML_QUICK",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "TMPDIR")


class SubmissionError(Exception):
    """Student code failed: it raised, hung, crashed, or is missing. The message is for the student."""


class MissingFunction(SubmissionError):
    pass


class SubmissionTimeout(SubmissionError):
    pass


class SubmissionCrashed(SubmissionError):
    pass


class StudentException(SubmissionError):
    def __init__(self, function: str, type_name: str, message: str, traceback: str, output: str):
        self.function, self.type_name, self.student_message = function, type_name, message
        self.traceback, self.output = traceback, output
        if type_name == "NotImplementedError":
            text = f"`{function}` is not implemented yet (it raised NotImplementedError)."
        else:
            text = f"`{function}` raised {type_name}: {message}"
            if type_name == "NameError":
                text += ("\nThe grader runs only your imports, functions, classes and constants, "
                         "not top-level work such as loading data: pass what a function needs as "
                         "an argument or define it inside the function.")
            if traceback.strip():
                text += f"\n{traceback.rstrip()}"
        super().__init__(text)


@dataclass
class Limits:
    memory_bytes: int = 8 << 30      # address space; the CUDA build of torch reserves a lot of it
    file_bytes: int = 256 << 20
    load_timeout_s: float = 120.0


@dataclass
class Sandbox:
    extraction: Extraction
    limits: Limits = field(default_factory=Limits)
    deadline: float | None = None                # set per test by the pytest plugin
    load_problems: list[str] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)
    starts: int = 0

    def __post_init__(self):
        self._process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="tml-submission-")

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
        bootstrap = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
                     "from autograder.sandbox.child import main; main()")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-c", bootstrap, str(PACKAGE_ROOT), str(child_sock.fileno()),
             str(self.limits.memory_bytes), str(self.limits.file_bytes)],
            pass_fds=[child_sock.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd=self._workdir.name, env=env, start_new_session=True)
        child_sock.close()
        self._sock = parent_sock
        self.starts += 1
        cells = [{"index": c.index, "source": c.source} for c in self.extraction.cells]
        wire.send(self._sock, {"op": "load", "cells": cells})
        header, _ = self._receive(time.monotonic() + self.limits.load_timeout_s, "loading your notebook")
        self.defined = set(header.get("defined", []))
        self.load_problems = list(header.get("problems", []))

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self._process.kill()
            self._process.wait()
        if self._sock is not None:
            self._sock.close()
        self._process = self._sock = None

    def close(self) -> None:
        self.stop()
        self._workdir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ensure_running(self) -> None:
        if self._process is None or self._process.poll() is not None:
            self.stop()
            self.start()

    # -- calls ------------------------------------------------------------------------------
    def _receive(self, deadline: float, doing: str) -> tuple[dict, list[bytes]]:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise socket.timeout
            self._sock.settimeout(remaining)
            return wire.recv(self._sock)
        except socket.timeout:
            self.stop()
            raise SubmissionTimeout(f"Time limit reached while {doing}. Look for an infinite loop "
                                    "or work that is far slower than it needs to be.") from None
        except (wire.WireError, OSError) as error:
            code = self._process.wait(timeout=5) if self._process else None
            self.stop()
            raise SubmissionCrashed(_describe_exit(code, doing)) from error

    def call(self, name: str, *args, **kwargs):
        if not self.defined and self._process is None:
            self._ensure_running()
        if name not in self.defined:
            raise MissingFunction(self._missing_message(name))
        restart_began = time.monotonic()
        self._ensure_running()
        if self.deadline is not None:  # a restart after another test's crash is not this test's time
            self.deadline += time.monotonic() - restart_began
        callbacks: dict = {}
        buffers: list[bytes] = []
        header = {"op": "call", "name": name, "args": wire.encode(list(args), buffers, callbacks),
                  "kwargs": wire.encode(kwargs, buffers, callbacks)}
        wire.send(self._sock, header, buffers)
        deadline = self.deadline if self.deadline is not None else time.monotonic() + 600
        while True:
            reply, reply_buffers = self._receive(deadline, f"running `{name}`")
            if reply.get("op") != "callback":
                break
            self._answer_callback(callbacks, reply, reply_buffers)
        if reply.get("op") == "raised":
            raise StudentException(name, reply.get("type", "Exception"), reply.get("message", ""),
                                   reply.get("traceback", ""), reply.get("output", ""))
        if reply.get("op") != "result":
            self.stop()
            raise SubmissionCrashed(f"`{name}` sent the grader an unexpected message.")
        try:
            return wire.decode(reply.get("value"), reply_buffers)
        except (wire.WireError, ValueError, TypeError, KeyError, IndexError) as error:
            raise SubmissionError(f"`{name}` returned a value the grader could not read: {error}")

    def _answer_callback(self, callbacks: dict, request: dict, buffers: list[bytes]) -> None:
        function = callbacks.get(request.get("id"))
        out: list[bytes] = []
        try:
            if function is None:
                raise ValueError("unknown callback")
            args = wire.decode(request.get("args", {"t": "list", "v": []}), buffers)
            kwargs = wire.decode(request.get("kwargs", {"t": "dict", "v": []}), buffers)
            value = function(*args, **kwargs)
            wire.send(self._sock, {"op": "callback_result", "value": wire.encode(value, out)}, out)
        except Exception as error:  # the student passed bad arguments to the grader's function
            wire.send(self._sock, {"op": "callback_error", "message": f"{type(error).__name__}: {error}"})

    def _missing_message(self, name: str) -> str:
        text = f"`{name}` is not defined in your notebook. Keep the name and signature given in the homework."
        problems = self.extraction.problems + self.load_problems
        if problems:
            text += "\nThese cells could not be used, which may be why:\n" + "\n".join(problems)
        return text


def _describe_exit(code: int | None, doing: str) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " It was probably out of memory." if name == "SIGKILL" else ""
        return f"Your code's process was killed by {name} while {doing}.{hint}"
    return (f"Your code's process ended (exit code {code}) while {doing}: do not call exit() "
            "or os._exit(), and check for crashes in native code.")


class Submission:
    """Student functions by name, e.g. ``hw.softmax(Z)``, each call running in the sandbox."""

    def __init__(self, sandbox: Sandbox):
        self._sandbox = sandbox

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def remote(*args, **kwargs):
            return self._sandbox.call(name, *args, **kwargs)
        remote.__name__ = name
        return remote


class LocalSubmission:
    """The same interface over a notebook's own namespace, for the self-check cells."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._namespace:
            raise MissingFunction(f"`{name}` is not defined yet: run the cell that defines it.")
        function = self._namespace[name]

        def local(*args, **kwargs):
            build = wire.builder()
            args, kwargs = wire.resolve_builds(args, build), wire.resolve_builds(kwargs, build)
            try:
                return function(*args, **kwargs)
            except NotImplementedError:
                raise StudentException(name, "NotImplementedError", "", "", "") from None
        return local
