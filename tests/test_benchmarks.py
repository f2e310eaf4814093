"""The benchmarks keep working: a quick run of each prints its figures (the figures themselves
are measured by hand, on an idle machine, and quoted in the README)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO

from autograder.homeworks import checks_of
from tmlkit.isolation import landlock_abi
from tmlkit.spec import check_info


def run_benchmark(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_grading_speed_quick_run_prints_times_memory_and_ratio():
    out = run_benchmark("benchmarks/grading_speed.py", "--homework", "hw4", "--repeats", "1",
                        "--quick")
    total = sum(check_info(function).points for _, function in checks_of("hw4"))
    assert f"hw4: graded parts ['1', '2'] ({total:g}/{total:g})" in out
    grader = re.search(r"our grader\s+median\s+([\d.]+) s\s+peak RSS grader (\d+) MB, child (\d+) MB", out)
    kernel = re.search(r"nbclient whole\s+median\s+([\d.]+) s\s+peak RSS kernel (\d+) MB", out)
    assert grader and kernel, out
    # The child imports torch and numpy: a peak under 100 MB would mean it was not measured.
    assert int(grader.group(3)) > 100 and int(kernel.group(2)) > 100
    assert re.search(r"ratio\s+[\d.]+×", out)


@pytest.mark.skipif(not landlock_abi(), reason="no Landlock here: nothing to measure")
def test_isolation_cost_quick_run_prints_both_modes():
    out = run_benchmark("benchmarks/isolation_cost.py", "--repeats", "2")
    for mode in ("with", "without"):
        assert re.search(rf"^{mode} confinement: start-up \d+ ms wall, \d+ ms CPU, peak RSS "
                         r"[\d.]+ MB \(median of 2\)$", out, re.M), out
    assert re.search(r"^confine\(\) itself: \d+ µs", out, re.M), out


def test_child_startup_prints_both_ways():
    out = run_benchmark("benchmarks/child_startup.py", "--repeats", "1")
    for way in ("forked from the zygote", "fresh interpreter"):
        assert re.search(way + r"\s+median wall\s+[\d.]+ s, child CPU\s+[\d.]+ s", out), out
