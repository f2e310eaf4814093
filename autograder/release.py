"""Make the student notebook from the solution: a short pipeline of nbgrader preprocessors.

solutions/hwN_topic.ipynb → ClearSolutions → ClearHiddenTests → ClearOutput → no answer keys →
points → departure markers removed → set-up cell → notebooks/hwN_topic.ipynb. The README's Colab
badges are written from the same settings.

Points are shown where students read them, computed from the spec and the cells' nbgrader
metadata (so re-weighting a check or a written answer changes them): each written question's
heading ends in its points; a line before each self-check cell gives its part's autograded
points, public and hidden; and the title and each ``## `` section heading give their total.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions

from autograder import answer_keys, course, homeworks

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


def clear_answer_keys(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        cell.metadata.pop(answer_keys.FIELD, None)
    return nb


def _points(value: float) -> str:
    return f"{value:g} point{'' if value == 1 else 's'}"


def _part_points(homework_id: str) -> dict[str, tuple[float, float]]:
    """Spec section number -> (visible points, all points) of its checks."""
    from autograder.checks_table import checks_of
    from tmlkit.spec import check_info
    found: dict[str, tuple[float, float]] = {}
    for _, function in checks_of(homework_id):
        info = check_info(function)
        visible, total = found.get(info.number, (0.0, 0.0))
        found[info.number] = (visible + info.points * (info.visibility == "visible"),
                              total + info.points)
    return found


def _selfcheck_part(cell) -> str | None:
    if "selfcheck" not in cell.metadata.get("tags", []):
        return None
    from autograder.normalize import _SELFCHECK_CALL
    return _SELFCHECK_CALL.search(cell.source).group(2)


def _with_points(markdown: str, points: str) -> str:
    first, _, rest = markdown.partition("\n")
    return f"{first} *({points})*" + (f"\n{rest}" if rest else "")


def show_points(nb: nbformat.NotebookNode, homework: homeworks.Homework) -> nbformat.NotebookNode:
    """Points at each written question, before each self-check cell, and per section."""
    by_part = _part_points(homework.id)
    cells = []
    sections = [[None, 0.0, 0.0]]         # [heading cell, autograded points, written points]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith(("# ", "## ")):
            sections.append([cell, 0.0, 0.0])
        part = _selfcheck_part(cell)
        if part is not None:
            numbers = [n for n in by_part if n == part or n.startswith(part + ".")]
            visible = sum(by_part[n][0] for n in numbers)
            total = sum(by_part[n][1] for n in numbers)
            hidden = (f"; hidden checks worth {_points(total - visible)} run when you submit"
                      if total > visible else "")
            cells.append(nbformat.v4.new_markdown_cell(
                f"**Autograded, part {part}: {_points(total)}.** The cell below runs its public "
                f"checks ({_points(visible)}){hidden}.", id=f"{cell.id}_points"))
            sections[-1][1] += total
        elif cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            cells[-1].source = _with_points(cells[-1].source, _points(meta["points"]))
            sections[-1][2] += meta["points"]
        cells.append(cell)
    for heading, autograded, written in sections[1:]:
        if heading.source.lstrip().startswith("# "):      # the title: the whole homework
            autograded, written = sum(s[1] for s in sections), sum(s[2] for s in sections)
        if autograded + written:
            heading.source = _with_points(heading.source, f"{_points(autograded + written)}: "
                                          f"{autograded:g} autograded, {written:g} written")
    nb.cells = cells
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
    return use_course_setup_cell(show_points(clear_answer_keys(nb), homework), homework)


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
    """The README's table of Colab badges, or while the student repository is the placeholder
    (``course.is_placeholder``), a note saying which setting to change instead of dead links."""
    if course.is_placeholder():
        return (f"Colab badges appear here once `STUDENT_REPOSITORY` in `{course.SETTINGS}` names "
                "the public repository of the student tree (see *Colab and the student tree*).\n")
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
