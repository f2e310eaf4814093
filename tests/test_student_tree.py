"""The students' distribution: complete, pinned, free of answer keys; and self-checks that judge
what the grader judges."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from conftest import EXAMPLE_REPOSITORY, REPO, write_notebook

from autograder import course, homeworks, publish
from autograder.grade import grade
from autograder.student_tree import write_student_tree
from tmlkit.notebook import _without_magics
from tmlkit.selfcheck import selfcheck


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(course, "STUDENT_REPOSITORY", EXAMPLE_REPOSITORY)
        return write_student_tree(tmp_path_factory.mktemp("student") / "tree")


def python_sources(tree: Path) -> dict[str, str]:
    """Every piece of Python students get: the package's modules and the notebooks' code cells."""
    sources = {str(p.relative_to(tree)): p.read_text() for p in tree.rglob("*.py")}
    for notebook in (tree / "notebooks").glob("*.ipynb"):
        for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
            if cell.cell_type == "code":
                sources[f"{notebook.name} cell {index}"] = _without_magics(cell.source)
    return sources


def function_bodies(source: str) -> dict[str, str]:
    """name -> ast.dump of each function's body without its docstring: equal dumps, equal code."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            found[node.name] = ast.dump(ast.Module(body=body, type_ignores=[]))
    return found


def test_tree_holds_what_students_need(tree):
    assert (tree / "tmlkit" / "__init__.py").is_file() and (tree / "pyproject.toml").is_file()
    for homework in homeworks.HOMEWORKS.values():
        assert (tree / "notebooks" / homework.notebook).is_file()
        assert (tree / "tmlkit" / "public" / f"{homework.id}.py").is_file()
        if publish.checks_needing_references(homework.id):
            assert (tree / "tmlkit" / "recordings" / f"{homework.id}.py").is_file()
    readme = (tree / "README.md").read_text()
    assert readme.count(f"github/{EXAMPLE_REPOSITORY}/blob/{course.STUDENT_REF}/notebooks/") \
        == len(homeworks.HOMEWORKS)
    ignored = (tree / ".gitignore").read_text().splitlines()
    assert "build/" in ignored and "*.egg-info/" in ignored      # what `pip install .` leaves


def test_one_set_of_pins_for_every_student_install(tree):
    """requirements.txt pins each homework's extras exactly as the Colab set-up cell does."""
    requirements = (tree / "requirements.txt").read_text().splitlines()
    for homework in homeworks.HOMEWORKS.values():
        setup = course.setup_cell_source(homework.requirements)
        for pin in course.student_pins(homework.requirements):
            assert pin in requirements, pin
            assert (pin in setup) != (pin.split("==")[0] in course.COLAB_SHIPS), pin
    assert "shap==0.51.0" in requirements and "shap==0.49.1" not in requirements


def test_no_tree_and_no_colab_links_for_the_placeholder_repository(tmp_path, capsys):
    from autograder.cli import main
    assert course.is_placeholder()             # this repository: no course has adopted it
    assert main(["student-tree", "-o", str(tmp_path / "tree")]) == 2
    assert "STUDENT_REPOSITORY" in capsys.readouterr().err and not (tmp_path / "tree").exists()
    with pytest.raises(course.PlaceholderRepository, match="STUDENT_REPOSITORY"):
        course.colab_url("notebooks/hw1_linear_models.ipynb")
    from autograder import release
    assert "colab.research.google.com" not in release.badges()
    assert "STUDENT_REPOSITORY" in release.badges()


def test_the_install_can_be_pinned_to_a_commit(monkeypatch):
    commit = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setattr(course, "PACKAGE_REF", commit)
    assert course.install_target().endswith(f"@{commit}") and course.is_commit(commit)
    assert commit in course.setup_cell_source()
    with pytest.raises(ValueError, match="full 40-digit"):
        course.install_target("0123456")


def answer_keys_in(tree: Path) -> list[str]:
    """Imports of the grader, functions named as references, and functions whose code is one of
    the grader's reference implementations or hidden checks, anywhere in the tree."""
    grader_functions = {}
    for path in [*(REPO / "autograder" / "checks").glob("*.py"),
                 *(REPO / "autograder" / "homeworks").glob("hw*.py")]:
        module = ast.parse(path.read_text())
        hidden = {node.name for node in module.body if isinstance(node, ast.FunctionDef)
                  and publish._check_call(node) is not None
                  and not publish._is_visible(publish._check_call(node))}
        for name, body in function_bodies(path.read_text()).items():
            if path.parent.name == "checks" or name in hidden or publish.is_answer_key(name):
                grader_functions[body] = f"{path.name}:{name}"
    found = []
    for where, source in python_sources(tree).items():
        for node in ast.walk(ast.parse(source)):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                       [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{where}: imports {m}" for m in modules if m.split(".")[0] == "autograder"]
        if where.endswith(".py"):     # the notebooks' given helpers are written for students
            for name, body in function_bodies(source).items():
                if publish.is_answer_key(name):
                    found.append(f"{where}: defines {name}")
                if body in grader_functions:
                    found.append(f"{where}: {name} is {grader_functions[body]}")
    return found


def test_no_answer_keys_in_the_student_tree(tree):
    assert not list(tree.rglob("autograder")) and not list(tree.rglob("solutions"))
    assert answer_keys_in(tree) == []


def test_a_planted_reference_is_found(tree, tmp_path):
    """The check above can fail: a renamed copy of the grader's brute-force Shapley values."""
    import shutil
    planted = shutil.copytree(tree, tmp_path / "tree")
    source = (REPO / "autograder" / "checks" / "explanations.py").read_text()
    node = next(n for n in ast.parse(source).body
                if isinstance(n, ast.FunctionDef) and n.name == "brute_force_shapley")
    copy = ast.get_source_segment(source, node).replace("brute_force_shapley", "helpful_values")
    (planted / "tmlkit" / "extras.py").write_text(copy + "\n")
    (planted / "tmlkit" / "more.py").write_text("from autograder.checks import robustness\n")
    found = answer_keys_in(planted)
    assert any("helpful_values is explanations.py:brute_force_shapley" in f for f in found), found
    assert any("imports autograder.checks" in f for f in found), found


def test_every_visible_check_is_written_once_in_the_student_package():
    """The spec imports its visible checks from tmlkit.public; hidden checks stay in the spec."""
    from autograder.homeworks import checks_of
    from tmlkit.spec import check_info
    for homework_id in homeworks.HOMEWORKS:
        for name, function in checks_of(homework_id):
            visible = check_info(function).visibility == "visible"
            assert (function.__module__ == f"tmlkit.public.{homework_id}") == visible, name


@pytest.mark.parametrize("homework_id", ["hw1", "hw2", "hw3", "hw4"])
def test_recorded_values_are_current(homework_id):
    """What `make notebooks` records now is what the student package holds (hw5's recording
    trains models for minutes; its checks' parity tests catch a stale one). Without MNIST here,
    only the values recorded on the fallback digits can be compared."""
    import importlib
    committed = importlib.import_module(f"tmlkit.recordings.{homework_id}").RECORDED
    recorded = publish.record(homework_id)
    stale = f"tmlkit/recordings/{homework_id}.py is stale: run `make notebooks`"
    for part in ("on_submission", "not_local"):     # not the machine's versions
        assert committed[part] == recorded[part], stale
    if "MNIST" in publish.data_sources():
        assert committed["values"] == recorded["values"], stale
    else:
        for reference, values in recorded["values"].items():
            assert values.items() <= committed["values"].get(reference, {}).items(), stale


# A notebook session, as IPython's `In` history holds it: softmax reads a notebook variable.
SESSION = ["import numpy as np",
           "SHIFT = 0.0\nlogits = np.zeros((2, 3))",
           "def softmax(Z):\n    Z = np.asarray(Z, dtype=np.float64) + 0 * logits.sum() + SHIFT\n"
           "    e = np.exp(Z - Z.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1, keepdims=True)",
           'selfcheck("hw1", "1.1", globals())']


def test_selfcheck_fails_where_the_grader_fails_and_names_the_variable(capsys, tmp_path):
    namespace = {"In": SESSION}
    exec("\n".join(SESSION[:3]), namespace)           # the notebook itself: softmax works here
    assert namespace["softmax"](namespace["np"].ones((1, 2))).sum() == pytest.approx(1)
    assert selfcheck("hw1", "1.1", namespace) is False
    printed = capsys.readouterr().out
    assert "✗" in printed and "logits" in printed and "The grader runs only your imports" in printed
    graded = grade("hw1", write_notebook(tmp_path / "s.ipynb", *SESSION[:3]), parts=["1.1"])
    softmax_checks = [t for t in graded.tests if t.name.startswith("softmax")]
    assert softmax_checks and all(t.score == 0 and "logits" in t.output for t in softmax_checks)


def test_selfcheck_passes_what_the_grader_passes(capsys, tmp_path):
    fixed = SESSION[2].replace(" + 0 * logits.sum()", "")
    session = [*SESSION[:2], fixed]
    assert selfcheck("hw1", "1.1", {"In": session}) is False or True   # other 1.1 functions absent
    printed = capsys.readouterr().out
    graded = grade("hw1", write_notebook(tmp_path / "s.ipynb", *session), parts=["1.1"])
    for test in graded.tests:
        if test.visibility == "visible" and test.name.startswith("softmax"):
            mark = "✓" if test.score == test.max_score else "✗"
            assert f"{mark} [{test.max_score:g} pt] {test.name}" in printed, (test.name, printed)
