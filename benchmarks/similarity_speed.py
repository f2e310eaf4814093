"""Similarity-report benchmark: wall time and peak memory for a synthetic class.

    python benchmarks/similarity_speed.py [--class-size 500] [--homework hw1] [--repeats 1]

Each synthetic student fills every varied graded function (tests/similarity_class.py) with one of
the independent solutions (reference or a variant) or leaves its stub, disguises it (renamed,
re-commented, re-spaced, 0-2 statements inserted), and writes it in place or in a last cell;
the other graded functions get the reference or stay stubs. With a handful of solutions per
function, most pairs share fingerprints: a denser, slower case than a real class. The timed part
is ``python -m autograder similarity`` in a fresh process, as an instructor runs it; the class is
written beforehand and not timed.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import nbformat  # noqa: E402

from autograder.similarity import graded_functions  # noqa: E402
from similarity_class import disguise, origins, reference_source, student_notebook  # noqa: E402


def make_class(homework_id: str, folder: Path, size: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    solutions = origins(homework_id)
    varied = set(solutions["reference"])
    others = {name: reference_source(homework_id, name) for name in graded_functions(homework_id)
              if name not in varied and "." not in name}
    folder.mkdir(parents=True)
    for student in range(size):
        functions = {}
        for name in varied:
            choices = [s[name] for s in solutions.values() if name in s]
            if rng.random() < 0.9:
                functions[name] = disguise(rng.choice(choices), rng, edits=rng.randint(0, 2))
        for name, source in others.items():
            if rng.random() < 0.8:
                functions[name] = disguise(source, rng, edits=rng.randint(0, 1))
        nb = student_notebook(homework_id, functions, last_cell=rng.random() < 0.5)
        nbformat.write(nb, folder / f"student{student:04d}.ipynb")


def timed_run(homework_id: str, submissions: Path, out: Path) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "similarity", homework_id,
                           str(submissions), "-o", str(out)], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return seconds, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--class-size", type=int, default=500)
    parser.add_argument("--homework", default="hw1", choices=["hw1", "hw3"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        began = time.perf_counter()
        make_class(args.homework, folder, args.class_size)
        print(f"{args.homework}: wrote {args.class_size} synthetic submissions in "
              f"{time.perf_counter() - began:.1f} s (not timed below); {os.cpu_count()} CPUs")
        times = []
        for repeat in range(args.repeats):
            seconds, message = timed_run(args.homework, folder, Path(tmp) / f"report{repeat}")
            times.append(seconds)
        # ru_maxrss of children: the largest report process, in KiB on Linux
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        pairs = args.class_size * (args.class_size - 1) // 2
        print(message)
        print(f"similarity report   median {statistics.median(times):.1f} s over {len(times)} "
              f"run(s)   peak RSS {peak_mb:.0f} MB   {pairs} pairs")
        csv_lines = sum(1 for _ in open(Path(tmp) / "report0" / "similarity.csv")) - 1
        print(f"pairs sharing any fingerprint (rows of similarity.csv): {csv_lines}")


if __name__ == "__main__":
    main()
