"""A grade does not depend on how busy the machine is (benchmarks/load_grading.py does the full
comparison, every homework and the correct alternatives, with a cgroup of half a CPU)."""
from __future__ import annotations

import sys

import pytest
from conftest import REPO, graded_solution, write_notebook

from autograder import homeworks
from autograder.grade import grade, prepare
from autograder.sandbox import Budget, Submission

sys.path.insert(0, str(REPO / "benchmarks"))
from load_grading import busy_processes  # noqa: E402


def test_work_slowed_by_other_processes_keeps_its_cpu_limit(tmp_path):
    # 0.6 s of CPU under a 1 s CPU limit, with three processes spinning on two cores: the call
    # takes longer than 1 s of wall time, and still passes.
    path = write_notebook(tmp_path / "s.ipynb", "import time\n\ndef work(seconds):\n"
                          "    end = time.process_time() + seconds\n"
                          "    while time.process_time() < end:\n        pass\n    return 1\n")
    box, _ = prepare(path)
    try:
        Submission(box).work(0)          # start the child outside the measurement
        box.budget = budget = Budget(1.0, 20.0)
        with busy_processes(3):
            assert Submission(box).work(0.6) == 1
    finally:
        box.close()
    print(f"\n0.6 s of work under load: CPU {budget.cpu_used:.2f} s, wall {budget.wall_used:.2f} s")
    assert 0.5 < budget.cpu_used < 1.0


@pytest.mark.slow
def test_hw4_grades_the_same_with_two_busy_processes():
    idle = graded_solution("hw4")
    with busy_processes(2):
        loaded = grade("hw4", homeworks.get("hw4").solution)
    print(f"\nhw4 reference: {idle.execution_time:.1f} s idle, {loaded.execution_time:.1f} s with "
          "two busy processes")
    assert {t.name: t.score for t in loaded.tests} == {t.name: t.score for t in idle.tests}
    assert loaded.score == loaded.max_score
