"""The grader's side of the sandbox: starts the child, calls student functions, enforces time.

``Submission`` is what a check sees: ``hw.backward(X, Y, W, b)`` looks like a local call but runs
in the child and returns plain data. A call that runs past the test's time limit kills the child;
the next call starts a fresh one, so one broken function fails only its own tests.

Time limits (a ``Budget``) are on the CPU time of the child's processes, threads and subprocesses
included, read by the grader from /proc: the student's work, not the machine's load. A wall-clock
backstop, several times the CPU limit, stops code that sleeps or blocks. Only time spent waiting
for the child counts: the grader's own work between calls and in callbacks does not.
"""
from __future__ import annotations

import functools
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from autograder import zygote
from autograder.memory import oom_kills
from tmlkit import wire
from tmlkit.errors import (MissingFunction, StudentException, SubmissionCrashed,  # noqa: F401
                           SubmissionError, SubmissionTimeout)
from tmlkit.notebook import Extraction

STUDENT_PATH = zygote.STUDENT_PATH

# What the child may send back in one message. Far above any check's needs (predictions, maps,
# adversarial batches), and far below what would push the grader past Gradescope's memory.
MAX_REPLY_BYTES = 128 << 20


def _wait_until_gone(group: int, seconds: float = 2.0) -> None:
    """Wait for every process of a killed child's group to exit (the one under `unshare` is not
    ours to wait for): only then is its memory free, and a restart must not hold two at once.
    Zombies count as gone: their memory is already free, and reaping them is not ours to do."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and _running_in_group(group):
        time.sleep(0.01)


def _running_in_group(group: int) -> bool:
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return False
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == group and fields[0] not in "ZX":
            return True
    return False


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_POLL_S = 0.2      # how often a running call's CPU time is read; overshoot ≤ this × its threads


def _tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system, seconds) of ``root`` and every process below it, each with its
    threads and the children it has reaped. Under `unshare --fork`, ``root`` is the wrapper and
    the student's interpreter is its child."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return 0.0
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[1] is the parent; [11..14] are utime, stime, cutime, cstime in clock ticks
            parents[int(entry)] = int(fields[1])
            ticks[int(entry)] = sum(int(value) for value in fields[11:15])
        except (OSError, IndexError, ValueError):
            continue
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, [root] if root in ticks else []
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / _CLOCK_TICKS


@dataclass
class Budget:
    """How long a piece of student work may run: ``cpu_s`` seconds of the child's CPU time, and a
    wall-clock backstop ``wall_s`` for code that sleeps or blocks. Both count only while the
    grader waits for the child; ``cpu_used`` and ``wall_used`` say what was spent."""
    cpu_s: float
    wall_s: float
    cpu_used: float = 0.0
    wall_used: float = 0.0

    @classmethod
    def of(cls, cpu_s: float, limits: Limits) -> Budget:
        return cls(cpu_s, cpu_s * limits.wall_factor)

    def overrun(self, cpu: float, wall: float) -> str | None:
        """Why this budget is spent, given ``cpu`` and ``wall`` seconds more, or None."""
        if self.cpu_used + cpu > self.cpu_s:
            return f"it used more than {self.cpu_s:g} s of CPU time"
        if self.wall_used + wall >= self.wall_s:
            return (f"it waited more than {self.wall_s:g} s (the wall-clock limit, for code that "
                    "sleeps or blocks)")
        return None


@dataclass
class Limits:
    memory_bytes: int = 8 << 30      # address space; the CUDA build of torch reserves a lot of it
    file_bytes: int = 256 << 20
    load_timeout_s: float = 120.0    # CPU s: all of loading, restarts after skipped statements included
    statement_timeout_s: float = 30.0  # CPU s: one top-level statement while loading
    wall_factor: float = 10.0        # wall-clock backstop = this × each CPU limit
    cpu_seconds: int = 15 * 60       # RLIMIT_CPU of one child
    open_files: int = 256            # RLIMIT_NOFILE
    processes: int = 256             # RLIMIT_NPROC (per user: only bounds anything after the drop)
    call_timeout_s: float | None = None  # caps every check's own CPU limit (tests, batch runs)
    drop_privileges: bool = True     # when root: run the child as `nobody`
    namespaces: bool = True          # `unshare --net --pid` around the child, where it works
    confine: bool = True             # the child confines its file system (tmlkit.isolation)
    zygote: bool = True              # fork the child from the zygote (autograder/zygote.py)


_UNPRIVILEGED_USER = "nobody"
_MAX_LOAD_SKIPS = 10


@functools.cache
def unshare_available() -> bool:
    """Whether the child can be put in fresh network and PID namespaces here (root in most
    containers; unprivileged kernels and Gradescope's image may refuse)."""
    tool = shutil.which("unshare")
    if tool is None:
        return False
    try:
        return subprocess.run([tool, "--net", "--pid", "--fork", "--kill-child", "true"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def unprivileged_ids() -> tuple[int, int] | None:
    """(uid, gid) to run student code as: when the grader runs as root, such a user exists, and it
    can still import the standard library, numpy and the grader's child module (a Python installed
    under /root, or a grader copied into a private directory, cannot)."""
    if os.getuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError:
        return None
    probe = (f"import os; os.setgroups([]); os.setgid({entry.pw_gid}); os.setuid({entry.pw_uid}); "
             f"import glob, ctypes, numpy, sys; sys.path.insert(0, {str(STUDENT_PATH)!r}); "
             "import tmlkit.child")
    try:
        done = subprocess.run([sys.executable, "-I", "-c", probe], cwd="/", env={},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return (entry.pw_uid, entry.pw_gid) if done.returncode == 0 else None


@dataclass
class Sandbox:
    extraction: Extraction
    limits: Limits = field(default_factory=Limits)
    budget: Budget | None = None                 # set per test by the pytest plugin
    deadline: float | None = None                # an absolute time.monotonic() cut-off, if any
    load_problems: list[str] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)
    starts: int = 0
    isolation: list[str] = field(default_factory=list)   # what confined the child, in words

    def __post_init__(self):
        self._process: subprocess.Popen | zygote.ForkedChild | None = None
        self._sock: socket.socket | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="tml-submission-")
        self._load_skips: list[list[int]] = []
        self._load_skip_problems: list[str] = []
        self._oom_kills_before: int | None = None
        self._cpu_mark = 0.0   # the child's CPU time when the grader last looked

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start a child and load the definitions. A statement that hangs or kills the child while
        loading is skipped from then on (and reported), and loading starts over without it."""
        budget = Budget.of(self.limits.load_timeout_s, self.limits)
        while True:
            self._spawn()
            try:
                self._load(budget)
                return
            except _LoadStatementFailed as failed:
                self.stop()
                self._load_skips.append(failed.where)
                self._load_skip_problems.append(failed.problem)
                if len(self._load_skips) > _MAX_LOAD_SKIPS:
                    raise SubmissionCrashed("Loading your notebook failed too many times: "
                                            + failed.problem) from None

    def _spawn(self) -> None:
        self._oom_kills_before = oom_kills()
        parent_sock, child_sock = socket.socketpair()
        env = {key: os.environ[key] for key in zygote.KEPT_ENV if key in os.environ}
        env["HOME"] = self._workdir.name       # caches (torch, matplotlib) land in the temp dir
        # OpenMP threads (torch's) that spin while waiting burn CPU time that is the machine's
        # load, not the student's work: on a busy machine a small conv net's backward passes cost
        # 5.1 s of CPU spinning and 0.67 s sleeping. Limits are on CPU time, measured this way
        # (benchmarks/check_limits.py), so the threads always sleep.
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        ids = unprivileged_ids() if self.limits.drop_privileges else None
        config = {"memory_bytes": self.limits.memory_bytes, "file_bytes": self.limits.file_bytes,
                  "cpu_seconds": self.limits.cpu_seconds, "open_files": self.limits.open_files,
                  "processes": self.limits.processes if ids else None,
                  "scratch": self._workdir.name, "confine": self.limits.confine}
        if ids:
            config["uid"], config["gid"] = ids
            os.chown(self._workdir.name, *ids)
        wrapped = self.limits.namespaces and unshare_available()
        self._process = self._fork(child_sock, env, config, wrapped) or self._exec(
            child_sock, env, config, wrapped)
        child_sock.close()
        self._sock = parent_sock
        self._cpu_mark = 0.0
        self.starts += 1

    def _fork(self, child_sock: socket.socket, env: dict, config: dict,
              wrapped: bool) -> zygote.ForkedChild | None:
        """A child forked from the zygote (it sets up its own namespaces), or None without one."""
        if not self.limits.zygote or (connection := zygote.connect()) is None:
            return None
        try:
            child = connection.spawn(child_sock, env, self._workdir.name, config, wrapped)
        except zygote.ZygoteError:
            return None
        self.isolation = []    # the child reports its namespaces with the rest
        return child

    def _exec(self, child_sock: socket.socket, env: dict, config: dict,
              wrapped: bool) -> subprocess.Popen:
        """A child started as a fresh interpreter (no zygote), under `unshare` where it works."""
        bootstrap = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
                     "from tmlkit.child import main; main()")
        command = [sys.executable, "-I", "-c", bootstrap, str(STUDENT_PATH),
                   str(child_sock.fileno()), json.dumps(config)]
        if wrapped:  # no network; a PID namespace dies with the child, fork bombs included
            command = [shutil.which("unshare"), "--net", "--pid", "--fork", "--kill-child", "--"] + command
        self.isolation = ["no network, own PID namespace (unshare)" if wrapped else
                          "network and PID namespaces not available (unshare refused): the child "
                          "shares the grader's network"]
        return subprocess.Popen(
            command, pass_fds=[child_sock.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self._workdir.name, env=env,
            start_new_session=True)

    def _load(self, budget: Budget) -> None:
        cells = [{"index": c.index, "source": c.source} for c in self.extraction.cells]
        wire.send(self._sock, {"op": "load", "cells": cells, "skip": self._load_skips})
        where = None
        while True:  # the first message may be slow (a cold interpreter): only the load budget
            budgets = [budget] if where is None else [
                budget, Budget.of(self.limits.statement_timeout_s, self.limits)]
            try:
                header, _ = self._receive(budgets, "loading your notebook")
            except (SubmissionTimeout, SubmissionCrashed) as error:
                if where is None:
                    raise
                cell, number, line = where
                kind = ("ran for more than "
                        f"{self.limits.statement_timeout_s:g} s of CPU time"
                        if isinstance(error, SubmissionTimeout)
                        else "ended the grader's process")
                raise _LoadStatementFailed(
                    [cell, number],
                    f"Cell {cell}, line {line}: this top-level statement {kind} while your "
                    "definitions loaded (an infinite loop or exit in a class body or a constant?). "
                    "It was skipped; the rest of your notebook was graded without it.") from None
            if header.get("op") == "progress":
                where = (int(header.get("cell", 0)), int(header.get("statement", 0)),
                         int(header.get("line", 0)))
                continue
            break
        if header.get("op") != "loaded":
            self.stop()
            raise SubmissionCrashed("Your code sent the grader an unexpected message while loading.")
        self.defined = {str(name) for name in header.get("defined", [])}
        self.load_problems = self._load_skip_problems + [str(p) for p in header.get("problems", [])]
        self.isolation = [str(item) for item in header.get("isolation", [])] + self.isolation

    def restart(self) -> None:
        """A new child with the same definitions. If it cannot start, the next call says why."""
        self.stop()
        try:
            self.start()
        except SubmissionError:
            self.stop()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self._process.kill()
            self._process.wait()
            _wait_until_gone(self._process.pid)
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
    def _child_cpu(self) -> float:
        return _tree_cpu_seconds(self._process.pid) if self._process is not None else 0.0

    def _receive(self, budgets: list[Budget], doing: str) -> tuple[dict, list[bytes]]:
        """The child's next message. Every budget is charged the wall time waited and the CPU time
        the child spent meanwhile; when one runs out (or ``deadline`` passes) the child is killed."""
        began, cpu_began = time.monotonic(), self._cpu_mark

        def charge() -> None:
            cpu = max(0.0, self._child_cpu() - cpu_began)
            self._cpu_mark = cpu_began + cpu
            for budget in budgets:
                budget.cpu_used += cpu
                budget.wall_used += time.monotonic() - began

        try:
            while True:
                waited = time.monotonic() - began
                left = min([b.wall_s - b.wall_used - waited for b in budgets] +
                           ([self.deadline - time.monotonic()] if self.deadline is not None else []))
                if left <= 0:
                    raise TimeoutError
                if select.select([self._sock], [], [], min(_POLL_S, left))[0]:
                    self._sock.settimeout(left)     # the message itself: the wall clock only
                    message = wire.recv(self._sock, MAX_REPLY_BYTES)
                    charge()
                    return message
                spent = max(0.0, self._child_cpu() - cpu_began)
                if any(b.overrun(spent, 0.0) for b in budgets):
                    raise TimeoutError
        except TimeoutError:
            charge()
            why = next((reason for b in budgets if (reason := b.overrun(0.0, 0.0))),
                       "the grading run's deadline passed")
            self.stop()
            raise SubmissionTimeout(f"Time limit reached while {doing}: {why}. Look for an "
                                    "infinite loop or work that is far slower than it needs to "
                                    "be.") from None
        except (wire.WireError, OSError) as error:
            charge()
            try:
                code = self._process.wait(timeout=5) if self._process else None
            except subprocess.TimeoutExpired:   # alive, but it sent something we refuse to read
                self.stop()
                raise SubmissionCrashed(f"Your code sent the grader a message it refused while "
                                        f"{doing} ({error}).") from None
            self.stop()
            now = oom_kills()
            killed_for_memory = (now is not None and self._oom_kills_before is not None
                                 and now > self._oom_kills_before)
            raise SubmissionCrashed(_describe_exit(code, doing, killed_for_memory)) from error

    def call(self, name: str, *args, **kwargs):
        # Starting a child (after another test's crash) is loading, under its own limits: only
        # the call itself is charged to the test's budget.
        if not self.defined and self._process is None:
            self._ensure_running()
        if name not in self.defined:
            raise MissingFunction(self._missing_message(name))
        self._ensure_running()
        callbacks: dict = {}
        buffers: list[bytes] = []
        header = {"op": "call", "name": name, "args": wire.encode(list(args), buffers, callbacks),
                  "kwargs": wire.encode(kwargs, buffers, callbacks)}
        wire.send(self._sock, header, buffers)
        budgets = [self.budget if self.budget is not None else Budget(600.0, 600.0)]
        while True:
            reply, reply_buffers = self._receive(budgets, f"running `{name}`")
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
            raise SubmissionError(f"`{name}` returned a value the grader could not read: {error}") from None

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


class _LoadStatementFailed(Exception):
    def __init__(self, where: list[int], problem: str):
        super().__init__(problem)
        self.where, self.problem = where, problem


def _describe_exit(code: int | None, doing: str, killed_for_memory: bool = False) -> str:
    if killed_for_memory:
        return (f"Your code ran out of memory while {doing}: the system stopped it at the "
                "grader's memory limit. Look for large arrays or tensors that could be smaller, "
                "or that are kept after they are needed.")
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
