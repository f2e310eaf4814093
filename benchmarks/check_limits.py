"""Measure each check's reference CPU time, from which its time limit is set.

    python benchmarks/check_limits.py [--homework hw2 ...] [--repeats 3]

Grades each reference solution ``--repeats`` times and records, per check, the CPU time the
sandboxed student process spent on it (user + system, threads and subprocesses included, read
from /proc by the grader) and the wall time the grader waited for it. Writes the medians to
``autograder/reference_times.py`` (the plugin's limits: ``autograder/limits.py``) and the table
for people to ``docs/check-limits.md``. Rerun it after changing a check or a reference solution;
``tests/test_limits.py`` fails when a check is missing or its reference has grown too slow.

CPU time hardly depends on what else runs on the machine, so this can run on a busy machine;
it prints each homework's wall time for comparison.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from autograder import homeworks, limits  # noqa: E402
from autograder.grade import grade  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402

DOC = REPO / "docs" / "check-limits.md"


def measure(homework: str, repeats: int) -> dict[str, dict]:
    """{test: number, median reference CPU and wall seconds, and the largest CPU seen}."""
    runs = []
    for run in range(repeats):
        began = time.monotonic()
        result = grade(homework, homeworks.get(homework).solution)
        failed = [t.name for t in result.tests if t.status != "passed"]
        print(f"{homework} run {run + 1}: {result.score:g}/{result.max_score:g} in "
              f"{time.monotonic() - began:.1f} s" + (f"; FAILED {failed}" if failed else ""),
              flush=True)
        if failed:
            raise SystemExit(f"{homework}'s reference solution failed checks: its times would "
                             "not be the reference's")
        runs.append(result.usage)
    numbers = {name: info.number for name, info in limits.declared_checks(homework).items()}
    return {test: {"number": numbers.get(test, "?"),
                   "reference_cpu_s": round(statistics.median(r[test]["cpu_s"] for r in runs), 3),
                   "reference_wall_s": round(statistics.median(r[test]["wall_s"] for r in runs), 3),
                   "max_cpu_s": round(max(r[test]["cpu_s"] for r in runs), 3)}
            for test in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homework", nargs="*", default=list(homeworks.HOMEWORKS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    table = limits.table()
    for homework in args.homework:
        table["checks"][homework] = measure(homework, args.repeats)
    table.update(factor=limits.FACTOR, floor_s=limits.FLOOR_S,
                 wall_factor=Limits().wall_factor,
                 repeats=args.repeats,
                 measured=f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, "
                          f"TML_DATA_DIR {'set' if os.environ.get('TML_DATA_DIR') else 'unset'}, "
                          f"load average {os.getloadavg()[0]:.1f} at the end")
    table["checks"] = dict(sorted(table["checks"].items()))
    limits.write_table(table)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(limits.markdown(table))
    print(f"wrote {limits.TABLE_PATH.relative_to(REPO)} and {DOC.relative_to(REPO)}")
    for homework in args.homework:
        rows = table["checks"][homework]
        print(f"{homework}: reference CPU {sum(r['reference_cpu_s'] for r in rows.values()):.1f} s "
              f"in {len(rows)} checks; largest {max(r['reference_cpu_s'] for r in rows.values()):.2f} s")


if __name__ == "__main__":
    main()
