"""The solution notebooks are the source: ``normalize`` puts an author's save into committed form,
from the cell tags, and does nothing to a committed notebook."""
from __future__ import annotations

import copy
import random

import nbformat
import pytest

from autograder import course, homeworks
from autograder.normalize import NotebookError, normalize, render
from autograder.publish import public_points

ALL = pytest.mark.parametrize("homework", list(homeworks.HOMEWORKS.values()), ids=lambda h: h.id)
HW1 = homeworks.get("hw1")


def committed(homework: homeworks.Homework) -> nbformat.NotebookNode:
    return nbformat.read(homework.solution, as_version=4)


def tagged(nb, tag: str) -> list:
    return [cell for cell in nb.cells if tag in cell.metadata.get("tags", [])]


def messy(nb: nbformat.NotebookNode, seed: int | None = 0) -> nbformat.NotebookNode:
    """What a Jupyter/Colab save can look like: outputs, counts, UI metadata, graded cells'
    ids shuffled (unless ``seed`` is None) and their grade ids lost, nbgrader flags and
    self-check points wrong, an old set-up cell."""
    rng = random.Random(seed)
    nb = copy.deepcopy(nb)
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["language_info"].update(version="3.12.3", mimetype="text/x-python")
    nb.metadata["colab"] = {"provenance": []}
    for number, cell in enumerate(nb.cells):
        cell.metadata["collapsed"] = False
        cell.metadata["colab"] = {"id": f"colab{number}"}
        if cell.cell_type == "code":
            cell.execution_count = number
            cell.outputs = [nbformat.v4.new_output("stream", text="noise\n")]
        if "nbgrader" in cell.metadata:
            meta = cell.metadata.nbgrader
            meta["locked"] = not meta["locked"]
            meta.pop("grade_id")
    graded = [cell for cell in nb.cells if "nbgrader" in cell.metadata]
    ids = [cell.id for cell in graded]
    if seed is not None:
        rng.shuffle(ids)
    for cell, new_id in zip(graded, ids):
        cell.id = new_id
    for cell in tagged(nb, "selfcheck"):
        cell.metadata.nbgrader["points"] = 99
    for cell in tagged(nb, "setup"):
        cell.source = "print('an old set-up cell')"
    return nb


@ALL
def test_committed_solution_notebook_is_normalized(homework):
    text = homework.solution.read_text()
    assert render(normalize(nbformat.reads(text, as_version=4), homework)) == text, \
        f"{homework.solution.name} is not normalized: run `make notebooks`"


@ALL
def test_tags_mark_every_graded_cell(homework):
    nb = committed(homework)
    assert len(tagged(nb, "setup")) == 1
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        tags = cell.metadata.get("tags", [])
        if meta and meta["solution"]:
            assert ("solution" if cell.cell_type == "code" else "written") in tags, cell.id
        elif meta and meta["grade"]:
            assert "selfcheck" in tags, cell.id
    for cell in tagged(nb, "selfcheck"):
        part = cell.source.split('"')[3]
        assert cell.metadata.nbgrader.points == public_points(homework.id, part) > 0


@ALL
def test_normalize_restores_a_messy_save_and_is_idempotent(homework):
    """Grade ids are kept in the cells' ids even when nbgrader metadata lost them."""
    original = committed(homework)
    dirty = messy(original, seed=None)            # nbgrader metadata wrong, ids intact
    once = normalize(dirty, homework)
    assert render(once) == render(original)
    assert render(normalize(once, homework)) == render(once)


def test_grade_ids_restore_shuffled_cell_ids():
    original = committed(HW1)
    dirty = messy(original, seed=1)
    for cell, clean in zip(dirty.cells, original.cells):
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader["grade_id"] = clean.metadata.nbgrader["grade_id"]
    assert [c.id for c in dirty.cells] != [c.id for c in original.cells]   # really shuffled
    assert render(normalize(dirty, HW1)) == render(original)


def test_missing_and_duplicate_ids_get_stable_new_ones():
    original = committed(HW1)
    dirty = copy.deepcopy(original)
    plain = [cell for cell in dirty.cells if not cell.metadata]
    del plain[0]["id"]
    plain[2].id = plain[1].id                    # a pasted cell
    plain[3].id = "softmax"                      # clashes with a graded cell's grade id
    first, second = normalize(dirty, HW1), normalize(copy.deepcopy(dirty), HW1)
    ids = [cell.id for cell in first.cells]
    assert len(set(ids)) == len(ids)
    assert ids == [cell.id for cell in second.cells]          # deterministic
    assert render(normalize(first, HW1)) == render(first)      # and kept from then on
    assert [c.source for c in first.cells] == [c.source for c in original.cells]
    changed = [i for i, (a, b) in enumerate(zip(first.cells, original.cells)) if a.id != b.id]
    assert len(changed) == 3                     # only the three broken ids


def test_written_points_are_the_authors():
    nb = committed(HW1)
    answer = tagged(nb, "written")[0]
    answer.metadata.nbgrader["points"] = 3
    assert normalize(nb, HW1).cells[nb.cells.index(answer)].metadata.nbgrader.points == 3
    del answer.metadata["nbgrader"]              # a fresh answer cell: 1 point by default
    assert normalize(nb, HW1).cells[nb.cells.index(answer)].metadata.nbgrader.points == 1


def test_new_cells_take_their_role_from_tags():
    nb = committed(HW1)
    question = nbformat.v4.new_markdown_cell("### A new question", id="new-question")
    answer = nbformat.v4.new_markdown_cell(
        "**Your answer:**\n\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->",
        id="ex9_new", metadata={"tags": ["written"]})
    check = nbformat.v4.new_code_cell('selfcheck("hw1", "2.2", globals())', id="abc",
                                      metadata={"tags": ["selfcheck"]})
    nb.cells = [cell for cell in nb.cells if cell.id != "selfcheck_2_2"]   # moved to the end
    nb.cells += [question, answer, check]
    out = normalize(nb, HW1).cells[-3:]
    assert out[0].id == "ex9_new_question" and out[0].metadata.nbgrader.locked
    assert out[1].metadata.nbgrader == {"grade": True, "solution": True, "locked": False,
                                        "schema_version": 3, "grade_id": "ex9_new", "points": 1}
    assert out[2].id == "selfcheck_2_2"
    assert out[2].metadata.nbgrader.points == public_points("hw1", "2.2")


def test_removing_a_tag_removes_the_nbgrader_metadata():
    nb = committed(HW1)
    answer = tagged(nb, "written")[0]
    index = nb.cells.index(answer)
    answer.metadata.tags.remove("written")
    out = normalize(nb, HW1)
    assert "nbgrader" not in out.cells[index].metadata
    assert "nbgrader" not in out.cells[index - 1].metadata   # its question is unlocked too


def test_setup_cell_comes_from_the_course_settings():
    out = normalize(messy(committed(HW1), seed=None), HW1)
    (setup,) = tagged(out, "setup")
    assert setup.source == course.setup_cell_source(HW1.requirements) and setup.id == "setup"


@pytest.mark.parametrize("tag, source, message", [
    ("solution", "def f():\n    return 1", "BEGIN/END SOLUTION"),
    ("selfcheck", 'selfcheck("hw1", "9", globals())', "no public checks"),
    ("selfcheck", 'selfcheck("hw2", "1.1", globals())', "self-check of hw2"),
    ("selfcheck", "print('check me')", 'selfcheck("hw1", "<part>", globals())'),
    ("selfcheck", 'selfcheck("hw1", "2.2", globals())', "duplicate grade id 'selfcheck_2_2'"),
])
def test_tag_that_does_not_fit_its_cell_is_named(tag, source, message):
    nb = committed(HW1)
    nb.cells.append(nbformat.v4.new_code_cell(source, id="bad-cell", metadata={"tags": [tag]}))
    with pytest.raises(NotebookError, match="bad-cell") as error:
        normalize(nb, HW1)
    assert message in str(error.value)


def test_written_answer_needs_a_question_before_it():
    nb = committed(HW1)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", id="code"))
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "<!-- BEGIN SOLUTION -->\nx\n<!-- END SOLUTION -->", id="orphan",
        metadata={"tags": ["written"]}))
    with pytest.raises(NotebookError, match="must follow its question"):
        normalize(nb, HW1)


def test_answer_keys_are_kept_and_checked():
    nb = committed(HW1)
    keyed = [cell.id for cell in nb.cells if "answer_key" in cell.metadata]
    assert keyed and [c.id for c in normalize(messy(nb, seed=None), HW1).cells
                      if "answer_key" in c.metadata] == keyed
    (cell,) = [c for c in nb.cells if c.id == keyed[0]]
    for wrong in ({"formulas": "W[:, c]"}, {"values": ["0.5"]}, {"answers": []}, ["W[:, c]"]):
        cell.metadata["answer_key"] = wrong
        with pytest.raises(NotebookError, match="answer_key"):
            normalize(nb, HW1)
