"""A fresh memory cgroup (v2, else v1) with a limit: how Docker, and so Gradescope, bounds a
container's memory. Needs root and a writable cgroup file system; ``available()`` says."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path


def _own(controller: str) -> Path:
    """This process's own cgroup of ``controller`` (v2: the unified one): new groups go below it,
    so that a session's limits and counts stay inside the session's."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").is_file()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v2 and controllers == "") or (not v2 and controller in controllers.split(",")):
            return Path("/sys/fs/cgroup", *([] if v2 else [controller]), path.lstrip("/"))
    return Path("/sys/fs/cgroup", *([] if v2 else [controller]))


def available() -> bool:
    """Whether this process may create memory cgroups here."""
    return os.geteuid() == 0 and os.access(_own("memory"), os.W_OK)


class MemoryCgroup:
    """A fresh memory cgroup (v2, else v1) holding one run and its descendants."""

    def __init__(self, limit_mib: int, cpus: float | None = None):
        """``cpus``: a CPU quota as well, e.g. 0.5 for Gradescope's default half a CPU."""
        self.v2 = Path("/sys/fs/cgroup/cgroup.controllers").is_file()
        self.cpu_path = None
        self.path = _own("memory") / f"tml-grading-speed-{os.getpid()}"
        self.path.mkdir()
        limit = str(limit_mib << 20)
        (self.path / ("memory.max" if self.v2 else "memory.limit_in_bytes")).write_text(limit)
        if self.v2:
            (self.path / "memory.swap.max").write_text("0")
        if cpus is not None:
            period = 100_000
            if self.v2:
                (self.path / "cpu.max").write_text(f"{int(cpus * period)} {period}")
            else:
                self.cpu_path = _own("cpu") / self.path.name
                self.cpu_path.mkdir()
                (self.cpu_path / "cpu.cfs_period_us").write_text(str(period))
                (self.cpu_path / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))

    def enter(self) -> None:        # in the child, before exec
        (self.path / "cgroup.procs").write_text(str(os.getpid()))
        if self.cpu_path is not None:
            (self.cpu_path / "cgroup.procs").write_text(str(os.getpid()))

    def usage(self) -> int:
        """The group's charge now, in bytes."""
        return int((self.path / ("memory.current" if self.v2 else "memory.usage_in_bytes")).read_text())

    def stat(self) -> dict[str, int]:
        """memory.stat's counters, in bytes (v1 names, hierarchical totals; v2 mapped to them)."""
        pairs = dict(line.split() for line in (self.path / "memory.stat").read_text().splitlines())
        if self.v2:
            return {"anon": int(pairs["anon"]) + int(pairs.get("shmem", 0)),
                    "inactive_file": int(pairs["inactive_file"])}
        return {"anon": int(pairs["total_rss"]) + int(pairs["total_shmem"]),
                "inactive_file": int(pairs["total_inactive_file"])}

    def figures(self) -> dict:
        if self.v2:
            peak = int((self.path / "memory.peak").read_text())
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
            return {"cgroup_mb": peak / 2**20, "oom_kills": int(events.get("oom_kill", 0))}
        return {"cgroup_mb": int((self.path / "memory.max_usage_in_bytes").read_text()) / 2**20,
                "limit_hits": int((self.path / "memory.failcnt").read_text())}

    def remove(self) -> None:
        # A run killed at the limit can leave its sandboxed child behind for a moment.
        for _ in range(50):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            try:
                if self.cpu_path is not None and self.cpu_path.exists():
                    self.cpu_path.rmdir()
                return self.path.rmdir()
            except OSError:
                time.sleep(0.1)
        print(f"could not remove {self.path}", file=sys.stderr)
