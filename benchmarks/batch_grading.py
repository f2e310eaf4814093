"""Batch-grading benchmark: speed-up from 1 to N jobs, and a class graded by each engine.

    python benchmarks/batch_grading.py [--small 6] [--class-size 100] [--repeats 3] [--jobs 2]
                                       [--parts 1 2] [--engines local dask] [--scheduler ADDRESS]

Submissions are copies of the hw1 solution and student (stub) notebooks, alternating. By default
only parts 1 and 2 are graded: part 3 trains a CIFAR-10 model (~30 s of CPU per submission) and
would dominate every figure. Prints the median of ``--repeats`` runs (the class-size run once
unless --repeats-class is given).

The class is graded by each of ``--engines``, one after the other in the same run: ``local`` is
grade-all's pool of ``--jobs`` processes; ``dask`` is a Dask cluster, by default a LocalCluster of
``--jobs`` single-threaded worker processes on 127.0.0.1 started here (its start-up is timed
apart), or the running cluster at ``--scheduler``. Every engine must give the same grades
(checked: grades.csv compared; ``TML_GRADER_SEED`` is fixed for the run). Beside the wall time
it prints the CPU seconds the graders used per submission (every process this run started and
reaped, the LocalCluster's workers and their graders included): a figure that a loaded machine
skews far less than wall time.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import homeworks  # noqa: E402
from autograder.batch import close_zygotes, grade_all  # noqa: E402


def make_class(folder: Path, size: int) -> Path:
    hw = homeworks.get("hw1")
    folder.mkdir(parents=True)
    for i in range(size):
        source = hw.solution if i % 2 == 0 else hw.student
        shutil.copy(source, folder / f"student{i:03d}.ipynb")
    return folder


def timed(submissions: Path, out: Path, jobs: int, parts: list[str] | None,
          scheduler: str | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    began = time.perf_counter()
    outcomes = grade_all("hw1", submissions, out, jobs=jobs, force=True, parts=parts, progress=False,
                         scheduler=scheduler)
    seconds = time.perf_counter() - began
    assert not any(o.error for o in outcomes), [o.error for o in outcomes if o.error]
    return seconds


def children_cpu_s() -> float:
    """CPU seconds of every child process reaped so far, and of the children they reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def local_cluster(workers: int):
    """A Dask LocalCluster of single-threaded worker processes, bound to 127.0.0.1."""
    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address=None)


def _close_workers_zygotes(cluster) -> None:
    """End each worker's batch zygote, which a worker otherwise keeps for its life: reaped by the
    worker, its CPU time (its graders' included) counts in that of the workers this process
    reaps."""
    from distributed import Client
    with Client(cluster) as client:
        client.run(close_zygotes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=6, help="submissions for the speed-up figure "
                                                             "(0 skips it)")
    parser.add_argument("--class-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-class", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="local processes, and Dask workers")
    parser.add_argument("--parts", nargs="*", default=["1", "2"],
                        help="sections to grade (default 1 2; pass --parts with nothing for all)")
    parser.add_argument("--engines", nargs="+", choices=["local", "dask"], default=["local", "dask"])
    parser.add_argument("--scheduler", help="a running Dask cluster instead of a LocalCluster")
    args = parser.parse_args()
    parts = args.parts or None
    os.environ.setdefault("TML_GRADER_SEED", "0")          # the same grades from every engine
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; hw1 parts "
          f"{parts or 'all'}; solution/stub copies alternating")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.small:
            small = make_class(tmp / "small", args.small)
            serial = [timed(small, tmp / "out", 1, parts) for _ in range(args.repeats)]
            parallel = [timed(small, tmp / "out", args.jobs, parts) for _ in range(args.repeats)]
            s, p = statistics.median(serial), statistics.median(parallel)
            print(f"{args.small} submissions: 1 job {s:.1f} s, {args.jobs} jobs {p:.1f} s "
                  f"(median of {args.repeats}); speed-up {s / p:.2f}x; "
                  f"{s / args.small:.1f} s per submission serially")
        if not args.class_size:
            return
        big = make_class(tmp / "class", args.class_size)
        grades = {}
        for engine in args.engines:
            cluster, scheduler, label = None, None, f"local pool, {args.jobs} jobs"
            cpu_before = children_cpu_s()
            if engine == "dask":
                began = time.perf_counter()
                cluster = None if args.scheduler else local_cluster(args.jobs)
                scheduler = args.scheduler or cluster.scheduler_address
                label = (f"Dask at {args.scheduler}" if args.scheduler else
                         f"Dask LocalCluster, {args.jobs} workers (started in "
                         f"{time.perf_counter() - began:.1f} s)")
            try:
                runs = [timed(big, tmp / engine, args.jobs, parts, scheduler)
                        for _ in range(args.repeats_class)]
            finally:
                if cluster is not None:
                    _close_workers_zygotes(cluster)
                    cluster.close()
            graded = args.class_size * len(runs)
            cpu = ("CPU not visible (external cluster)" if args.scheduler and engine == "dask" else
                   f"{(children_cpu_s() - cpu_before) / graded:.2f} CPU s per submission")
            grades[engine] = (tmp / engine / "grades.csv").read_text()
            m = statistics.median(runs)
            print(f"{args.class_size} submissions, {label}: {m:.1f} s (median of {len(runs)}), "
                  f"{m / args.class_size:.2f} s per submission, {cpu}; load average "
                  f"{os.getloadavg()[0]:.1f} at the end", flush=True)
        if len(set(grades.values())) > 1:
            raise SystemExit(f"the engines disagree: compare the grades.csv of {', '.join(grades)}")
        print(f"grades.csv identical across {', '.join(grades)}")


if __name__ == "__main__":
    main()
