"""Every check's time limit comes from its reference solution's measured CPU time
(autograder/limits.py, benchmarks/check_limits.py), and the table is not stale."""
from __future__ import annotations

import pytest
from conftest import REPO, graded_solution

from autograder import homeworks, limits

ALL = pytest.mark.parametrize("homework", list(homeworks.HOMEWORKS))
RERUN = "rerun `python benchmarks/check_limits.py --homework {}`"


def table() -> dict:
    return limits.table()


@ALL
def test_every_check_has_a_measured_limit_and_no_other(homework):
    measured = set(table()["checks"].get(homework, {}))
    declared = set(limits.declared_checks(homework))
    assert declared - measured == set(), RERUN.format(homework)
    assert measured - declared == set(), RERUN.format(homework)


@ALL
def test_each_limit_is_the_factor_times_the_reference_time_at_least(homework):
    assert table()["factor"] == limits.FACTOR and table()["floor_s"] == limits.FLOOR_S
    for test, info in limits.declared_checks(homework).items():
        reference = table()["checks"][homework][test]["reference_cpu_s"]
        limit = limits.cpu_limit(homework, test, info.timeout)
        assert limit >= max(limits.FACTOR * reference, limits.FLOOR_S, info.timeout or 0), test


def test_the_docs_table_is_generated_from_the_data():
    assert (REPO / "docs" / "check-limits.md").read_text() == limits.markdown(table()), \
        "docs/check-limits.md drifted: rerun `python benchmarks/check_limits.py`"


@pytest.mark.slow
@ALL
def test_the_reference_still_needs_well_under_its_limits(homework):
    # CPU time hardly depends on the machine's load, so the graded solution's own figures must
    # stay within a third of each limit: a reference grown slower means a stale table.
    usage = graded_solution(homework).usage
    declared = limits.declared_checks(homework)
    over = {test: (round(used["cpu_s"], 2), limits.cpu_limit(homework, test, declared[test].timeout))
            for test, used in usage.items()
            if used["cpu_s"] > limits.cpu_limit(homework, test, declared[test].timeout) / 3}
    assert over == {}, f"{over}: {RERUN.format(homework)}"
