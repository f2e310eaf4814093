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
import os
import socket
import subprocess
import sys
import threading
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


def _start(mode: str, preload: tuple[str, ...] = ()) -> tuple[subprocess.Popen, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = subprocess.Popen(
        [sys.executable, "-I", "-c", BOOTSTRAP, str(STUDENT_PATH), mode, str(theirs.fileno()),
         *preload],
        pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, cwd="/",
        env=scrubbed_environment())
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
