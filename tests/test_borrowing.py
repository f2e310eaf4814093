"""Answer-borrowing submissions: code that tries to use the grader's own reference
implementations, hidden specs or solutions. Each case is a reference solution with one function
replaced; it must lose exactly that function's checks, with a message that says why, and keep
every other point.

Imports of the grader's package fail everywhere: the sandboxed child's path holds only the
student package and site-packages. Reading the grader's files by path can only be stopped by the
operating system, where the privilege drop holds (grader as root, child as `nobody`, the grader's
files 0700), as run_autograder sets it up on Gradescope: those cases run through the Gradescope
harness with a Python that `nobody` can read (a venv of Debian's python3 under /opt; skipped
without one).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import graded_solution, replace_function

from autograder import homeworks
from autograder.grade import grade
from autograder.sandbox import Limits
from tmlkit.errors import GRADER_PACKAGE_HINT
from tmlkit.isolation import landlock_abi

# (case, homework, function, replacement). Each must fail all of the function's own checks.
BY_IMPORT = [
    ("reference attack, imported at the top of the cell", "hw1", "attack", """
from autograder.checks.adversarial import min_l2_targeted_linear

def attack(W, b, x, target):
    d, _ = min_l2_targeted_linear(W, b, x, target)
    return x + 1.01 * d
"""),
    ("reference attack, imported inside the function", "hw1", "attack", """
def attack(W, b, x, target):
    from autograder.checks.adversarial import min_l2_targeted_linear
    d, _ = min_l2_targeted_linear(W, b, x, target)
    return x + 1.01 * d
"""),
    ("reference attack through importlib", "hw1", "attack", """
def attack(W, b, x, target):
    import importlib
    reference = importlib.import_module("autograder.checks.adversarial")
    d, _ = reference.min_l2_targeted_linear(W, b, x, target)
    return x + 1.01 * d
"""),
    ("reference attack through __import__", "hw1", "attack", """
def attack(W, b, x, target):
    module = __import__("autograder.checks.adversarial", fromlist=["min_l2_targeted_linear"])
    d, _ = module.min_l2_targeted_linear(W, b, x, target)
    return x + 1.01 * d
"""),
    ("the hidden spec's own reference", "hw4", "weighted_least_squares", """
def weighted_least_squares(X, y, w):
    from autograder.homeworks.hw4 import reference_wls
    return reference_wls(X, y, w)
"""),
    ("brute-force Shapley values of the grader", "hw2", "exact_shapley", """
def exact_shapley(f, x, background):
    from autograder.checks import explanations
    return explanations.brute_force_shapley(f, x, background)
"""),
    ("the grader's FGSM", "hw5", "fgsm", """
def fgsm(model, x, y, eps):
    from autograder.checks.robustness import reference_fgsm
    return reference_fgsm(model, x, y, eps)
"""),
    ("the grader's membership-inference metrics", "hw5", "loss_threshold_mia", """
def loss_threshold_mia(model, members, nonmembers):
    from autograder.checks import robustness
    return robustness.reference_mia(robustness.per_example_loss(model, *members),
                                    robustness.per_example_loss(model, *nonmembers))
"""),
    ("the grader's randomized-response ε", "hw5", "rr_epsilon", """
def rr_epsilon(p_truth=0.5):
    import importlib
    return importlib.import_module("autograder.checks.robustness").rr_epsilon(p_truth)
"""),
]

# Reading the grader's files by path: stopped only where the privilege drop holds.
BY_PATH = [
    ("the grader's package put on sys.path by hand", "hw4", "weighted_least_squares", """
def weighted_least_squares(X, y, w):
    import sys, pathlib, tmlkit
    for folder in pathlib.Path(tmlkit.__file__).resolve().parents:
        sys.path.insert(0, str(folder))
    from autograder.homeworks.hw4 import reference_wls
    return reference_wls(X, y, w)
"""),
    ("the hidden spec read from disk and run", "hw4", "weighted_least_squares", """
def weighted_least_squares(X, y, w):
    import pathlib, tmlkit
    for folder in pathlib.Path(tmlkit.__file__).resolve().parents:
        spec = folder / "autograder" / "homeworks" / "hw4.py"
        if spec.exists():
            scope = {"__name__": "borrowed"}
            exec(spec.read_text(), scope)
            return scope["reference_wls"](X, y, w)
    raise RuntimeError("no spec found")
"""),
    ("a reference module loaded with importlib.util by path", "hw1", "attack", """
def attack(W, b, x, target):
    import importlib.util, pathlib, tmlkit
    for folder in pathlib.Path(tmlkit.__file__).resolve().parents:
        path = folder / "autograder" / "checks" / "adversarial.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location("borrowed", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            d, _ = module.min_l2_targeted_linear(W, b, x, target)
            return x + 1.01 * d
    raise RuntimeError("no reference found")
"""),
    ("the solution notebook imported", "hw4", "weighted_least_squares", """
def weighted_least_squares(X, y, w):
    import json, pathlib, tmlkit
    for folder in pathlib.Path(tmlkit.__file__).resolve().parents:
        for notebook in folder.glob("**/solutions/hw4_*.ipynb"):
            scope = {}
            for cell in json.loads(notebook.read_text())["cells"]:
                if cell["cell_type"] == "code" and "def weighted_least_squares" in "".join(cell["source"]):
                    exec("".join(cell["source"]), scope)
            return scope["weighted_least_squares"](X, y, w)
    raise RuntimeError("no solution found")
"""),
]


def own_checks(homework_id: str, function: str) -> set[str]:
    return {t.name for t in graded_solution(homework_id).tests
            if function in t.name.split(":")[0]}


def assert_borrowing_fails(result, homework_id: str, function: str, says: str | None) -> None:
    solution = graded_solution(homework_id)
    borrowed = own_checks(homework_id, function)
    assert borrowed
    failed = {t.name for t in result.tests if t.score < t.max_score}
    assert failed == borrowed, failed ^ borrowed
    assert result.score == pytest.approx(
        solution.score - sum(t.max_score for t in solution.tests if t.name in borrowed))
    if says:
        for test in result.tests:
            if test.name in borrowed:
                assert says in test.output + "\n".join(result.notes), test.output


@pytest.mark.parametrize("case, homework_id, function, source", BY_IMPORT,
                         ids=[case[0] for case in BY_IMPORT])
def test_borrowing_by_import_earns_nothing(case, homework_id, function, source, tmp_path):
    submission = replace_function(homeworks.get(homework_id).solution, function, source,
                                  tmp_path / "borrowed.ipynb")
    result = grade(homework_id, submission)
    assert_borrowing_fails(result, homework_id, function, GRADER_PACKAGE_HINT.split(":")[0])


@pytest.mark.skipif(not landlock_abi(), reason="no Landlock here (Linux 5.13 or later)")
@pytest.mark.parametrize("case, homework_id, function, source", BY_PATH,
                         ids=[case[0] for case in BY_PATH])
def test_borrowing_by_path_earns_nothing_where_landlock_holds(case, homework_id, function, source,
                                                              tmp_path):
    """Without the drop to `nobody` (as in CI: Python under /root), the child's own Landlock
    rules keep the grader's files unreadable: it may find them, never read them."""
    submission = replace_function(homeworks.get(homework_id).solution, function, source,
                                  tmp_path / "borrowed.ipynb")
    borrowed = own_checks(homework_id, function)
    parts = sorted({t.number for t in graded_solution(homework_id).tests if t.name in borrowed})
    result = grade(homework_id, submission, parts=parts, limits=Limits(drop_privileges=False))
    assert any("file system confined (Landlock" in line for line in result.sandbox), result.sandbox
    failed = {t.name for t in result.tests if t.score < t.max_score}
    assert failed == borrowed, failed ^ borrowed     # the parts' other checks keep their points


DROP_PYTHON = Path("/opt/tmlcpu/bin/python3")


@pytest.mark.skipif(os.geteuid() != 0 or not DROP_PYTHON.is_file(),
                    reason="needs root and a Python that `nobody` can read (a venv of Debian's "
                           "python3 at /opt/tmlcpu, see tests/test_borrowing.py)")
@pytest.mark.parametrize("case, homework_id, function, source", BY_PATH,
                         ids=[case[0] for case in BY_PATH])
def test_borrowing_by_path_earns_nothing_where_the_drop_holds(case, homework_id, function, source,
                                                               tmp_path):
    from test_gradescope import install_zip, run_submission

    from autograder.gradescope import build_zip
    submission = replace_function(homeworks.get(homework_id).solution, function, source,
                                  tmp_path / "borrowed.ipynb")
    # `nobody` must be able to reach the image's student package: not under pytest's 0700 tmp.
    root = Path(tempfile.mkdtemp(prefix="tml-drop-"))
    try:
        os.chmod(root, 0o711)
        zip_path = build_zip(homework_id, tmp_path / "autograder.zip")
        image = install_zip(zip_path, root / "autograder", python=DROP_PYTHON.parent)
        results = run_submission(image, {"borrowed.ipynb": submission.read_bytes()},
                                 python=DROP_PYTHON.parent)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    import pwd
    assert f"runs as uid {pwd.getpwnam('nobody').pw_uid}" in results["output"], results["output"]
    assert ("file system confined (Landlock" in results["output"]) == bool(landlock_abi())
    solution = graded_solution(homework_id)
    borrowed = own_checks(homework_id, function)
    scores = {t["name"]: t["score"] for t in results["tests"]}
    for test in solution.tests:
        expected = 0 if test.name in borrowed else test.max_score
        name = f"{test.number} {test.name}"
        assert scores[name] == pytest.approx(expected), (name, scores[name])
