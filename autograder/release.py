"""Make the student notebook from the solution: a short pipeline of nbgrader preprocessors.

solutions/hwN_topic.ipynb → ClearSolutions → ClearHiddenTests → ClearOutput → set-up cell →
departure markers removed → notebooks/hwN_topic.ipynb. The README's Colab badges are written
from the same settings.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

from autograder import course, homeworks

README = homeworks.REPO_ROOT / "README.md"
_BADGES = re.compile(r"(<!-- colab-badges:start -->\n).*?(<!-- colab-badges:end -->)", re.S)
# `<!-- departure EX: phrase -->` before a sentence that tells students where the homework departs
# from its original: the phrase must appear in exercise EX's row of docs/coverage.md
# (tests/test_coverage.py). Provenance is for staff, so students' notebooks do not carry it.
DEPARTURE = re.compile(r"<!-- departure (\S+): (.+?) -->\n?")


def use_course_setup_cell(nb: nbformat.NotebookNode, homework: homeworks.Homework) \
        -> nbformat.NotebookNode:
    for cell in nb.cells:
        if "setup" in cell.get("metadata", {}).get("tags", []):
            cell.source = course.setup_cell_source(homework.requirements)
    return nb


PIPELINE = [ClearSolutions(), ClearHiddenTests(), ClearOutput()]


def student_version(solution: nbformat.NotebookNode, homework: homeworks.Homework) \
        -> nbformat.NotebookNode:
    nb = copy.deepcopy(solution)
    resources: dict = {}
    for step in PIPELINE:
        nb, resources = step.preprocess(nb, resources)
    nb.metadata.pop("celltoolbar", None)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = DEPARTURE.sub("", cell.source)
    return use_course_setup_cell(nb, homework)


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def release(homework_id: str, out_dir: Path | None = None) -> Path:
    homework = homeworks.get(homework_id)
    target = (out_dir or homework.student.parent) / homework.notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    student = student_version(nbformat.read(homework.solution, as_version=4), homework)
    target.write_text(render(student))
    return target


def badges() -> str:
    rows = ["| Homework | Student notebook |", "| --- | --- |"]
    for homework in homeworks.HOMEWORKS.values():
        path = f"notebooks/{homework.notebook}"
        rows.append(f"| {homework.id}: {homework.title} | [![Open In Colab]"
                    f"(https://colab.research.google.com/assets/colab-badge.svg)]"
                    f"({course.colab_url(path)}) |")
    return "\n".join(rows) + "\n"


def update_readme_badges(readme: Path = README) -> bool:
    text = readme.read_text()
    updated = _BADGES.sub(lambda m: m.group(1) + badges() + m.group(2), text)
    if updated != text:
        readme.write_text(updated)
    return updated != text
