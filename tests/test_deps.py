"""Dependencies are declared once (pyproject.toml, pinned for Gradescope by one constraints file);
every other list is generated from them and agrees with them."""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder import deps, homeworks


def test_generated_files_are_up_to_date():
    assert deps.stale() == [], "run `python -m autograder deps` and commit the files it writes"


def test_stale_files_are_found_and_rewritten(tmp_path):
    (tmp_path / "requirements.txt").write_text(deps.requirements_txt().replace(
        "scikit-image>=0.25.2", "scikit-image>=0.26.0"))
    assert deps.stale(tmp_path) == ["requirements.txt", "environment.yml"]
    assert deps.write(tmp_path) == ["requirements.txt", "environment.yml"]
    assert deps.stale(tmp_path) == []


def _requirements(text: str) -> list[Requirement]:
    return [Requirement(line.split(" #")[0]) for line in text.splitlines()
            if line.strip() and not line.startswith(("#", "-"))]


def test_requirements_txt_and_environment_yml_hold_the_same_requirements():
    listed = {str(r) for r in _requirements((REPO / "requirements.txt").read_text())}
    environment = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    conda = {entry for entry in environment if isinstance(entry, str)} - {"pip"}
    pip = next(entry["pip"] for entry in environment if isinstance(entry, dict))
    python = next(entry for entry in conda if entry.startswith("python="))
    assert listed == {str(Requirement(r)) for r in (conda - {python}) | set(pip)}
    assert listed == {str(Requirement(r)) for r in deps.everything()}
    assert "# no-deps: torchattacks==3.5.1" in (REPO / "requirements.txt").read_text()


def test_every_gradescope_requirement_has_a_pin_that_satisfies_pyproject():
    pins = deps.gradescope_pins()
    declared = deps.dependencies() + [r for hw in deps.homework_extras() for r in deps.extra(hw)]
    for requirement in map(Requirement, declared):
        pin = Requirement(pins[canonicalize_name(requirement.name)])
        version = next(iter(pin.specifier)).version
        assert str(next(iter(pin.specifier)).operator) == "=="
        assert requirement.specifier.contains(version, prereleases=True), (requirement, pin)
    # and no pin that nothing declares: a stale pin would look maintained
    assert set(pins) == {deps.name_of(r) for r in declared}


def test_one_extra_per_homework_and_the_pins_it_gets():
    assert deps.homework_extras() == list(homeworks.HOMEWORKS)
    assert homeworks.get("hw2").requirements == (
        "captum==0.9.0", "lime==0.2.0.1", "scikit-image==0.25.2", "shap==0.49.1",
        "xgboost-cpu==3.2.0", "trulens==0.13.4")
    assert homeworks.get("hw5").requirements == ("fairlearn==0.14.0",)
    assert homeworks.get("hw1").requirements == ()


def test_unknown_extra_and_missing_pin_are_errors():
    with pytest.raises(deps.DependencyError, match="no extra 'hw9'"):
        deps.extra("hw9")
    with pytest.raises(deps.DependencyError, match="no pin"):
        deps.pinned(["not-a-declared-package>=1"])


def test_gradescope_requirements_are_fully_pinned():
    for homework_id in homeworks.HOMEWORKS:
        lines = deps.gradescope_requirements(homework_id).splitlines()
        assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
        assert "torch==2.14.1+cpu" in lines
        assert all("==" in line for line in lines[1:]), homework_id


def test_student_package_needs_nothing_the_kit_does_not_declare():
    student = deps.load_toml(REPO / "student" / "pyproject.toml")
    names = {deps.name_of(r) for r in student["project"]["dependencies"]}
    assert names <= {deps.name_of(r) for r in deps.dependencies()}


def test_grading_never_reads_pyproject():
    # Gradescope grades on Python 3.10, without tomllib and without pyproject.toml in the zip.
    code = ("import sys; import autograder.cli, autograder.grade, autograder.gradescope; "
            "sys.exit('autograder.deps' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
