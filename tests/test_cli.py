"""The command line: results.json in Gradescope's format, a table, and honest exit codes."""
import json
import subprocess
import sys

import jsonschema
import pytest
from conftest import REPO

from autograder import homeworks
from autograder.cli import main
from autograder.grade import UnknownPart, check_parts, grade

SCHEMA = json.loads((REPO / "tests" / "gradescope_results.schema.json").read_text())
SOFTMAX_ONLY = '''
import numpy as np

def softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
'''


def cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_grade_writes_results_and_a_table(notebook, tmp_path):
    submission = notebook(SOFTMAX_ONLY, "print('top-level work is not run')")
    done = cli("grade", "hw1", str(submission), "--results", str(tmp_path / "r.json"), "--part", "1.1")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(results, SCHEMA)
    by_name = {t["extra_data"]["id"]: t for t in results["tests"]}
    assert by_name["test_softmax_matches_scipy"]["status"] == "passed"
    assert "`backward` is not defined" in by_name["test_backward_matches_finite_differences"]["output"]
    assert results["score"] == 2.0          # the two softmax checks, 1 point each
    assert "total" in done.stdout and "softmax" in done.stdout


def test_unreadable_notebook_scores_zero_with_the_reason(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{ this is not json")
    result = grade("hw1", bad, parts=["2.1"])
    assert result.score == 0 and len(result.tests) == 3
    assert all("not valid notebook JSON" in t.output for t in result.tests)


def test_syntax_error_costs_only_that_cell(notebook):
    submission = notebook(SOFTMAX_ONLY, "def explain(W, b, x, c):\n    return x *\n")
    result = grade("hw1", submission, parts=["1.1", "2.1"])
    scores = {t.id: t.score for t in result.tests}
    assert scores["test_softmax_matches_scipy"] == 1
    explain = [t for t in result.tests if t.name.startswith("explain")][0]
    assert "Cell 2 has a SyntaxError on line 2" in explain.output
    assert any("SyntaxError" in note for note in result.notes)


def test_unknown_part_lists_the_parts(notebook):
    done = cli("grade", "hw1", str(notebook(SOFTMAX_ONLY)), "--part", "9")
    assert done.returncode == 2 and "exit code" not in done.stderr
    assert "hw1 has no part '9'; its parts: 1.1, 2.1, 2.2, 2.3, 3" in done.stderr


def test_part_prefix_selects_its_subparts():
    check_parts("hw5", ["1", "2.2", "4"])   # "1" selects 1.1 ... 1.4: no error
    with pytest.raises(UnknownPart, match="1.1, 1.2"):
        check_parts("hw5", ["1.9"])


def test_unknown_homework_is_a_library_exception_and_a_cli_message(capsys):
    with pytest.raises(homeworks.UnknownHomework, match="known: hw1, hw2"):
        homeworks.get("hw9")
    assert main(["release", "hw9"]) == 2
    assert "unknown homework 'hw9'; known: hw1" in capsys.readouterr().err


def test_grade_all_on_a_file_is_a_cli_message(tmp_path, capsys):
    (tmp_path / "one.ipynb").write_text("{}")
    assert main(["grade-all", "hw1", str(tmp_path / "one.ipynb"), "-o", str(tmp_path / "out")]) == 2
    assert "is not a folder of submissions" in capsys.readouterr().err


def test_normalize_check_passes_on_the_committed_solutions(capsys):
    assert main(["normalize", "--check"]) == 0
    assert capsys.readouterr().out == ""


def test_grade_has_the_zips_total_time_limit_by_default(monkeypatch, tmp_path):
    """A submission that sleeps must not hold a local `grade` for hours: the default total
    limit is the Gradescope zip's, and 0 turns it off."""
    import autograder.grade as grading
    from autograder.gradescope import DEFAULT_TIME_LIMIT_S
    seen = []

    def stop(homework_id, submission, **options):
        seen.append(options["time_limit_s"])
        raise grading.GraderError("stopped by the test")
    monkeypatch.setattr(grading, "grade", stop)
    submission = str(homeworks.get("hw4").solution)
    assert main(["grade", "hw4", submission]) == 2
    assert main(["grade", "hw4", submission, "--time-limit", "0"]) == 2
    assert seen == [DEFAULT_TIME_LIMIT_S, 0]


def test_memory_report_warns_within_64_mib_of_the_limit():
    from autograder.memory import describe
    roomy = {"limit_mib": 768, "peak_mib": 700, "working_set_peak_mib": 600, "oom_kills": 0}
    assert "768 MiB" in describe(roomy) and "600 MiB" in describe(roomy)
    assert "WARNING" not in describe(roomy)
    assert "WARNING" in describe({**roomy, "working_set_peak_mib": 705})
    assert "WARNING" in describe({**roomy, "oom_kills": 1})
