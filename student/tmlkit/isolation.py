"""The sandboxed child confines its own file system access before any student code runs.

Landlock (Linux 5.13 and later, no privilege needed): the process gives up, for itself and every
process it will ever start (detached, ``setsid`` ones included), all file access except what the
rules below grant. Nothing can lift it afterwards. It is applied by the child to itself, after it
starts (or is forked) and before it loads the notebook, so every way of grading shares it.

Granted: full access to the scratch folder; read and execute on the Python installation, the
system's libraries, the student package and the data; /dev/null and the random devices. Where the
kernel supports them, also: no TCP connections or listening sockets (ABI 4), and no signals or
abstract Unix sockets to processes outside the sandbox (ABI 6), the grader included.
"""
from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Marks the Sandbox line of a child whose file system could not be confined (grade-all counts it).
UNCONFINED = "file system NOT confined"

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446   # the same number on every arch
_VERSION = 1                     # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1                # LANDLOCK_RULE_PATH_BENEATH
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
# Every file system right a kernel of ABI n knows (REFER came in 2, TRUNCATE 3, IOCTL_DEV 5).
_FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_ALL_FS = (1 << 16) - 1
_TCP = 0b11                      # bind and connect (ABI 4)
_SCOPES = 0b11                   # abstract Unix sockets and signals (ABI 6)
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV   # those a file can hold
READ = EXECUTE | READ_FILE | READ_DIR

# Shared libraries, certificates, fonts, time zones, CPU topology (torch and BLAS read /sys and
# /proc). Of /proc only the machine's figures and the child's own folder: as root, another
# process's /proc/PID/environ (the grader's, with its secrets) stays readable under Landlock.
SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/sys", "/proc/cpuinfo",
          "/proc/meminfo", "/proc/stat", "/proc/sys")
DEVICES = {"/dev/null": READ_FILE | WRITE_FILE | TRUNCATE, "/dev/zero": READ_FILE,
           "/dev/full": READ_FILE | WRITE_FILE, "/dev/random": READ_FILE,
           "/dev/urandom": READ_FILE}
GPU_DEVICES = "nvidia"           # /dev/nvidia*: CUDA opens them read-write and talks by ioctl


class _Ruleset(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing, disabled at boot, or
    refused (a seccomp filter, e.g. an older container runtime's)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    except OSError:
        return 0


def _grant(ruleset: int, path: str | os.PathLike, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return                                # absent here: nothing to grant
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        _syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_PATH_BENEATH),
                 ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)


def confine(scratch: Path, readable: Sequence[str | os.PathLike]) -> str:
    """Restrict this process, and all it starts, to writing in ``scratch`` and reading
    ``readable`` (beside the system's own folders). Returns the Sandbox line's description; one
    that starts with UNCONFINED where Landlock is not available (the process is then unchanged)."""
    abi = landlock_abi()
    if abi == 0:
        return (f"{UNCONFINED} (Landlock is not available: Linux 5.13 or later with Landlock "
                "enabled is needed): the child can read and write what the grader's user can")
    handled = _FS_RIGHTS.get(abi, _ALL_FS)
    attributes = _Ruleset(handled, _TCP if abi >= 4 else 0, _SCOPES if abi >= 6 else 0)
    try:
        ruleset = _syscall(_CREATE_RULESET, ctypes.byref(attributes),
                           ctypes.c_size_t(ctypes.sizeof(attributes)), ctypes.c_uint32(0))
    except OSError as error:
        return f"{UNCONFINED} (Landlock refused a ruleset: {error})"
    try:
        # /proc/self is opened now, so the rule holds this process's own folder (after any fork;
        # under a PID namespace, where getpid() names another process in the host's /proc).
        for path in (*SYSTEM, "/proc/self", *readable):
            _grant(ruleset, path, READ & handled)
        for path, rights in DEVICES.items():
            _grant(ruleset, path, rights & handled)
        for name in os.listdir("/dev"):
            if name.startswith(GPU_DEVICES):
                _grant(ruleset, f"/dev/{name}", _FILE_RIGHTS & handled)
        _grant(ruleset, scratch, handled)
        # Without it a set-user-ID program could run with more rights; Landlock requires it.
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        _syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    except OSError as error:
        return f"{UNCONFINED} (Landlock failed: {error})"
    finally:
        os.close(ruleset)
    extras = (["no TCP"] if abi >= 4 else []) + (["no signals out"] if abi >= 6 else [])
    return (f"file system confined (Landlock ABI {abi}): writes only its scratch folder, reads "
            "only Python, the system libraries, the student package and the data"
            + "".join(f"; {extra}" for extra in extras))
