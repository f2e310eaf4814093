"""Grading speed and memory: our grader against executing the whole notebook (nbgrader's way).

    python benchmarks/grading_speed.py [--homework hw1] [--repeats 3] [--quick] [--with-cifar]
                                       [--grader-only] [--memory-limit MIB]

For each homework it grades the reference solution with our grader (HW1's CIFAR-10 part excluded
unless --with-cifar) and executes the whole solution notebook with nbclient, which is what
`nbgrader autograde` does, in the same run. It prints medians of wall time, the peak RSS of the
grader process and of the sandboxed child, and the ratio. --quick runs the notebook in its quick
mode (TML_QUICK=1: small subsets), which understates what nbgrader would cost.

--memory-limit runs each grading in a fresh memory cgroup with that limit, as Docker (and so
Gradescope) does, and adds the cgroup's peak charge: grader and child together, shared library
pages counted once, page cache included. It needs root and a writable cgroup file system.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autograder import homeworks  # noqa: E402
from cgroups import MemoryCgroup  # noqa: E402  (beside this file)

# Peak RSS of the sandboxed child: it runs under `unshare --fork`, so RUSAGE_CHILDREN sees only
# the unshare wrapper. A thread reads each descendant's VmHWM (its own peak) from /proc instead.
WATCH = """
import os, threading

def _descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found

def _peak_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return max([int(l.split()[1]) for l in f if l.startswith("VmHWM:")] or [0])
    except OSError:
        return 0

def watch_children(peak, stop):
    while not stop.wait(0.05):
        for pid in _descendants(os.getpid()):
            peak[0] = max(peak[0], _peak_kb(pid))

PEAK, STOP = [0], threading.Event()
if os.path.isdir("/proc"):
    threading.Thread(target=watch_children, args=(PEAK, STOP), daemon=True).start()
"""

MEASURE_GRADE = WATCH + """
import json, resource, sys, time
from autograder.grade import grade
began = time.monotonic()
result = grade(sys.argv[1], sys.argv[2], parts=json.loads(sys.argv[3]))
STOP.set()
print(json.dumps({"seconds": time.monotonic() - began, "score": result.score,
                  "max": result.max_score,
                  "grader_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "child_mb": max(PEAK[0], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
                              / 1024}))
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
        parts = [p for p in parts_of(homework) if p not in slow]
        grades = []
        for _ in range(args.repeats):
            cgroup = MemoryCgroup(args.memory_limit, args.cpus) if args.memory_limit else None
            try:
                grades.append(run(MEASURE_GRADE, homework.id, str(homework.solution),
                                  json.dumps(parts), cgroup=cgroup))
            finally:
                if cgroup:
                    cgroup.remove()
        if args.memory_limit:
            print(f"{homework.id}: in a {args.memory_limit} MiB memory cgroup, peak charge "
                  f"{statistics.median(g['cgroup_mb'] for g in grades):.0f} MiB (median); runs: "
                  + ", ".join(g.get("failed") or f"{g['score']:g}/{g['max']:g}" for g in grades))
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
