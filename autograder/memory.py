"""The grading run's memory against its container's limit, for the instructor.

Docker, and so Gradescope, bounds a container's memory with a cgroup (v2, or v1 on older
hosts). ``Watch`` samples the cgroup's working set while the run lasts (its charge less the
inactive page cache, which the kernel drops before it kills anything; `docker stats` shows the
same), and ``report`` says how close the run came to the limit.
"""
from __future__ import annotations

import threading
from pathlib import Path

MIB = 1 << 20
# A run whose working set comes this close to the limit is reported as tight: a submission
# that needs this much more than the reference solution would run out of memory.
MARGIN_BYTES = 64 * MIB
# A limit this high (or "max") means there is none.
_NO_LIMIT = 1 << 60


def cgroup_dir() -> tuple[Path, bool] | None:
    """This process's memory cgroup folder and whether it is v2, or None where there is none."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").is_file():
            root, v2 = Path("/sys/fs/cgroup"), True
        elif "memory" in controllers.split(","):
            root, v2 = Path("/sys/fs/cgroup/memory"), False
        else:
            continue
        # Inside a container without its own cgroup namespace the path names the host's
        # folder, and the container's own group is mounted at the root.
        folder = root / path.lstrip("/")
        return (folder if folder.is_dir() else root), v2
    return None


def _read(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text()
    except OSError:
        return None


def _events(folder: Path, v2: bool) -> dict[str, str]:
    text = _read(folder, "memory.events" if v2 else "memory.oom_control") or ""
    return dict(line.split() for line in text.splitlines() if len(line.split()) == 2)


def oom_kills() -> int | None:
    """How many processes the kernel has killed for memory in this process's memory cgroup, or
    None where that cannot be read. Docker, and so Gradescope, enforces its memory limit with such
    a cgroup, and a child killed there cannot be told from one that exited by its status alone:
    under ``unshare`` it is exit code 1."""
    where = cgroup_dir()
    kills = _events(*where).get("oom_kill") if where is not None else None
    return int(kills) if kills is not None else None


class Watch:
    """Samples the working set of this process's memory cgroup every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2):
        self.where = cgroup_dir()
        self.peak_working_set = 0
        self._stop = threading.Event()
        self._thread = None
        if self.where is not None and self.working_set() is not None:
            self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
            self._thread.start()

    def working_set(self) -> int | None:
        folder, v2 = self.where
        usage = _read(folder, "memory.current" if v2 else "memory.usage_in_bytes")
        stat = _read(folder, "memory.stat")
        if usage is None or stat is None:
            return None
        counters = dict(line.split() for line in stat.splitlines() if len(line.split()) == 2)
        inactive = counters.get("inactive_file" if v2 else "total_inactive_file", "0")
        return int(usage) - int(inactive)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            now = self.working_set()
            if now is not None:
                self.peak_working_set = max(self.peak_working_set, now)

    def report(self) -> dict | None:
        """limit_mib, peak_mib (the kernel's, page cache included), working_set_peak_mib
        (sampled) and oom_kills; None where no memory limit applies."""
        if self._thread is None:
            return None
        self._stop.set()
        self._thread.join()
        now = self.working_set()
        self.peak_working_set = max(self.peak_working_set, now or 0)
        folder, v2 = self.where
        limit = (_read(folder, "memory.max" if v2 else "memory.limit_in_bytes") or "max").strip()
        if limit == "max" or int(limit) >= _NO_LIMIT:
            return None
        peak = _read(folder, "memory.peak" if v2 else "memory.max_usage_in_bytes")
        kills = _events(folder, v2)
        return {"limit_mib": round(int(limit) / MIB),
                "peak_mib": round(int(peak) / MIB) if peak else None,
                "working_set_peak_mib": round(self.peak_working_set / MIB),
                "oom_kills": int(kills.get("oom_kill", 0))}


def describe(memory: dict) -> str:
    """The lines an instructor reads in the autograder's output."""
    text = (f"Memory: container limit {memory['limit_mib']} MiB; this run's peak working set "
            f"{memory['working_set_peak_mib']} MiB (sampled; the kernel's peak charge, page "
            f"cache included, {memory['peak_mib']} MiB)")
    if memory["oom_kills"]:
        text += f"; {memory['oom_kills']} process(es) killed for memory"
    if memory["oom_kills"] or memory["working_set_peak_mib"] * MIB >= (
            memory["limit_mib"] * MIB - MARGIN_BYTES):
        text += (f".\nWARNING for the instructor: this run came within {MARGIN_BYTES // MIB} MiB "
                 "of the container's memory limit, so a submission may lose points for memory "
                 "alone. Raise the autograder's memory in Gradescope's settings (see the README's "
                 "Gradescope section)")
    return text + "."
