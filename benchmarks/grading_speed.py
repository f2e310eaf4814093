"""Grading speed and memory: our grader against executing the whole notebook (nbgrader's way).

    python benchmarks/grading_speed.py [--homework hw1] [--repeats 3] [--quick] [--with-cifar]
                                       [--grader-only] [--memory-limit MIB [--cpus N]] [--part P]
                                       [--ballast MIB]

For each homework it grades the reference solution with our grader (HW1's CIFAR-10 part excluded
unless --with-cifar), as run_autograder does (`python -m autograder grade`, a process of its
own, watched from outside), and executes the whole solution notebook with nbclient, which is
what `nbgrader autograde` does, in the same run. It prints medians of wall time, the peak RSS of
the grader process and of the sandboxed child, and the ratio; and, for each run, each process's
private memory (pages no other process shares: torch's, once forked from the zygote, are shared)
when the run's total peaked. --quick runs the notebook in its quick mode (TML_QUICK=1: small
subsets), which understates what nbgrader would cost. --ballast grades a heavier correct
submission instead: the solution plus a constant array that its process holds throughout.

--memory-limit runs each grading in a fresh memory cgroup with that limit (below this session's
own cgroup), as Docker (and so Gradescope) does, and adds the cgroup's peak charge (grader,
zygote and child together, shared library pages counted once, page cache included) and the
sampled peaks of its working set (the charge less inactive page cache) and of its anonymous
memory. It needs root and a writable cgroup file system.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from autograder import homeworks  # noqa: E402
from cgroups import MemoryCgroup  # noqa: E402  (beside this file)


def _descendants(root: int) -> list[int]:
    """root and every process below it (none if root has ended)."""
    try:
        return [root, *(p.pid for p in psutil.Process(root).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def _memory_kb(pid: int) -> tuple[int, int]:
    """(private, peak RSS) of a process, in kB: its own pages (Private_Clean + Private_Dirty, not
    shared with any other process, e.g. torch's library pages after a fork) and its VmHWM."""
    private = peak = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            private = sum(int(line.split()[1]) for line in f if line.startswith("Private_"))
        with open(f"/proc/{pid}/status") as f:
            peak = max([int(line.split()[1]) for line in f if line.startswith("VmHWM:")] or [0])
    except (OSError, ValueError, IndexError):
        pass
    return private, peak


def _role(pid: int, root: int) -> str:
    """Which process of the grading run: named by `comm` (the zygote names its processes
    tml-zygote, tml-grader, tml-child) or, for a grader without a zygote, by its command line."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if comm.startswith("tml-"):
        return comm.removeprefix("tml-")
    if "tmlkit.child" in cmdline:
        return "child"
    return "grader" if pid == root else comm


class Watch:
    """Samples a grading run's processes: each one's private memory when the run's total (the
    cgroup's charge, else the sum of RSS) peaked, and each role's own peaks."""

    def __init__(self, root: int, cgroup: MemoryCgroup | None):
        self.root, self.cgroup = root, cgroup
        self.best, self.at_peak = -1, {}
        self.working_set = self.anon = 0
        self.private_max: dict[str, int] = {}
        self.rss_max: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            sample: dict[str, int] = {}
            rss_total = 0
            for pid in _descendants(self.root):
                role = _role(pid, self.root)
                private, peak = _memory_kb(pid)
                sample[role] = sample.get(role, 0) + private
                self.private_max[role] = max(self.private_max.get(role, 0), private)
                self.rss_max[role] = max(self.rss_max.get(role, 0), peak)
                rss_total += private
            total = rss_total
            if self.cgroup:
                # The working set (charge less inactive page cache, as `docker stats` shows
                # it) and anonymous memory: what the kernel cannot simply drop at the limit.
                stat = self.cgroup.stat()
                total = self.cgroup.usage() - stat["inactive_file"]
                self.working_set = max(self.working_set, total)
                self.anon = max(self.anon, stat["anon"])
            if total > self.best:
                self.best, self.at_peak = total, sample

    def figures(self) -> dict:
        self.stop.set()
        self.thread.join()
        mb = lambda kb: {role: round(v / 1024) for role, v in kb.items() if v > 1024}  # noqa: E731
        return {"private_at_peak_mb": mb(self.at_peak), "private_max_mb": mb(self.private_max),
                "rss_max_mb": mb(self.rss_max), "working_set_mb": self.working_set / 2**20,
                "anon_mb": self.anon / 2**20,
                "grader_mb": self.rss_max.get("grader", 0) / 1024,
                "child_mb": self.rss_max.get("child", 0) / 1024}


def with_ballast(notebook: Path, mib: int, folder: str) -> Path:
    """A copy of ``notebook`` whose student process holds ``mib`` MiB more for the whole run: a
    heavier, still correct submission (the constant is kept and run when the child loads)."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import numpy as np\nBALLAST = np.ones({mib << 20} // 8)   # every page touched"))
    path = Path(folder, notebook.name)
    nbformat.write(nb, path)
    return path


def grade_once(homework_id: str, parts: list[str], cgroup: MemoryCgroup | None,
               ballast_mib: int = 0) -> dict:
    """Grade the reference solution as run_autograder does (`python -m autograder grade`, a
    process of its own), watched from outside."""
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder, "results.json")
        submission = homeworks.get(homework_id).solution
        if ballast_mib:
            submission = with_ballast(submission, ballast_mib, folder)
        command = [sys.executable, "-m", "autograder", "grade", homework_id,
                   str(submission), "--results", str(results)]
        for part in parts:
            command += ["--part", part]
        began = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True,
                                   preexec_fn=cgroup.enter if cgroup else None)
        watch = Watch(process.pid, cgroup)
        _, stderr = process.communicate()
        seconds = time.monotonic() - began
        figures = {**watch.figures(), **(cgroup.figures() if cgroup else {})}
        if process.returncode != 0 or not results.is_file():
            return {"failed": f"exit {process.returncode}: {stderr.strip()[-300:]}", **figures}
        graded = json.loads(results.read_text())
    return {"seconds": seconds, "score": graded["score"],
            "max": sum(t["max_score"] for t in graded["tests"]),
            "failed_checks": [t["extra_data"]["id"] for t in graded["tests"]
                              if t["score"] < t["max_score"]], **figures}


# The notebook kernel's peak RSS, read by a thread inside the measuring process.
WATCH = """
import os, threading
import psutil

def _peak_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return max([int(l.split()[1]) for l in f if l.startswith("VmHWM:")] or [0])
    except OSError:
        return 0

def watch_children(peak, stop):
    while not stop.wait(0.05):
        for child in psutil.Process().children(recursive=True):
            peak[0] = max(peak[0], _peak_kb(child.pid))

PEAK, STOP = [0], threading.Event()
if os.path.isdir("/proc"):
    threading.Thread(target=watch_children, args=(PEAK, STOP), daemon=True).start()
"""

MEASURE_NOTEBOOK = WATCH + """
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
began = time.monotonic()
NotebookClient(nb, timeout=3600, kernel_name="python3").execute()
STOP.set()
print(json.dumps({"seconds": time.monotonic() - began,
                  "kernel_mb": max(PEAK[0], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
                               / 1024}))
"""


def run(script: str, *args: str, env: dict | None = None, cgroup: MemoryCgroup | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})},
                          preexec_fn=cgroup.enter if cgroup else None)
    if done.returncode != 0:
        if cgroup is None:
            done.check_returncode()
        return {"failed": f"exit {done.returncode}", **cgroup.figures()}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **(cgroup.figures() if cgroup else {})}


# Parts left out by default: training that the figure is not about (HW1 part 3 trains CIFAR-10).
SLOW_PARTS = {"hw1": {"3"}}


def parts_of(homework) -> list[str]:
    text = homework.spec.read_text()
    return sorted({line.split('"')[1].split(".")[0] for line in text.splitlines()
                   if line.startswith("@check(")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--homework", action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--with-cifar", action="store_true")
    parser.add_argument("--part", action="append", help="grade only this part (repeatable)")
    parser.add_argument("--ballast", type=int, default=0, metavar="MIB",
                        help="grade the solution with a constant of this many MiB added, which "
                             "its student process holds throughout")
    parser.add_argument("--grader-only", action="store_true",
                        help="skip the whole-notebook runs (e.g. in a venv without Jupyter)")
    parser.add_argument("--memory-limit", type=int, metavar="MIB",
                        help="grade inside a memory cgroup with this limit (Gradescope: 768)")
    parser.add_argument("--cpus", type=float, metavar="N",
                        help="with --memory-limit: a CPU quota as well (Gradescope: 0.5)")
    args = parser.parse_args()
    env = {"MPLBACKEND": "Agg", **({"TML_QUICK": "1"} if args.quick else {})}
    for homework_id in args.homework or list(homeworks.HOMEWORKS):
        homework = homeworks.get(homework_id)
        slow = set() if args.with_cifar else SLOW_PARTS.get(homework.id, set())
        parts = args.part or [p for p in parts_of(homework) if p not in slow]
        grades = []
        for _ in range(args.repeats):
            cgroup = MemoryCgroup(args.memory_limit, args.cpus) if args.memory_limit else None
            try:
                grades.append(grade_once(homework.id, parts, cgroup, args.ballast))
            finally:
                if cgroup:
                    cgroup.remove()
        if args.memory_limit:
            print(f"{homework.id}: in a {args.memory_limit} MiB memory cgroup"
                  f"{f' with {args.cpus:g} CPU' if args.cpus else ''}, peak charge "
                  f"{statistics.median(g['cgroup_mb'] for g in grades):.0f} MiB (median); runs: "
                  + ", ".join(g.get("failed") or f"{g['score']:g}/{g['max']:g}" for g in grades))
        for g in grades:
            if g.get("failed_checks"):
                print(f"  lost points: {', '.join(g['failed_checks'])}")
            if args.memory_limit:
                print(f"  sampled peaks: working set {g['working_set_mb']:.0f} MiB, anonymous "
                      f"{g['anon_mb']:.0f} MiB; limit hits {g.get('limit_hits', 0)}")
            print(f"  private MB at the working set's peak {g['private_at_peak_mb']}, each one's most "
                  f"{g['private_max_mb']}, peak RSS {g['rss_max_mb']}")
        grades = [g for g in grades if "failed" not in g]
        if not grades:
            continue
        ours = statistics.median(g["seconds"] for g in grades)
        print(f"{homework.id}: graded parts {parts or 'all'} ({grades[0]['score']:g}/{grades[0]['max']:g})")
        print(f"  our grader       median {ours:7.1f} s   peak RSS grader "
              f"{statistics.median(g['grader_mb'] for g in grades):.0f} MB, child "
              f"{statistics.median(g['child_mb'] for g in grades):.0f} MB")
        if args.grader_only:
            continue
        notebooks = [run(MEASURE_NOTEBOOK, str(homework.solution), env=env)
                     for _ in range(args.repeats)]
        theirs = statistics.median(n["seconds"] for n in notebooks)
        print(f"  nbclient whole   median {theirs:7.1f} s   peak RSS kernel "
              f"{statistics.median(n['kernel_mb'] for n in notebooks):.0f} MB"
              f"{'   (quick mode)' if args.quick else ''}")
        print(f"  ratio            {theirs / ours:7.1f}×   over {args.repeats} runs each")


if __name__ == "__main__":
    main()
