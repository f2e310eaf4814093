"""No answer reaches students: the answer keys recorded in the solution notebooks (formulas and
values, ``autograder/answer_keys.py``) appear neither in the student tree nor in any message a
public check prints for the stub notebook or for the mutants of tests/test_hwN.py."""
from __future__ import annotations

import importlib
import math
from pathlib import Path

import nbformat
import pytest
from conftest import EXAMPLE_REPOSITORY, replace_function

from autograder import course, homeworks, release
from autograder.answer_keys import AnswerKey, keys_of, leaks, notebook_texts
from autograder.homeworks import checks_of
from autograder.plugin import Live
from autograder.student_tree import write_student_tree
from tmlkit.selfcheck import LocalSubmission, kept_definitions
from tmlkit.spec import check_info, take_notes

KEYS = {hw: keys_of(nbformat.read(homeworks.get(hw).solution, as_version=4))
        for hw in homeworks.HOMEWORKS}
KEYED = [hw for hw, keys in KEYS.items() if keys]


def found_in(text: str, python: bool = False, homeworks_: list[str] = KEYED) -> list[str]:
    return [f"{hw} {key.where}: {leak}" for hw in homeworks_ for key in KEYS[hw]
            for leak in leaks(text, key, python)]


def test_every_keyed_homework_has_formulas_or_values():
    assert {"hw1", "hw3", "hw4"} <= set(KEYED)
    assert all(key.formulas or key.values for keys in KEYS.values() for key in keys)


def test_release_removes_the_keys():
    for hw in KEYED:
        homework = homeworks.get(hw)
        student = release.student_version(nbformat.read(homework.solution, as_version=4), homework)
        assert not any("answer_key" in cell.metadata for cell in student.cells)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(course, "STUDENT_REPOSITORY", EXAMPLE_REPOSITORY)
        return write_student_tree(tmp_path_factory.mktemp("leaks") / "tree")


def test_the_student_tree_holds_no_answer(tree):
    found = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        if path.suffix == ".ipynb":
            texts = notebook_texts(path)
        else:
            texts = [(str(path.relative_to(tree)), path.read_text(), path.suffix == ".py")]
        found += [f"{where}: {leak}" for where, text, python in texts
                  for leak in found_in(text, python)]
    assert not found, "\n".join(dict.fromkeys(found))


# --- what the public checks print ---------------------------------------------------------------

def public_messages(homework_id: str, notebook: Path, only: set[str] | None = None) -> list[str]:
    """The notes and failure messages of the homework's visible checks (all, or those named in
    ``only``) on the definitions the grader keeps from ``notebook``, run in this process."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    module, _ = kept_definitions(cells)
    spec = importlib.import_module(f"autograder.homeworks.{homework_id}")
    fixtures = {"hw": LocalSubmission(module.__dict__), "expected": Live(spec.REFERENCES),
                "submission_cells": list(enumerate(cells)), "notebook": {}}
    messages = []
    for name, function in checks_of(homework_id):
        if check_info(function).visibility != "visible" or (only is not None and name not in only):
            continue
        take_notes()
        try:
            function(**{arg: fixtures[arg] for arg in function.__code__.co_varnames[
                :function.__code__.co_argcount] if arg in fixtures})
            failure = ""
        except Exception as error:        # what the check says, as the notebook would print it
            failure = str(error)
        messages.append(f"{name}: " + "\n".join(take_notes() + [failure]))
    return messages


@pytest.mark.parametrize("homework_id", KEYED)
def test_public_checks_on_the_stub_print_no_answer(homework_id, tmp_path):
    homework = homeworks.get(homework_id)
    stub = tmp_path / homework.notebook
    nbformat.write(release.student_version(nbformat.read(homework.solution, as_version=4),
                                           homework), stub)
    only = None if homework_id != "hw1" else \
        {name for name, f in checks_of("hw1") if check_info(f).number != "3"}   # CIFAR: 30 s
    found = [f"{message[:80]!r}: {leak}" for message in public_messages(homework_id, stub, only)
             for leak in found_in(message, homeworks_=[homework_id])]
    assert not found, "\n".join(found)


def mutants(homework_id: str) -> list[tuple[str, object]]:
    module = importlib.import_module(f"test_{homework_id}")
    return [(homework_id, name) for name in getattr(module, "MUTANTS", {})]


@pytest.mark.parametrize("homework_id, mutant", [m for hw in KEYED for m in mutants(hw)])
def test_public_checks_on_the_mutants_print_no_answer(homework_id, mutant, tmp_path):
    module = importlib.import_module(f"test_{homework_id}")
    entry = module.MUTANTS[mutant]
    function, source, should_fail = entry[0], entry[1], entry[-1]
    out = tmp_path / "mutant.ipynb"
    if hasattr(module, "_mutate"):
        module._mutate(function, source, out)
    else:
        replace_function(homeworks.get(homework_id).solution, function, source, out)
    found = [f"{message[:80]!r}: {leak}" for message in public_messages(homework_id, out, should_fail)
             for leak in found_in(message, homeworks_=[homework_id])]
    assert not found, "\n".join(found)


# --- the search finds each leak the student package and the messages had (issue 26) ------------

LEAKS_OF_ISSUE_26 = {   # verbatim from the specs before they were fixed: (homework, text, Python?)
    "hw3 example_trace() holds the seven (value, tangent) pairs": ("hw3", '''
def example_trace() -> list[tuple[float, float]]:
    x1, x2, e = math.pi / 6, 1.0, math.e
    return [(x1, 1.0), (x2, 0.0), (0.5, math.sqrt(3) / 2), (math.log(0.5), math.sqrt(3)),
            (e, 0.0), (x1 * e, e), (math.log(0.5) + x1 * e, math.sqrt(3) + e)]
''', True),
    "hw3 map_loss's message gives a and b": (
        "hw3", "With the squared errors summed over the N tosses, g(θ) = −aθ + bθ² must use "
               "a = 2(α − 1) and b = α + β − 2 (set its derivative to zero to see why).", False),
    "hw3 test_shapes' expected shapes": ("hw3", '''
want = {"x": (M,), "W1": (H, M), "b1": (H,), "a1": (H,), "z1": (H,), "W2": (1, H),
        "b2": (1,), "a2": (1,), "y_hat": (1,)}
''', True),
    "hw3's posterior hint": ("hw3", "Each head adds one to α and each tail one to β: "
                                    "(α + y, β + N − y).", False),
    "hw3's gradient hint gives δ2": ("hw3", "It has the wrong sign: δ2 = y_hat − y for the binary "
                                            "cross-entropy.", False),
    "hw3's Dual message gives the trace's last tangent": (
        "hw3", "∂f/∂x1 at (π/6, 1) = 1.0, expected √3 + e = 4.45034890622796.", False),
    "hw1 explain's expected value": ("hw1", '''
assert_close(hw.explain(W, b, x, 2), x * W[:, 2], "explain(W, b, x, 2)", tol=1e-12,
             hint="explain is x ⊙ attribution: each input times its attribution.")
''', True),
    "hw1 invert's hint": ("hw1", "Query the zero input to get b, then the unit vectors e_i: row i "
                                 "of W is query(e_i) - b.", False),
    "hw1 backward's hint": ("hw1", "It has the wrong sign: the gradient of the loss is "
                                   "X^T (P - Y) / N.", False),
    "hw4 ridge_lime's hint": ("hw4", "β = (XᵀWX + λI)⁻¹XᵀWy for Σ w_i (y_i - x_i·β)² + λ‖β‖² "
                                     "(no intercept).", False),
    "hw4 weighted_least_squares' hint": ("hw4", "β* minimises Σ_i w_i (y_i - x_i·β)², i.e. "
                                                "(XᵀWX)⁻¹XᵀWy.", False),
}


@pytest.mark.parametrize("leak", list(LEAKS_OF_ISSUE_26))
def test_the_search_finds_each_known_leak(leak):
    homework_id, text, python = LEAKS_OF_ISSUE_26[leak]
    assert found_in(text, python, [homework_id])


def test_the_search_reads_spellings_and_rounding():
    key = AnswerKey("test", formulas=("2(α − 1)",), values=(math.sqrt(3) / 2,))
    assert leaks("a = 2 * (alpha - 1)", key) and leaks("$a = 2(\\alpha - 1)$", key)
    assert leaks("dv3 = 0.8660", key) and leaks("expected 0.866025403784", key)
    assert leaks("c = math.sqrt(3) / 2", key, python=True)
    assert not leaks("a = 2(α + 1), 0.8661, 0.87, sqrt(3)", key)
    assert not leaks("c = math.sqrt(3)", key, python=True)
