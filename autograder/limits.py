"""Each check's time limit: its reference solution's measured CPU time on the check, times FACTOR.

``python benchmarks/check_limits.py`` grades every reference solution, records the CPU time the
sandboxed student process spent on each check (threads and subprocesses included), and writes
``check_limits.json`` beside this file, which the plugin reads, and ``docs/check-limits.md``, the
same figures for people. A check's CPU limit is

    max(FLOOR_S, FACTOR × reference CPU time, the check's declared ``timeout``)

A spec declares ``@check(timeout=…)`` only where the work has a budget of its own (HW1's
CIFAR-10 training runs for its time budget): the declared value can raise a limit, never lower
it below the measurement. FLOOR_S covers what a correct solution may add that the reference does
not, e.g. importing torch or scikit-learn inside a function (1–3 s of CPU each).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

FACTOR = 10.0
FLOOR_S = 5.0
UNMEASURED_S = 30.0      # a check not in the table yet (tests/test_limits.py fails until it is)
TABLE = Path(__file__).with_name("check_limits.json")


@functools.lru_cache(maxsize=None)
def reference_cpu() -> dict[str, dict[str, float]]:
    """{homework: {test function: the reference solution's CPU seconds on it}}."""
    if not TABLE.exists():
        return {}
    return {homework: {test: float(row["reference_cpu_s"]) for test, row in tests.items()}
            for homework, tests in json.loads(TABLE.read_text())["checks"].items()}


def cpu_limit(homework: str, test: str, declared: float | None = None) -> float:
    """The CPU seconds the student's process may spend on one check."""
    measured = reference_cpu().get(homework, {}).get(test)
    if measured is None:
        return max(UNMEASURED_S, declared or 0.0)
    return max(FLOOR_S, FACTOR * measured, declared or 0.0)
