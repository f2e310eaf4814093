"""The solution notebooks are nbgrader source notebooks: a throwaway nbgrader course generates
the assignment and autogrades submissions with nbgrader's own apps, and its scores agree with
ours on the checks both run.

Where they differ, by design: nbgrader's test cells are the notebook's self-check cells, so it
runs only the public checks, all or nothing per part, by executing the whole notebook; our grader
adds hidden checks and gives points check by check. Written answers are manual nbgrader cells.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from conftest import replace_function
from test_hw4 import MUTANTS

from autograder import homeworks
from autograder.grade import grade

HW = homeworks.get("hw4")   # its whole notebook runs in ~20 s in quick mode
BROKEN = "gradcam"          # a submission with Grad-CAM's ReLU left out loses parts 1.2 and 1.3
WRONG_GRADCAM = MUTANTS["gradcam without the ReLU"][1]


def nbgrader(course: Path, *args: str) -> None:
    bin_dir = str(Path(sys.executable).parent)   # nbgrader runs alembic from the same venv
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
               TML_QUICK="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbgrader_course")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'tml'\n"
        "c.ExecutePreprocessor.timeout = 600\n")
    source = root / "source" / HW.id
    source.mkdir(parents=True)
    shutil.copy(HW.solution, source / HW.notebook)
    nbgrader(root, "generate_assignment", HW.id)
    for student, notebook in (("solution", HW.solution), ("broken", None)):
        folder = root / "submitted" / student / HW.id
        folder.mkdir(parents=True)
        if notebook:
            shutil.copy(notebook, folder / HW.notebook)
        else:
            replace_function(HW.solution, BROKEN, WRONG_GRADCAM, folder / HW.notebook)
    nbgrader(root, "autograde", HW.id, "--create")
    return root


def nbgrader_scores(course: Path, student: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        (notebook,) = gradebook.find_submission(HW.id, student).notebooks
        return {g.name: (g.score, g.max_score) for g in notebook.grades}


def our_public_scores(notebook: Path) -> dict[str, tuple[float, float, bool]]:
    """Per part: points earned and available on the public checks, and whether all passed."""
    parts: dict[str, list] = defaultdict(lambda: [0.0, 0.0, True])
    for test in grade(HW.id, notebook).tests:
        if test.visibility == "visible":
            part = parts[test.number]
            part[0] += test.score
            part[1] += test.max_score
            part[2] &= test.status == "passed"
    return {number: tuple(values) for number, values in parts.items()}


def test_generate_assignment_matches_our_release(course):
    ours = nbformat.read(HW.student, as_version=4)
    theirs = nbformat.read(course / "release" / HW.id / HW.notebook, as_version=4)
    assert [c.source for c in theirs.cells if c.cell_type == "code"
            and "setup" not in c.metadata.get("tags", [])] == \
           [c.source for c in ours.cells if c.cell_type == "code"
            and "setup" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("student", ["solution", "broken"])
def test_autograde_agrees_with_our_public_checks_part_by_part(course, student, tmp_path):
    notebook = HW.solution if student == "solution" else \
        replace_function(HW.solution, BROKEN, WRONG_GRADCAM, tmp_path / HW.notebook)
    theirs, ours = nbgrader_scores(course, student), our_public_scores(notebook)
    test_cells = {name: scores for name, scores in theirs.items() if name.startswith("selfcheck_")}
    assert {name.removeprefix("selfcheck_").replace("_", ".") for name in test_cells} == set(ours)
    for name, (score, max_score) in test_cells.items():
        earned, available, all_passed = ours[name.removeprefix("selfcheck_").replace("_", ".")]
        assert max_score == available, name
        assert score == (available if all_passed else 0.0), (name, score, earned)
    written = [scores for name, scores in theirs.items() if name.startswith("written_")]
    assert written and all(max_score > 0 for _, max_score in written)
    if student == "broken":
        assert sum(s for s, _ in test_cells.values()) < sum(m for _, m in test_cells.values())
