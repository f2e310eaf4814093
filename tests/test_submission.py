"""Which notebook in a submission folder is graded: one rule for Gradescope and grade-all."""
from __future__ import annotations

from autograder.submission import find_submission

EXPECTED = "hw1_linear_models.ipynb"


def make(tmp_path, *names):
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    return tmp_path


def test_expected_name_anywhere_wins_over_others(tmp_path):
    make(tmp_path, "scratch.ipynb", f"deep/er/{EXPECTED}")
    assert find_submission(tmp_path, EXPECTED) == (tmp_path / "deep/er" / EXPECTED, "")


def test_a_renamed_download_is_the_only_notebook(tmp_path):
    make(tmp_path, "HW1 - Jane Doe (1).ipynb")
    assert find_submission(tmp_path, EXPECTED)[0].name == "HW1 - Jane Doe (1).ipynb"


def test_macos_and_jupyter_debris_never_count(tmp_path):
    make(tmp_path, "mine.ipynb", "__MACOSX/._mine.ipynb", "__MACOSX/other.ipynb", "._mine.ipynb",
         ".ipynb_checkpoints/mine-checkpoint.ipynb", f".ipynb_checkpoints/{EXPECTED}")
    assert find_submission(tmp_path, EXPECTED) == (tmp_path / "mine.ipynb", "")


def test_two_notebooks_are_listed_not_guessed(tmp_path):
    make(tmp_path, "a.ipynb", "b/c.ipynb")
    notebook, problem = find_submission(tmp_path, EXPECTED)
    assert notebook is None and "2 notebooks" in problem and "a.ipynb" in problem
    assert "b/c.ipynb" in problem


def test_two_notebooks_with_the_expected_name(tmp_path):
    make(tmp_path, EXPECTED, f"copy/{EXPECTED}")
    notebook, problem = find_submission(tmp_path, EXPECTED)
    assert notebook is None and f"named {EXPECTED}" in problem


def test_empty_submission(tmp_path):
    notebook, problem = find_submission(tmp_path, EXPECTED)
    assert notebook is None and "No notebook was submitted" in problem
