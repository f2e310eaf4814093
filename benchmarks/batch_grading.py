"""Batch-grading benchmark: speed-up from 1 to N jobs, and wall time for a class of submissions.

    python benchmarks/batch_grading.py [--small 6] [--class-size 100] [--repeats 3] [--jobs 2]
                                       [--parts 1 2]

Submissions are copies of the hw1 solution and student (stub) notebooks, alternating. By default
only parts 1 and 2 are graded: part 3 trains a CIFAR-10 model (~30 s of CPU per submission) and
would dominate every figure. Prints the median of ``--repeats`` runs (the class-size run once
unless --repeats-class is given).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import homeworks  # noqa: E402
from autograder.batch import grade_all  # noqa: E402


def make_class(folder: Path, size: int) -> Path:
    hw = homeworks.get("hw1")
    folder.mkdir(parents=True)
    for i in range(size):
        source = hw.solution if i % 2 == 0 else hw.student
        shutil.copy(source, folder / f"student{i:03d}.ipynb")
    return folder


def timed(submissions: Path, out: Path, jobs: int, parts: list[str] | None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    outcomes = grade_all("hw1", submissions, out, jobs=jobs, force=True, parts=parts, progress=False)
    seconds = time.perf_counter() - began
    assert not any(o.error for o in outcomes), [o.error for o in outcomes if o.error]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=6, help="submissions for the speed-up figure")
    parser.add_argument("--class-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-class", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--parts", nargs="*", default=["1", "2"],
                        help="sections to grade (default 1 2; pass --parts with nothing for all)")
    args = parser.parse_args()
    parts = args.parts or None
    print(f"{os.cpu_count()} CPUs; hw1 parts {parts or 'all'}; solution/stub copies alternating")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = make_class(tmp / "small", args.small)
        serial = [timed(small, tmp / "out", 1, parts) for _ in range(args.repeats)]
        parallel = [timed(small, tmp / "out", args.jobs, parts) for _ in range(args.repeats)]
        s, p = statistics.median(serial), statistics.median(parallel)
        print(f"{args.small} submissions: 1 job {s:.1f} s, {args.jobs} jobs {p:.1f} s "
              f"(median of {args.repeats}); speed-up {s / p:.2f}x; "
              f"{s / args.small:.1f} s per submission serially")
        if args.class_size:
            big = make_class(tmp / "class", args.class_size)
            runs = [timed(big, tmp / "out", args.jobs, parts) for _ in range(args.repeats_class)]
            m = statistics.median(runs)
            print(f"{args.class_size} submissions, {args.jobs} jobs: {m:.1f} s "
                  f"(median of {len(runs)}), {m / args.class_size:.2f} s per submission")


if __name__ == "__main__":
    main()
