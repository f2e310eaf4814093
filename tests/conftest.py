"""Shared fixtures: notebooks built from cell sources, and submissions edited function by function."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import nbformat
import pytest

from tmlkit import data
from tmlkit.notebook import find_function

REPO = Path(__file__).resolve().parents[1]

# Hidden checks draw new cases on every grading run (tmlkit.spec.hidden_rng). The suite fixes the
# draw so that each mutant test gives the same verdict on every run; try other draws with
# TML_GRADER_SEED=N make test.
os.environ.setdefault("TML_GRADER_SEED", "0")

needs_mnist = pytest.mark.skipif(
    not data.mnist_available(), reason=f"no offline MNIST copy: set ${data.DATA_ENV} to a folder "
                                       "holding mnist.npz (CI uses ../shared/data)")
needs_cifar = pytest.mark.skipif(
    not data.cifar10_available(), reason=f"no offline CIFAR-10 copy: set ${data.DATA_ENV} to a "
                                         "folder holding cifar10-jpeg.npz (CI uses ../shared/data)")


@functools.cache
def graded_solution(homework_id: str):
    """The reference solution of a homework, graded once per test session."""
    from autograder import homeworks
    from autograder.grade import grade
    return grade(homework_id, homeworks.get(homework_id).solution)


@pytest.fixture(scope="module")
def solution_result(request):
    """The graded solution of the module's homework: test_hw3.py gets hw3's."""
    return graded_solution(Path(request.module.__file__).stem.removeprefix("test_"))


EXAMPLE_REPOSITORY = "example-course/tml-homework"   # stands in for a course's real repository


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def replace_function(notebook: Path, name: str, new_source: str, out: Path) -> Path:
    """A copy of ``notebook`` in which the top-level function ``name`` is ``new_source``."""
    nb = nbformat.read(notebook, as_version=4)
    try:
        find_function(nb, name).replace(nb, new_source)
    except LookupError:
        raise LookupError(f"no top-level function {name} in {notebook}") from None
    nbformat.write(nb, out)
    return out


def assert_loses_exactly(result, solution_result, should_fail: set[str]) -> None:
    """A mutant fails exactly the checks whose ids (test function names) are ``should_fail``,
    loses exactly their points, and each of those failures carries a message without a
    traceback. Ids, not titles: rewording a check's message breaks no test."""
    failed = {t.id for t in result.tests if t.status == "failed"}
    assert failed == should_fail
    full = {t.id: t.max_score for t in solution_result.tests}
    assert result.score == pytest.approx(sum(full[t.id] for t in result.tests) -
                                         sum(full[check] for check in should_fail))
    for test in result.tests:
        if test.id in should_fail:
            assert test.output and "Traceback" not in test.output


def assert_every_selfcheck_ran(outputs: str, homework_id: str) -> None:
    """Every visible check passed (✓) once in the notebook's self-check cells, but those that
    only the grader judges (·, each with its reason); none failed."""
    from autograder.homeworks import checks_of
    from tmlkit.selfcheck import checked_on_submission
    from tmlkit.spec import check_info
    visible = [name for name, f in checks_of(homework_id) if check_info(f).visibility == "visible"]
    on_submission = checked_on_submission(homework_id)
    assert "✗" not in outputs, "a self-check failed in the solution notebook"
    assert outputs.count("✓") == len(visible) - len(on_submission), (outputs.count("✓"), len(visible))
    assert outputs.count("· [") == len(on_submission), (outputs.count("· ["), on_submission)


def selfcheck_verdicts(homework_id: str, submission: Path, ids) -> dict[str, str]:
    """{check id: ✓, ~, ✗ or ·}: the notebook's self-check on the submission's code cells, run
    in this process (as in a notebook, with the recorded expected values)."""
    import importlib

    from tmlkit.selfcheck import judge, local_fixtures
    public = importlib.import_module(f"tmlkit.public.{homework_id}")
    nb = nbformat.read(submission, as_version=4)
    sources = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    fixtures, _ = local_fixtures(sources, {}, homework_id)
    return {check: judge(getattr(public, check), fixtures)[0] for check in ids}


def assert_selfcheck_agrees(homework_id: str, submission: Path, result) -> None:
    """Parity: on each visible check the grader ran, the self-check's verdict is the grader's
    (✓ where the grader gave full marks, ✗ or ~ where it did not; never ·), but on the checks
    that only the grader judges (``checked_on_submission``, listed in docs/checks/)."""
    from tmlkit.selfcheck import checked_on_submission
    exceptions = checked_on_submission(homework_id)
    graded = {t.id: "✓" if t.score == t.max_score else "✗" for t in result.tests
              if t.visibility == "visible" and t.id not in exceptions}
    marks = selfcheck_verdicts(homework_id, submission, graded)
    assert {check: "✗" if mark == "~" else mark for check, mark in marks.items()} == graded


def run_quick(notebook: Path, workdir: Path) -> str:
    """Execute a notebook headless in quick mode (TML_QUICK=1); returns what its cells printed."""
    from nbclient import NotebookClient
    nb = nbformat.read(notebook, as_version=4)
    env_before = dict(os.environ)
    os.environ.update(TML_QUICK="1", MPLBACKEND="Agg")
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")


@pytest.fixture
def notebook(tmp_path):
    def make(*sources: str, name: str = "submission.ipynb") -> Path:
        return write_notebook(tmp_path / name, *sources)
    return make


@pytest.fixture(autouse=True, scope="session")
def _quiet_plots():
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _repository_on_path():
    """The kit is not installed in .venv (an install would hide a file missing from a zip or a
    student tree), so processes these tests start (kernels, nbgrader, the CLI) find it here.
    Tests of what users get (the Gradescope harness) build their environment from scratch."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), str(REPO / "student"),
                                                             os.environ.get("PYTHONPATH")]))
