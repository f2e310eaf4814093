"""The grader's side of the zygote (``tmlkit.zygote``): start it, ask it for children.

This module imports only the standard library and ``tmlkit.zygote``: the launcher stays small.

``launch`` is how ``python -m autograder grade`` starts: a light launcher starts the zygote,
which forks the grader, and hands the grader its command line and environment. Elsewhere (tests,
a notebook calling ``grade()``), ``connect`` starts a zygote beside the grader the first time a
child is needed; the children still share its pages, the grader does not. Both start it with
the environment a child gets and nothing else. ``TML_ZYGOTE=0`` turns it off: every child is
then started as a fresh ``python -I``.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import tmlkit
from tmlkit import zygote as zygote_process

# The child's only addition to its path (and the zygote's): the folder holding the student
# package. The grader's own package (specs, references) is neither on it nor importable there.
STUDENT_PATH = Path(tmlkit.__file__).resolve().parents[1]
# The environment variables a child may see (and the zygote starts with): never a grader's.
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TML_DATA_DIR", "TML_CACHE_DIR", "TML_QUICK",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
            "TMPDIR")
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
             "from tmlkit.zygote import main; main()")
ENABLED_ENV = "TML_ZYGOTE"


class ZygoteError(RuntimeError):
    """The zygote is gone or answered nonsense: start the child without it."""


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "1") != "0"


def scrubbed_environment() -> dict:
    """What the zygote starts with: the variables a child may see, and OpenMP's passive wait
    (read once, as torch loads OpenMP in the zygote; see parent.py)."""
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def _start(mode: str, preload: tuple[str, ...] = (), env: dict | None = None) \
        -> tuple[subprocess.Popen, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = subprocess.Popen(
        [sys.executable, "-I", "-c", BOOTSTRAP, str(STUDENT_PATH), mode, str(theirs.fileno()),
         *preload],
        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, cwd="/",
        env={**scrubbed_environment(), **(env or {})})
    theirs.close()
    return process, ours


class Zygote:
    """A connection to a zygote: ``spawn`` a child, ``wait`` for one."""

    def __init__(self, sock: socket.socket, process: subprocess.Popen | None = None):
        self.sock, self.process = sock, process
        self.lock = threading.Lock()      # the hard-stop watchdog may stop a child meanwhile

    def _ask(self, request: dict, fds: list[int] = ()) -> dict:
        with self.lock:
            try:
                zygote_process.send(self.sock, request, fds)
                reply, _ = zygote_process.receive(self.sock)
            except (OSError, ValueError) as error:
                raise ZygoteError(f"the zygote did not answer ({error})") from None
        if not isinstance(reply, dict) or "error" in reply:
            raise ZygoteError(f"the zygote refused the request: {reply}")
        return reply

    def spawn(self, sock: socket.socket, env: dict, cwd: str, config: dict,
              namespaces: bool) -> ForkedChild:
        """A child forked from the zygote, serving ``sock``, with the sandbox applied."""
        reply = self._ask({"op": "spawn", "env": env, "cwd": cwd, "config": config,
                           "namespaces": namespaces}, [sock.fileno()])
        return ForkedChild(self, int(reply["pid"]))

    def launch(self, stdout: int, stderr: int, launcher: int) -> ForkedChild:
        """A process that runs one grader (as ``launch`` mode does) writing to ``stdout`` and
        ``stderr``, the grader taking its command on the socket ``launcher``."""
        reply = self._ask({"op": "launch"}, [stdout, stderr, launcher])
        return ForkedChild(self, int(reply["pid"]))

    def wait(self, pid: int, timeout: float | None) -> int | None:
        return self._ask({"op": "wait", "pid": pid, "timeout": timeout})["status"]

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def close(self) -> None:
        self.sock.close()
        if self.process is not None:
            self.process.wait()


class ForkedChild:
    """A child forked by the zygote, with what Sandbox uses of ``subprocess.Popen``."""

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.zygote.wait(self.pid, 0.0)
            except ZygoteError:
                self.returncode = -9
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = self.zygote.wait(self.pid, timeout)
            except ZygoteError:
                self.returncode = -9
            if self.returncode is None:
                raise subprocess.TimeoutExpired(f"child {self.pid}", timeout)
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass


_shared: Zygote | None = None
_shared_lock = threading.Lock()


def connect() -> Zygote | None:
    """The zygote this grader's children come from: the one that forked this grader, else one
    started now (and kept for the next child); None where it is turned off."""
    global _shared
    if not enabled():
        return None
    with _shared_lock:
        if _shared is None and zygote_process.CONNECTION is not None:
            _shared = Zygote(zygote_process.CONNECTION)
        if _shared is None or not _shared.alive():
            _shared = Zygote(*reversed(_start("serve")))
            atexit.register(_shared.close)
        return _shared


def start_batch(preload: tuple[str, ...] = (), env: dict | None = None) -> Zygote:
    """A zygote kept for a batch of grading runs (``run_grader``), which also imports
    ``preload``; ``env`` is added to its scrubbed environment (the threads of its math
    libraries, fixed when torch loads)."""
    process, sock = _start("serve", preload, env)
    return Zygote(sock, process)


def run_grader(zygote: Zygote, argv: list[str], env: dict, cwd: str, timeout: float,
               started: Callable[[ForkedChild], None] = lambda run: None,
               entry: str = "autograder.cli:main") -> tuple[int, str, str]:
    """``entry(argv[1:])`` in a grader forked from ``zygote``, as ``python -m autograder`` would
    run it with ``env`` and ``cwd``: (exit status, stdout, stderr). ``started`` is told the run's
    process, whose group (the grader's included) ends the run when killed. At ``timeout``
    seconds that group is killed and ``subprocess.TimeoutExpired`` raised."""
    deadline = time.monotonic() + timeout
    (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        run = zygote.launch(out_w, err_w, theirs.fileno())
    except ZygoteError:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w):
            os.close(fd)
        theirs.close()
    try:
        started(run)
        with ours:
            zygote_process.receive(ours)                    # the grader is ready
            zygote_process.send(ours, {"argv": argv, "env": env, "cwd": cwd, "entry": entry,
                                       "path": [str(Path(__file__).resolve().parents[1]),
                                                *filter(None, sys.path)]})
        stdout, stderr = _read_all(out_r, err_r, deadline)
        while (status := run.poll()) is None:     # never a blocking wait: the zygote is shared
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(argv, timeout)
            time.sleep(0.01)
        return status, stdout, stderr
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, signal.SIGKILL)
        if zygote.alive():
            run.wait(None)
        raise
    finally:
        for fd in (out_r, err_r):
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_all(out_fd: int, err_fd: int, deadline: float) -> tuple[str, str]:
    """Both streams to their end, or ``subprocess.TimeoutExpired`` at ``deadline``."""
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired("grader", 0)
            for key, _ in selector.select(min(left, 1.0)):
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    return tuple(b"".join(chunks[fd]).decode(errors="replace") for fd in (out_fd, err_fd))


def launch(argv: list[str], entry: str, preload: tuple[str, ...] = ()) -> int | None:
    """Run ``entry(argv[1:])`` (a "module:function") in a grader forked from a new zygote that
    also imported ``preload``, and return its exit status; None if the zygote could not start
    (then run it here)."""
    process, sock = _start("launch", preload)
    try:
        ready, _ = zygote_process.receive(sock)
        if ready is None:
            process.wait()
            return None
        # Only now, to the forked grader alone: the command line and the whole environment.
        zygote_process.send(sock, {"argv": argv, "env": dict(os.environ), "path": sys.path,
                                   "cwd": os.getcwd(), "entry": entry})
    except OSError:
        process.kill()
        process.wait()
        return None
    finally:
        sock.close()
    return process.wait()
