"""What the child's file-system confinement (Landlock, ``tmlkit.isolation``) costs per child.

    python benchmarks/isolation_cost.py [--repeats 15]

For each of ``--repeats`` rounds, alternating, one sandbox with the confinement and one without:
the wall time from starting the child to its definitions being loaded, the child's CPU time, and
its peak resident memory. Then ``confine()`` itself, timed in a fresh interpreter. Prints medians.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.grade import prepare  # noqa: E402
from autograder.sandbox import Limits, Submission  # noqa: E402

SOURCE = '''
import numpy as np

def peak_rss_mb():
    with open("/proc/self/status") as f:
        return [int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM")][0]

def cpu_s():
    import time
    return time.process_time()
'''

CONFINE_ALONE = '''
import sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from tmlkit import isolation
scratch = tempfile.mkdtemp()
began = time.perf_counter()
line = isolation.confine(scratch, [sys.prefix, sys.base_prefix])
print(time.perf_counter() - began, "confined" if "confined (" in line else line)
'''


def one_child(notebook: Path, confine: bool) -> tuple[float, float, float]:
    box, _ = prepare(notebook, Limits(confine=confine))
    with box:
        began = time.perf_counter()
        box.start()
        wall = time.perf_counter() - began
        line = "; ".join(box.isolation)
        if confine != ("file system confined (" in line):    # measure only what was asked for
            raise SystemExit(f"the child was not as asked (confine={confine}): {line}")
        child = Submission(box)
        return wall, child.cpu_s(), child.peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    import nbformat
    with tempfile.TemporaryDirectory() as folder:
        notebook = Path(folder) / "s.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SOURCE)]), notebook)
        figures: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
        for _ in range(args.repeats):
            for confine in (True, False):
                figures[confine].append(one_child(notebook, confine))
    for confine, rows in figures.items():
        wall, cpu, rss = (statistics.median(column) for column in zip(*rows))
        print(f"{'with' if confine else 'without'} confinement: start-up {wall * 1000:.0f} ms wall, "
              f"{cpu * 1000:.0f} ms CPU, peak RSS {rss:.1f} MB (median of {len(rows)})")
    student = str(Path(__file__).resolve().parents[1] / "student")
    alone = [float(subprocess.run([sys.executable, "-I", "-c", CONFINE_ALONE, student],
                                  capture_output=True, text=True, check=True).stdout.split()[0])
             for _ in range(args.repeats)]
    print(f"confine() itself: {statistics.median(alone) * 1e6:.0f} µs (median of {len(alone)})")


if __name__ == "__main__":
    main()
