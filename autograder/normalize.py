"""Put a solution notebook, as an author saved it from Jupyter or Colab, into its committed form.

The solution notebooks in ``solutions/`` are the source: authors edit them in Jupyter and mark
cells with tags (Jupyter: *View > Cell toolbar > Tags*, or the property inspector; Colab keeps
them in the cell metadata). ``normalize`` derives everything else from the tags, so running it
twice changes nothing:

=============  ==========  =============================================================
tag            cell type   what normalize does
=============  ==========  =============================================================
``setup``      code        source := ``course.setup_cell_source``; id ``setup``
``solution``   code        nbgrader solution cell (``### BEGIN SOLUTION`` markers required)
``written``    markdown    nbgrader manually graded answer (``<!-- BEGIN SOLUTION -->``
                           markers required) worth ``metadata.nbgrader.points`` (default 1,
                           kept as the author sets it); the cell just before it is its
                           question, locked, with id ``<answer id>_question``
``selfcheck``  code        source ``selfcheck("hwN", "<part>", globals())``: an nbgrader test
                           cell worth the part's public points, read from the spec; id
                           ``selfcheck_<part with _>``
=============  ==========  =============================================================

Every notebook also loses its outputs, execution counts and any cell metadata other than
``tags``, ``nbgrader`` and ``answer_key`` (an exercise's answer key, checked for its form: see
``autograder.answer_keys``; ``release`` removes it); its notebook metadata becomes the kernel name
alone. Cell ids are
stable: a graded cell's id is its nbgrader ``grade_id`` (the existing one, or the cell id when it
has none yet); other cells keep theirs; a cell without one (or with a duplicate) gets one made
from its position and source.
"""
from __future__ import annotations

import copy
import hashlib
import re

import nbformat
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearOutput

from autograder import answer_keys, course, homeworks
from autograder.publish import public_points

SETUP, SOLUTION, WRITTEN, SELFCHECK = "setup", "solution", "written", "selfcheck"
WRITTEN_POINTS = 1          # a new written answer's points, until the author sets others
NOTEBOOK_METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
KEPT_CELL_METADATA = ("tags", "nbgrader", answer_keys.FIELD)
_SELFCHECK_CALL = re.compile(r"""selfcheck\(\s*["'](\w+)["']\s*,\s*["']([\w.]+)["']""")


class NotebookError(ValueError):
    """The tags of a solution notebook do not fit its cells (the message names the cell)."""


def _nbgrader(grade_id: str, solution: bool, points: float | None = None) -> dict:
    """nbgrader's cell metadata (schema 3); cells with ``points`` are graded."""
    meta = {"grade": points is not None, "solution": solution, "locked": not solution,
            "schema_version": 3, "grade_id": grade_id}
    if points is not None:
        meta["points"] = points
    return meta


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _where(index: int, cell) -> str:
    first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else "(empty)"
    return f"cell {index} ({cell.cell_type}, id {cell.get('id')!r}: {first_line[:60]!r})"


def _require(condition: bool, index: int, cell, message: str) -> None:
    if not condition:
        raise NotebookError(f"{_where(index, cell)}: {message}")


def _strip(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[int, dict]]:
    """Outputs and stray metadata removed; returns the old nbgrader metadata by cell index."""
    nb, _ = ClearOutput().preprocess(nb, {})
    nb.metadata = nbformat.from_dict(copy.deepcopy(NOTEBOOK_METADATA))
    old = {}
    for index, cell in enumerate(nb.cells):
        old[index] = dict(cell.metadata.get("nbgrader", {}))
        kept = {key: cell.metadata[key] for key in KEPT_CELL_METADATA if key in cell.metadata}
        kept.pop("nbgrader", None)            # derived from the tags below
        if not kept.get("tags"):
            kept.pop("tags", None)
        cell.metadata = nbformat.from_dict(kept)
    return nb, old


def _grade_id(cell, old: dict) -> str:
    return old.get("grade_id") or cell.get("id") or ""


def _mark_cells(nb, homework: homeworks.Homework, old: dict[int, dict]) -> dict[int, str]:
    """Set each tagged cell's source/nbgrader metadata; returns the ids the tags fix."""
    fixed: dict[int, str] = {}
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if SETUP in tags:
            _require(cell.cell_type == "code", index, cell, "the set-up cell must be code")
            cell.source = course.setup_cell_source(homework.requirements)
            fixed[index] = "setup"
        if SOLUTION in tags:
            _require(cell.cell_type == "code", index, cell, "a `solution` cell must be code")
            _require("### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source,
                     index, cell, "a `solution` cell needs ### BEGIN/END SOLUTION lines")
            grade_id = _grade_id(cell, old[index])
            cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True)
            fixed[index] = grade_id
        if WRITTEN in tags:
            _mark_written(nb, index, old, fixed)
        if SELFCHECK in tags:
            _mark_selfcheck(cell, index, homework, fixed)
        if answer_keys.FIELD in cell.metadata:
            try:
                answer_keys.validate(cell.metadata[answer_keys.FIELD], "its answer key")
            except answer_keys.AnswerKeyError as error:
                raise NotebookError(f"{_where(index, cell)}: {error}") from None
    return fixed


def _mark_written(nb, index: int, old: dict[int, dict], fixed: dict[int, str]) -> None:
    cell = nb.cells[index]
    _require(cell.cell_type == "markdown", index, cell, "a `written` answer must be markdown")
    _require("<!-- BEGIN SOLUTION -->" in cell.source and "<!-- END SOLUTION -->" in cell.source,
             index, cell, "a `written` answer needs <!-- BEGIN/END SOLUTION --> lines")
    _require(index > 0 and nb.cells[index - 1].cell_type == "markdown" and
             not _tags(nb.cells[index - 1]), index, cell,
             "a `written` answer must follow its question, an untagged markdown cell")
    grade_id = _grade_id(cell, old[index])
    points = old[index].get("points", WRITTEN_POINTS)
    cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True, points=points)
    question = nb.cells[index - 1]
    question.metadata["nbgrader"] = _nbgrader(f"{grade_id}_question", solution=False)
    fixed[index], fixed[index - 1] = grade_id, f"{grade_id}_question"


def _mark_selfcheck(cell, index: int, homework: homeworks.Homework, fixed: dict[int, str]) -> None:
    _require(cell.cell_type == "code", index, cell, "a `selfcheck` cell must be code")
    call = _SELFCHECK_CALL.search(cell.source)
    _require(call is not None, index, cell,
             f'a `selfcheck` cell holds selfcheck("{homework.id}", "<part>", globals())')
    _require(call.group(1) == homework.id, index, cell, f"self-check of {call.group(1)} "
             f"in {homework.id}'s notebook")
    part = call.group(2)
    points = public_points(homework.id, part)
    _require(points > 0, index, cell, f"part {part} of {homework.id} has no public checks")
    cell.source = f'selfcheck("{homework.id}", "{part}", globals())'
    grade_id = f"selfcheck_{part.replace('.', '_')}"
    cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=False, points=points)
    fixed[index] = grade_id


def _new_id(index: int, cell, taken: set[str]) -> str:
    digest = hashlib.sha1(f"{index}\0{cell.cell_type}\0{cell.source}".encode()).hexdigest()
    for start in range(0, len(digest) - 8):
        candidate = f"cell-{digest[start:start + 8]}"
        if candidate not in taken:
            return candidate
    raise AssertionError("no free cell id")             # 32 candidates; cannot all be taken


def _assign_ids(nb, fixed: dict[int, str]) -> None:
    """Graded cells take their grade_id; others keep a valid unique id or get a new one."""
    taken = set()
    for index, grade_id in fixed.items():
        _require(grade_id not in taken, index, nb.cells[index], f"duplicate grade id {grade_id!r}")
        taken.add(grade_id)
    valid = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
    for index, cell in enumerate(nb.cells):
        if index in fixed:
            cell.id = fixed[index]
            continue
        current = cell.get("id")
        if not (isinstance(current, str) and valid.match(current)) or current in taken:
            current = _new_id(index, cell, taken)
        cell.id = current
        taken.add(current)


def normalize(nb: nbformat.NotebookNode, homework: homeworks.Homework) -> nbformat.NotebookNode:
    """The committed form of ``nb``, ``homework``'s solution notebook (``nb`` is not changed)."""
    nb = copy.deepcopy(nb)
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))
    nb, old = _strip(nb)
    fixed = _mark_cells(nb, homework, old)
    _assign_ids(nb, fixed)
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)      # nbgrader's own schema check
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as Jupyter saves it (one-space indent, sorted keys, final newline)."""
    return nbformat.writes(nb) + "\n"


def normalize_file(homework: homeworks.Homework, check: bool = False) -> bool:
    """Normalize ``homework``'s solution notebook in place; True if it changed (or, with
    ``check``, would change: then the file is left alone)."""
    text = homework.solution.read_text()
    normalized = render(normalize(nbformat.reads(text, as_version=4), homework))
    if normalized != text and not check:
        homework.solution.write_text(normalized)
    return normalized != text
