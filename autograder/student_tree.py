"""The students' distribution: everything they get, and nothing that solves a graded function.

    python -m autograder student-tree -o build/student

writes a folder ready to push, as it is, to the public repository named in ``course.py``:

    README.md          how to start, with a Colab badge per homework
    pyproject.toml     the ``tmlkit`` package (what the set-up cell installs from the tag)
    requirements.txt   everything the notebooks use, for a local install (the same pins as
                       the Colab set-up cell: ``course.student_pins``)
    .gitignore         what a local install or a notebook run leaves behind
    tmlkit/            data loaders, trusted models, the trulens shim, the public self-checks
    notebooks/         the student notebooks (``release``)

This repository stays the instructor's: solutions, the grader, hidden checks, references.
While ``course.STUDENT_REPOSITORY`` is the placeholder, nothing is written
(``course.PlaceholderRepository``): the tree's links would lead nowhere.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from autograder import course, deps, homeworks, release

STUDENT_SOURCE = homeworks.REPO_ROOT / "student"
# Beside pyproject.toml's dependencies (by name: students keep their own torch build).
LOCAL_EXTRAS = ("jupyter",)


def readme() -> str:
    rows = "\n".join(
        f"| {hw.id} | {hw.title} | [![Open In Colab](https://colab.research.google.com/assets/"
        f"colab-badge.svg)]({course.colab_url(f'notebooks/{hw.notebook}')}) |"
        for hw in homeworks.HOMEWORKS.values())
    return f"""# Trustworthy Machine Learning: homework

| | homework | open |
| --- | --- | --- |
{rows}

**In Colab:** open a notebook with its badge and run the first cell. It installs this
repository's `tmlkit` package at `{course.PACKAGE_REF}`, the version your course uses.

**On your own machine** (Python {course.STUDENT_PYTHON} or later):
`pip install -r requirements.txt && pip install .`, then open `notebooks/` in Jupyter.

Each notebook says what to implement. The `selfcheck(...)` cell after each part runs the
grader's public checks on exactly what the grader will see: the imports, functions, classes
and constants of your cells, not the variables your notebook happens to hold. Submit the
notebook file itself.
"""


def requirements() -> str:
    """Torch and friends, then each homework's extras pinned as the Colab set-up cell pins them:
    a local install runs every notebook."""
    names = [deps.name_of(r) for r in deps.dependencies()]
    extras = sorted({r for hw in homeworks.HOMEWORKS.values()
                     for r in course.student_pins(hw.requirements)})
    header = (f"# Python {course.STUDENT_PYTHON} or later. The homeworks' packages are pinned as "
              "the notebooks' Colab set-up cell pins them.")
    return "\n".join([header, *names, *LOCAL_EXTRAS, *extras]) + "\n"


GITIGNORE = """\
# What `pip install .` and Jupyter leave behind.
build/
*.egg-info/
__pycache__/
.ipynb_checkpoints/
"""


def write_student_tree(out: str | Path) -> Path:
    """Write the student tree into ``out`` (emptied first)."""
    course.require_repository()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(STUDENT_SOURCE / "tmlkit", out / "tmlkit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(STUDENT_SOURCE / "pyproject.toml", out / "pyproject.toml")
    for homework_id in homeworks.HOMEWORKS:
        release.release(homework_id, out / "notebooks")
    (out / "README.md").write_text(readme())
    (out / "requirements.txt").write_text(requirements())
    (out / ".gitignore").write_text(GITIGNORE)
    return out
