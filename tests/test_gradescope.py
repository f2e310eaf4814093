"""Every homework's Gradescope zip, run end to end in a stand-in for /autograder.

For each homework: the solution gets full marks, the student notebook zero, and the student
notebook with a few functions filled in from the solution exactly the points of the checks those
functions satisfy. Every results.json is validated against Gradescope's schema. One zip per
homework is built and reused (grading hw1's solution includes the ~30 s CIFAR-10 CPU check).
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from conftest import REPO, replace_function

from autograder import homeworks
from autograder.gradescope import build_zip
from autograder import results as results_module

SCHEMA = json.loads((REPO / "tests" / "gradescope_results.schema.json").read_text())

# Functions filled in from the solution → the checks they alone pass, and their points.
PARTIAL = {
    "hw1": (["softmax", "explain"], {
        "1.1 softmax: rows match scipy.special.softmax": 1,
        "1.1 softmax: finite and correct for logits of ±1e3": 1,
        "2.1 explain: input times attribution": 1}),
    "hw2": (["weighted_neighborhood_LIME", "product_model_shap"], {
        "1.1 weighted_neighborhood_LIME: the closed-form weighted line for d = 1, 10, 100": 2,
        "1.1 weighted_neighborhood_LIME: hidden data, queries and kernel widths": 1,
        "1.2 product_model_shap: the closed form, checked against exact Shapley values (≤ 1e-6)": 1,
        "1.2 product_model_shap: hidden points": 1}),
    "hw3": (["relu", "softmax"], {
        "3 relu and softmax: match torch.relu and torch.softmax": 1,
        "3 softmax: finite and correct for logits of ±1e3": 1}),
    "hw4": (["weighted_least_squares"], {
        "2.2 weighted_least_squares: matches lstsq on the weighted problem (≤ 1e-8)": 2,
        "2.2 weighted_least_squares: stable when X is ill-conditioned (cond ≈ 1e7)": 1,
        "2.2 weighted_least_squares: hidden problems, some ill-conditioned": 1}),
    "hw5": (["estimate_proportion", "rr_epsilon"], {
        "3.1 estimate_proportion: P = 2·(N_yes / N) − 1/2 on given reports": 1,
        "3.1 rr_epsilon: ε of randomized response, ln 3 for two fair coins": 1}),
}


def solution_source(notebook: Path, name: str) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or f"def {name}(" not in cell.source:
            continue
        source = "\n".join("pass" if line.lstrip().startswith(("%", "!")) else line
                           for line in cell.source.splitlines())
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return ast.get_source_segment(source, node)
    raise LookupError(f"no function {name} in {notebook}")


def partial_submission(homework_id: str, out: Path) -> Path:
    homework = homeworks.get(homework_id)
    current = homework.student
    for name in PARTIAL[homework_id][0]:
        current = replace_function(current, name, solution_source(homework.solution, name), out)
    return out


def run_zip(zip_path: Path, homework_id: str, submission: Path, root: Path, **env) -> dict:
    """Unpack the zip into root/autograder and run run_autograder as Gradescope would."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "autograder")
    for name in ("run_autograder", "setup.sh"):
        os.chmod(root / "autograder" / name, 0o755)
    (root / "autograder" / "submission").mkdir()
    notebook = homeworks.get(homework_id).notebook
    (root / "autograder" / "submission" / notebook).write_bytes(submission.read_bytes())
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root / "autograder"),
                   "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", **env}
    done = subprocess.run([str(root / "autograder" / "run_autograder")], env=environment,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "autograder" / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return results


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zips")
    return {hw: build_zip(hw, folder / f"{hw}_autograder.zip") for hw in homeworks.HOMEWORKS}


def test_every_homework_has_a_partial_submission():
    assert set(PARTIAL) == set(homeworks.HOMEWORKS)


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_zip_contents(zips, homework_id):
    with zipfile.ZipFile(zips[homework_id]) as archive:
        names = set(archive.namelist())
        requirements = archive.read("source/requirements.txt").decode()
        run = archive.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "source/requirements.txt",
            "source/autograder/cli.py", f"source/autograder/homeworks/{homework_id}.py"} <= names
    assert not any(name.endswith(".ipynb") or "solutions" in name for name in names)
    assert "download.pytorch.org/whl/cpu" in requirements and "+cpu" in requirements
    for extra in homeworks.get(homework_id).requirements:
        assert extra in requirements
    assert f"grade {homework_id} " in run and "TML_HIDDEN_VISIBILITY" not in run


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_solution_full_marks(zips, homework_id, tmp_path):
    results = run_zip(zips[homework_id], homework_id, homeworks.get(homework_id).solution, tmp_path)
    max_total = sum(t["max_score"] for t in results["tests"])
    assert results["score"] == pytest.approx(max_total) and max_total > 0
    assert all(t["status"] == "passed" for t in results["tests"])
    visibilities = {t["visibility"] for t in results["tests"]}
    assert visibilities == {"visible", "after_published"}, visibilities   # hidden checks exist


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_stub_zero(zips, homework_id, tmp_path):
    results = run_zip(zips[homework_id], homework_id, homeworks.get(homework_id).student, tmp_path)
    assert results["score"] == 0
    assert all(t["status"] == "failed" and t["output"] for t in results["tests"])


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_partial_submission_exact_score(zips, homework_id, tmp_path):
    submission = partial_submission(homework_id, tmp_path / "partial.ipynb")
    results = run_zip(zips[homework_id], homework_id, submission, tmp_path / "root")
    expected = PARTIAL[homework_id][1]
    scored = {t["name"]: t["score"] for t in results["tests"] if t["score"] > 0}
    assert scored == expected
    assert results["score"] == pytest.approx(sum(expected.values()))


def test_hidden_visibility_option_in_zip(tmp_path):
    """A zip built with hidden_visibility="hidden" marks hidden checks "hidden" on Gradescope."""
    zip_path = build_zip("hw4", tmp_path / "hw4.zip", hidden_visibility="hidden")
    submission = partial_submission("hw4", tmp_path / "partial.ipynb")
    results = run_zip(zip_path, "hw4", submission, tmp_path / "root")
    by_name = {t["name"]: t["visibility"] for t in results["tests"]}
    assert by_name["2.2 weighted_least_squares: hidden problems, some ill-conditioned"] == "hidden"
    assert by_name["2.2 weighted_least_squares: matches lstsq on the weighted problem (≤ 1e-8)"] \
        == "visible"
    assert "after_published" not in by_name.values()
    with pytest.raises(ValueError):
        build_zip("hw4", tmp_path / "bad.zip", hidden_visibility="secret")


def test_hidden_visibility_env(monkeypatch):
    test = results_module.TestResult
    result = results_module.GradingResult("hw1", [test("1", "a", 1, 1, "", "visible"),
                                                  test("1", "b", 0, 1, "x", "after_published"),
                                                  test("1", "c", 0, 1, "x", "after_due_date")])
    monkeypatch.delenv("TML_HIDDEN_VISIBILITY", raising=False)
    assert [t["visibility"] for t in result.to_gradescope()["tests"]] == \
        ["visible", "after_published", "after_due_date"]
    monkeypatch.setenv("TML_HIDDEN_VISIBILITY", "hidden")
    assert [t["visibility"] for t in result.to_gradescope()["tests"]] == \
        ["visible", "hidden", "after_due_date"]
    monkeypatch.setenv("TML_HIDDEN_VISIBILITY", "typo")          # ignored, with a warning
    assert result.to_gradescope()["tests"][1]["visibility"] == "after_published"
    jsonschema.validate(result.to_gradescope(), SCHEMA)
