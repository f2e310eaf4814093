"""The zygote: one process that imports torch, numpy and the student package, and forks every
sandboxed child (and, under ``python -m autograder grade``, the grader itself).

Forked processes share the zygote's pages copy-on-write, torch's included (about 145 MB of
private memory per process that imports it), and a child starts in the time of a fork instead of
a torch import. The zygote is started with the scrubbed environment a child gets and with only
the student package on its path, and it never reads a seed, a spec or a grader's variable: a
child forked from it cannot inherit what it never held. The grader receives its arguments and
environment from the launcher only after its own fork, on a socket that no child holds.

Started by ``autograder.zygote`` as ``python -I -c BOOTSTRAP STUDENT_PATH MODE FD [MODULE ...]``
(a MODULE written "module:function" is a call made once after the imports, see ``_warm``):

- ``serve``: FD is the grader's control socket; each request forks a child.
- ``launch``: FD is the launcher's socket; the zygote forks the grader, which receives its
  command from the launcher there, then serves the grader's requests, and exits with the
  grader's exit status.

A ``serve`` zygote also answers ``launch`` requests (passed the run's stdout, stderr and launcher
socket): it forks a process that does what ``launch`` mode does. ``grade-all`` keeps one such
zygote for a whole batch, so that no student's run pays for starting Python and importing torch.

Requests (JSON, one SOCK_SEQPACKET message each): ``spawn`` (with the child's socket passed as a
file descriptor) answers the child's pid; ``wait`` answers its exit status, as
``subprocess.Popen.returncode`` has it, or None if it still runs after ``timeout`` seconds.
Each child gets the whole sandbox after its fork: its own session, the requested working
directory and environment, new network and PID namespaces where the kernel allows, then
``tmlkit.child.start`` (rlimits, the privilege drop, serving calls).
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import signal
import socket
import sys
import time

# What every process of a grading run imports; each is preloaded if it is installed, and so are
# the modules named after FD (a homework's, e.g. torch._dynamo).
PRELOAD = ("numpy", "torch", "tmlkit.wire", "tmlkit.child")
MAX_REQUEST_BYTES = 1 << 20
_CLONE_NEWNET, _CLONE_NEWPID, _PR_SET_PDEATHSIG = 0x40000000, 0x20000000, 1

# In the grader forked by ``launch``: its control socket to the zygote (None elsewhere).
CONNECTION: socket.socket | None = None


def name_process(title: str) -> None:
    """Set the process's name as ``ps`` and /proc/PID/comm show it (benchmarks tell the roles
    apart by it)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/comm", "w") as f:
            f.write(title[:15])


def send(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """The next message and the file descriptors passed with it; (None, []) when the peer is gone."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST_BYTES, 4)
    return (json.loads(data) if data else None), fds


def _preload(extra: list[str]) -> None:
    for module in (*PRELOAD, *extra):
        if ":" not in module:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
    _warm([name for name in extra if ":" in name])
    # The garbage collector of a forked process would otherwise write to every object it
    # scans, and so copy the pages that hold them.
    gc.freeze()


def _warm(calls: list[str]) -> None:
    """Call each "module:function" once (a cached computation, e.g. a model the grader trains
    itself): every process forked afterwards finds its result. On one thread, since a process
    forked after a parallel region of torch's OpenMP hangs in its next one. A call that fails is
    left to the grader, which then computes (and reports) it itself."""
    if not calls:
        return
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for call in calls:
            module, function = call.split(":")
            with contextlib.suppress(Exception):
                getattr(importlib.import_module(module), function)()
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    mode, fd = sys.argv[1], int(sys.argv[2])
    name_process("tml-zygote")
    _preload(sys.argv[3:])
    channel = socket.socket(fileno=fd)
    if mode == "launch":
        sys.exit(_launch(channel))
    _end(_serve(channel))


def _launch(launcher: socket.socket) -> int:
    """Fork the grader, which receives its command on ``launcher``; serve its children until it
    ends; its exit status."""
    serving, grader_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    grader = os.fork()
    if grader == 0:
        serving.close()
        _become_grader(launcher, grader_end)     # never returns
    launcher.close()
    grader_end.close()
    children = _serve(serving)
    _, status = os.waitpid(grader, 0)
    _end(children)
    return os.waitstatus_to_exitcode(status) & 0xFF


def _become_launched(fds: list[int], server: socket.socket) -> None:
    """A grading run of a batch (the ``launch`` request): its own session, whose group a time
    limit kills whole, the run's stdout and stderr, then what ``launch`` mode does."""
    me, code = os.getpid(), 1
    try:
        os.setsid()
        server.close()
        name_process("tml-zygote")
        out, err, launcher = fds
        for fd, stream in ((out, 1), (err, 2)):
            os.dup2(fd, stream)
            os.close(fd)
        code = _launch(socket.socket(fileno=launcher))
    finally:
        if os.getpid() == me:   # the grader, forked in _launch, leaves by its own SystemExit
            os._exit(code)


def _become_grader(launcher: socket.socket, connection: socket.socket) -> None:
    """The grader's start: its command, environment and path come from the launcher only now."""
    global CONNECTION
    name_process("tml-grader")
    code = 1
    try:
        send(launcher, {"op": "ready"})
        command, _ = receive(launcher)
        launcher.close()
        if command is None:
            os._exit(1)
        os.chdir(command["cwd"])
        os.environ.clear()
        os.environ.update(command["env"])
        sys.path[:] = command["path"]
        sys.argv = command["argv"]
        CONNECTION = connection
        module, function = command["entry"].split(":")
        code = getattr(importlib.import_module(module), function)(command["argv"][1:])
    except SystemExit as done:
        code = done.code
    finally:
        # The grader's own exit: atexit handlers and flushed output, never the zygote's loop.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    sys.exit(code)


def _serve(sock: socket.socket) -> dict[int, int | None]:
    """Answer requests until the grader hangs up; the children started, by pid → exit status."""
    children: dict[int, int | None] = {}
    while True:
        try:
            request, fds = receive(sock)
        except (OSError, ValueError):
            return children
        if request is None:
            return children
        if request.get("op") == "spawn" and len(fds) == 1:
            pid = os.fork()
            if pid == 0:
                _become_child(request, fds[0], sock)     # never returns
            os.close(fds[0])
            children[pid] = None
            send(sock, {"pid": pid})
        elif request.get("op") == "launch" and len(fds) == 3:
            pid = os.fork()
            if pid == 0:
                _become_launched(fds, sock)     # never returns
            for fd in fds:
                os.close(fd)
            children[pid] = None
            send(sock, {"pid": pid})
        elif request.get("op") == "wait":
            send(sock, {"status": _wait(children, int(request["pid"]), request.get("timeout"))})
        else:
            for fd in fds:
                os.close(fd)
            send(sock, {"error": "unknown request"})


def _wait(children: dict[int, int | None], pid: int, timeout: float | None) -> int | None:
    if children.get(pid) is not None:
        return children[pid]
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:
            return children.get(pid) if children.get(pid) is not None else -signal.SIGKILL
        if done:
            children[pid] = os.waitstatus_to_exitcode(status)
            return children[pid]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def _end(children: dict[int, int | None]) -> None:
    """Kill and reap every child still running: none outlives the grading run."""
    for pid, status in children.items():
        if status is None:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _become_child(request: dict, fd: int, server: socket.socket) -> None:
    """After the fork: the sandbox, then the child's start-up (``tmlkit.child.start``)."""
    try:
        os.setsid()
        server.close()
        null = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(null, stream)
        os.close(null)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        extra = [_new_namespaces()] if request.get("namespaces") else []
        name_process("tml-child")
        from tmlkit.child import start
        start(socket.socket(fileno=fd), request["config"], extra)
    finally:
        os._exit(0)


def _new_namespaces() -> str:
    """New network and PID namespaces, as ``unshare --net --pid --fork --kill-child`` makes them:
    the calling process waits for a first process in them (whose death ends every process
    there) and passes on its exit status; that process returns here."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET | _CLONE_NEWPID) != 0:
        return ("network and PID namespaces not available (unshare refused): the child shares "
                "the grader's network")
    pid = os.fork()
    if pid == 0:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        return "no network, own PID namespace (unshare)"
    name_process("tml-unshare")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
