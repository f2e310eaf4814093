"""Shared by the tools/build_hwN_solution.py scripts: a solution notebook written from cell
sources, with nbgrader metadata, fixed cell ids (reproducible output) and no outputs.

Solution cells carry ``### BEGIN SOLUTION`` / ``<!-- BEGIN SOLUTION -->`` markers;
``python -m autograder release`` turns them into the student notebook.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _nbgrader(grade_id: str, solution: bool, points: float | None = None) -> dict:
    """nbgrader cell metadata; cells with ``points`` are graded (by hand or by a test cell)."""
    meta = {"grade": points is not None, "solution": solution, "locked": not solution,
            "schema_version": 3, "grade_id": grade_id}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


class NotebookBuilder:
    def __init__(self, homework: str, notebook: str):
        self.homework = homework
        self.target = REPO / "solutions" / notebook
        self.cells: list[nbformat.NotebookNode] = []

    def md(self, cell_id: str, source: str, locked: bool = False) -> None:
        cell = nbformat.v4.new_markdown_cell(source.strip("\n"), id=cell_id)
        if locked:
            cell.metadata.update(_nbgrader(cell_id, solution=False))
        self.cells.append(cell)

    def code(self, cell_id: str, source: str, tags: list[str] | None = None) -> None:
        cell = nbformat.v4.new_code_cell(source.strip("\n"), id=cell_id)
        if tags:
            cell.metadata["tags"] = tags
        self.cells.append(cell)

    def setup(self) -> None:
        """The first code cell: the course's Colab set-up, written by ``build`` (as ``release``
        writes it into the student notebook), so both notebooks carry the same one."""
        self.code("setup", "", tags=["setup"])

    def solution(self, grade_id: str, source: str) -> None:
        """A code cell whose function bodies sit between BEGIN/END SOLUTION lines."""
        assert "### BEGIN SOLUTION" in source and "### END SOLUTION" in source, grade_id
        cell = nbformat.v4.new_code_cell(source.strip("\n"), id=grade_id)
        cell.metadata.update(_nbgrader(grade_id, solution=True))
        self.cells.append(cell)

    def written(self, grade_id: str, question: str, answer: str, points: float = 1) -> None:
        """A locked question cell, then a markdown answer cell holding the model answer; in
        nbgrader it is a manually graded answer worth ``points`` (our grader leaves it alone)."""
        self.md(f"{grade_id}_question", question, locked=True)
        source = ("**Your answer:**\n\n<!-- BEGIN SOLUTION -->\n" + answer.strip("\n") +
                  "\n<!-- END SOLUTION -->")
        cell = nbformat.v4.new_markdown_cell(source, id=grade_id)
        cell.metadata.update(_nbgrader(grade_id, solution=True, points=points))
        self.cells.append(cell)

    def selfcheck(self, part: str) -> None:
        """The part's public checks; for nbgrader, a test cell worth their points."""
        from tmlkit.selfcheck import public_points
        grade_id = f"selfcheck_{part.replace('.', '_')}"
        self.code(grade_id, f'selfcheck("{self.homework}", "{part}", globals())')
        self.cells[-1].metadata.update(
            _nbgrader(grade_id, solution=False, points=public_points(self.homework, part)))

    def build(self) -> nbformat.NotebookNode:
        from autograder import homeworks, release
        nb = nbformat.v4.new_notebook()
        nb.cells = self.cells
        nb.metadata = {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
        release.use_course_setup_cell(nb, homeworks.get(self.homework))   # the same as students'
        nbformat.validate(nb)
        ids = [cell.id for cell in nb.cells]
        assert len(ids) == len(set(ids)), "cell ids must be unique"
        return nb

    def main(self, argv: list[str]) -> int:
        """Write the notebook, or with --check exit 1 if the committed one differs."""
        text = nbformat.writes(self.build()) + "\n"
        name = self.target.relative_to(REPO)
        if "--check" in argv:
            same = self.target.is_file() and self.target.read_text() == text
            print(f"{name} is {'up to date' if same else 'out of date'}")
            return 0 if same else 1
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.target.write_text(text)
        print(f"wrote {name} ({len(self.cells)} cells)")
        return 0
