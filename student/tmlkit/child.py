"""The student's side of the sandbox: a process holding the submission's definitions.

It is forked from the zygote (``tmlkit.zygote``), or started by ``Sandbox`` with ``python -I``
where there is none, and talks only over the socket it is handed. Either way ``start`` sets its
own resource limits before it runs any student code.
"""
from __future__ import annotations

import ast
import ctypes
import io
import json
import linecache
import os
import resource
import socket
import sys
import tempfile
import traceback
import types
from pathlib import Path

import tmlkit
from tmlkit import data, isolation, wire
from tmlkit.errors import GRADER_PACKAGE_HINT, borrows_from_grader

OUTPUT_LIMIT = 4000


class CappedOutput(io.TextIOBase):
    """Collects what student code prints, keeping at most OUTPUT_LIMIT characters."""

    def __init__(self):
        self.parts, self.size, self.dropped = [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = OUTPUT_LIMIT - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... ({self.dropped} more characters not shown)"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


def _limit_resources(config: dict) -> list[str]:
    """Set the child's rlimits (soft = hard, so student code cannot raise them); the ones in force."""
    wanted = (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "file_bytes"), ("RLIMIT_CORE", None),
              ("RLIMIT_CPU", "cpu_seconds"), ("RLIMIT_NOFILE", "open_files"),
              ("RLIMIT_NPROC", "processes"))
    applied = []
    for name, key in wanted:
        value = 0 if key is None else config.get(key)
        if value is None or (key is not None and not value):
            continue
        try:
            resource.setrlimit(getattr(resource, name), (int(value), int(value)))
            applied.append(name)
        except (ValueError, OSError, AttributeError):
            pass
    return applied


def _drop_privileges(uid: int | None, gid: int | None) -> str:
    """Become an unprivileged user (from root), so student code cannot signal or overwrite the grader."""
    if os.getuid() != 0:
        return f"runs as uid {os.getuid()} (not root; no privileges to drop)"
    if uid is None:
        return ("runs as root: no usable unprivileged user (none exists, or it cannot read "
                "the Python installation)")
    try:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as error:
        return f"runs as root: dropping privileges failed ({error})"
    return f"runs as uid {uid}"


def _confine(config: dict) -> str:
    """Confine the file system to the scratch folder (see ``tmlkit.isolation``)."""
    if not config.get("confine", True):
        return f"{isolation.UNCONFINED} (switched off by the grader)"
    scratch = Path(config.get("scratch") or os.getcwd())
    os.environ["TMPDIR"] = str(scratch)       # temporary files, like caches (HOME), stay inside
    tempfile.tempdir = None
    readable = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                Path(tmlkit.__file__).parent}
    readable |= {os.environ[key] for key in (data.DATA_ENV, data.CACHE_ENV) if key in os.environ}
    return isolation.confine(scratch, sorted(map(str, readable)))


def return_free_memory() -> None:
    """Hand the C heap's free pages back to the system, which glibc otherwise keeps for later:
    what one call (or check) freed then no longer counts against the container's memory."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):    # not glibc
        pass


def _student_traceback(error: BaseException) -> str:
    # Only frames from the notebook's cells: the student needs theirs, not ours.
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<cell")]
    lines = traceback.format_list(frames[-6:])
    return "".join(lines) + "".join(traceback.format_exception_only(type(error), error))


class Child:
    def __init__(self, sock: socket.socket, isolation: list[str] | None = None):
        self.sock = sock
        self.pid = os.getpid()
        self.isolation = isolation or []
        self.module = types.ModuleType("submission")
        self.module.__dict__["__builtins__"] = __builtins__
        sys.modules["submission"] = self.module
        self.output = CappedOutput()

    def load(self, cells: list[dict], skip: list) -> dict:
        """Run each cell's definitions in order; a failing cell costs only its own names.

        Before each statement the child says which one it is about to run, so the grader can
        time each one, and skip it on the next start if it hung or crashed the process.
        """
        problems, skip = [], {(int(c), int(n)) for c, n in skip}
        for cell in cells:
            filename = f"<cell {cell['index']}>"
            linecache.cache[filename] = (len(cell["source"]), None,
                                         cell["source"].splitlines(True), filename)
            try:
                statements = ast.parse(cell["source"], filename).body
            except (SyntaxError, RecursionError, MemoryError, ValueError) as error:
                problems.append(f"Cell {cell['index']} could not be parsed ({type(error).__name__}).")
                continue
            # One statement at a time: a failing import costs only the names it would define.
            for number, statement in enumerate(statements):
                if (cell["index"], number) in skip:
                    continue
                self.send({"op": "progress", "cell": cell["index"], "statement": number,
                           "line": statement.lineno})
                try:
                    code = compile(ast.Module([statement], type_ignores=[]), filename, "exec")
                    exec(code, self.module.__dict__)
                except BaseException as error:  # SystemExit too: the student must not end the child
                    problems.append(f"Cell {cell['index']} raised {type(error).__name__} while its "
                                    f"definitions ran:\n{_student_traceback(error)}")
                    if borrows_from_grader(type(error).__name__, _safe_str(error)):
                        problems.append(GRADER_PACKAGE_HINT)
        defined = sorted(name for name, value in self.module.__dict__.items()
                         if not name.startswith("__"))
        return {"op": "loaded", "defined": defined, "problems": problems,
                "output": self.output.take(), "isolation": self.isolation}

    def call_back(self, callback_id: int):
        def remote(*args, **kwargs):
            buffers: list[bytes] = []
            self.send({"op": "callback", "id": callback_id,
                       "args": wire.encode(list(args), buffers),
                       "kwargs": wire.encode(kwargs, buffers)}, buffers)
            header, reply = wire.recv(self.sock)
            if header.get("op") == "callback_error":
                raise RuntimeError(header.get("message", "the grader's function failed"))
            return wire.decode(header["value"], reply)
        return remote

    def call(self, name: str, args, kwargs) -> tuple[dict, list[bytes]]:
        buffers: list[bytes] = []
        try:
            function = self.module.__dict__[name]
            value = function(*args, **kwargs)
            header = {"op": "result", "value": wire.encode(value, buffers)}
        except BaseException as error:
            buffers = []
            header = {"op": "raised", "type": type(error).__name__,
                      "message": _safe_str(error)[:2000], "traceback": _student_traceback(error)}
        header["output"] = self.output.take()
        return header, buffers

    def send(self, header: dict, buffers: list = ()) -> None:
        # A process forked by student code shares the socket; if it got here (its fork's code
        # raised instead of exiting), it must not answer in the child's place.
        if os.getpid() != self.pid:
            os._exit(70)
        wire.send(self.sock, header, buffers)

    def serve(self) -> None:
        while True:
            header, buffers = wire.recv(self.sock)
            if header.get("op") == "exit":
                return
            sys.stdout = sys.stderr = self.output
            reply = None
            try:
                reply = self.answer(header, buffers)
                if reply is not None:
                    self.send(*reply)
            finally:
                sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
                # A large argument or result must not live on while the next message arrives.
                del header, buffers, reply
                return_free_memory()

    def answer(self, header: dict, buffers: list) -> tuple[dict, list] | None:
        if header.get("op") == "load":
            return self.load(header["cells"], header.get("skip", [])), []
        if header.get("op") != "call":
            return None
        build = wire.builder()
        try:
            args = wire.decode(header["args"], buffers, self.call_back, build)
            kwargs = wire.decode(header["kwargs"], buffers, self.call_back, build)
        except Exception as error:
            return {"op": "raised", "type": "GraderError",
                    "message": f"building the arguments failed: {error!r}",
                    "traceback": "", "output": ""}, []
        return self.call(header["name"], args, kwargs)


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__} with an unprintable message>"


def _prefer_as_oom_victim() -> None:
    """At a container's memory limit the kernel kills this process, the student's, rather than
    the grader or the zygote, which would take every grade with them (root may lower it back;
    after the privilege drop it cannot)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def main() -> None:
    fd, config = int(sys.argv[1]), json.loads(sys.argv[2])
    start(socket.socket(fileno=fd), config)


def start(sock: socket.socket, config: dict, namespaces: list[str] = ()) -> None:
    """The child's start-up, the same after an exec (``main``) or a fork from the zygote
    (``tmlkit.zygote``): limits and the privilege drop before any student code, then serve.
    ``namespaces`` says, in words, what confined the child before (its namespaces)."""
    os.environ.pop("TML_GRADER_SECRET", None)
    os.environ.pop("TML_GRADER_SEED", None)
    _prefer_as_oom_victim()
    # rlimits first (RLIMIT_NPROC counts the processes of the user we become), then the user,
    # then the file system: the last step before any student code runs.
    applied = _limit_resources(config)
    who = _drop_privileges(config.get("uid"), config.get("gid"))
    confined = _confine(config)
    sandbox = [who, confined, "limits: " + ", ".join(applied), *namespaces]
    try:
        Child(sock, sandbox).serve()
    except wire.WireError:
        pass


if __name__ == "__main__":
    main()
