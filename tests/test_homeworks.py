"""What every homework must satisfy, whatever its topic: its solution scores full marks, its
notebooks are generated and in sync, the student version hides the solutions, installs what it
needs in Colab, and scores zero with a message per test. Each homework's own file (test_hwN.py)
checks its solution's figures and its mutants."""
from __future__ import annotations

import json

import jsonschema
import nbformat
import pytest
from conftest import REPO, graded_solution

from autograder import course, homeworks, release
from autograder.grade import grade

SCHEMA = json.loads((REPO / "tests" / "gradescope_results.schema.json").read_text())
ALL = pytest.mark.parametrize("homework", list(homeworks.HOMEWORKS.values()), ids=lambda h: h.id)


@ALL
def test_solution_scores_full_marks(homework):
    result = graded_solution(homework.id)
    failed = [(t.number, t.name, t.output) for t in result.tests if t.status != "passed"]
    assert failed == []
    assert result.score == result.max_score > 0
    assert result.internal_errors == []
    assert result.notes == []          # every cell's definitions loaded cleanly
    jsonschema.validate(result.to_gradescope(), SCHEMA)


@ALL
def test_student_notebook_matches_release(homework, tmp_path):
    regenerated = release.release(homework.id, out_dir=tmp_path)
    assert regenerated.read_text() == homework.student.read_text(), \
        "notebooks/ drifted from solutions/: run `make notebooks`"


@ALL
def test_student_notebook_hides_solutions_and_keeps_instructions(homework):
    solution = nbformat.read(homework.solution, as_version=4)
    student = nbformat.read(homework.student, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    solution_cells = [c for c in solution.cells if c.cell_type == "code" and
                      c.metadata.get("nbgrader", {}).get("solution")]
    assert solution_cells and text.count("raise NotImplementedError()") >= len(solution_cells)
    assert all(not cell.get("outputs") for cell in student.cells if cell.cell_type == "code")
    added = [c for c in student.cells if c.id not in {s.id for s in solution.cells}]
    assert len(student.cells) - len(added) == len(solution.cells)
    assert all(c.id.endswith("_points") and "Autograded" in c.source for c in added)


@ALL
def test_setup_cell_installs_the_pinned_student_package_and_extras_in_colab(homework):
    for notebook in (homework.solution, homework.student):
        (setup,) = [c for c in nbformat.read(notebook, as_version=4).cells
                    if "setup" in c.metadata.get("tags", [])]
        assert setup.source == course.setup_cell_source(homework.requirements)
        assert f"git+{course.repository_url()}@{course.PACKAGE_REF}" in setup.source
        assert "@main" not in setup.source            # pinned: a later push changes nothing
        for requirement in homework.requirements:
            name = requirement.split("==")[0]
            pinned = course.STUDENT_PINS.get(name, requirement)
            assert (pinned in setup.source) != (name in course.COLAB_SHIPS), requirement


@ALL
def test_student_notebook_scores_zero_with_a_message_per_test(homework):
    result = grade(homework.id, homework.student)
    assert result.tests and result.score == 0 and result.internal_errors == []
    for test in result.tests:
        assert "not implemented yet" in test.output, (test.name, test.output)
        assert "Traceback" not in test.output, (test.name, test.output)
    jsonschema.validate(result.to_gradescope(), SCHEMA)


def test_readme_badges_match_course_settings():
    assert release.badges() in (REPO / "README.md").read_text()


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_points_agree_between_grader_and_notebook(homework_id):
    """The self-check cells' nbgrader points (notebook metadata) add up to the spec's visible
    points, and every homework has written points beside its autograded ones."""
    from autograder.checks_table import points
    p = points(homework_id)
    assert p["selfcheck"] == p["visible"] and 0 < p["visible"] <= p["autograded"]
    assert p["written"] > 0


def test_check_tables_are_current():
    """docs/checks/hwN.md and docs/checks/README.md (points) are generated from the specs and
    notebooks (`make notebooks` rewrites them)."""
    from autograder.checks_table import write_tables
    assert write_tables(check=True) == []


@ALL
def test_student_notebook_shows_the_points(homework):
    """The title gives the homework's points, each written question its own, each self-check
    part its autograded points: the same figures the grader and the rubrics use."""
    from autograder.checks_table import points
    p = points(homework.id)
    student = nbformat.read(homework.student, as_version=4)
    title = next(c.source.splitlines()[0] for c in student.cells if c.source.startswith("# "))
    assert title.endswith(f"*({p['autograded'] + p['written']:g} points: {p['autograded']:g} "
                          f"autograded, {p['written']:g} written)*")
    for question, answer in zip(student.cells, student.cells[1:]):
        meta = answer.metadata.get("nbgrader", {})
        if answer.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            assert f"*({meta['points']:g} point" in question.source.splitlines()[0], question.id
    shown = [c for c in student.cells if c.id.endswith("_points")]
    assert sum(float(c.source.split(": ")[1].split(" point")[0]) for c in shown) == p["autograded"]
