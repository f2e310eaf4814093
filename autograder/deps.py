"""The kit's dependencies, declared once: ``pyproject.toml``, with exact pins for Gradescope.

- ``pyproject.toml``: ``[project] dependencies`` (what grading needs), one extra per homework
  (``hw1`` .. ``hw5``), ``batch`` and ``dev``; ``[tool.tml.dependencies]`` for what pip cannot say
  there (``--no-deps`` installs, the conda split, notes).
- ``constraints/gradescope-py310.txt``: the exact pin of each of those for Gradescope's Python 3.10
  image, and the index options (CPU torch).

Derived from them, on the instructor's machine: ``requirements.txt`` and ``environment.yml``
(``python -m autograder deps``, tested up to date), each Gradescope zip's
``requirements.txt`` (fully pinned, so the zip reads neither file), the pins of the notebooks' set-up
cell (``Homework.requirements``) and the student tree's ``requirements.txt``.

Reading TOML needs ``tomllib`` (Python 3.11) or ``tomli``; only building does that, never grading.
"""
from __future__ import annotations

import functools
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
CONSTRAINTS = REPO_ROOT / "constraints" / "gradescope-py310.txt"
GENERATED = ("requirements.txt", "environment.yml")
NO_DEPS_MARK = "# no-deps: "    # the Makefile installs what follows it with pip --no-deps
ALL_EXTRAS = ("batch", "dev")   # beside the homeworks' extras, in requirements.txt


class DependencyError(LookupError):
    """The declarations disagree: a requirement without a Gradescope pin, an unknown extra."""


def load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:      # Python 3.10
        import tomli as tomllib
    return tomllib.loads(path.read_text())


@functools.cache
def pyproject() -> dict:
    """``pyproject.toml``, parsed."""
    return load_toml(PYPROJECT)


def dependencies() -> list[str]:
    """``[project] dependencies``: what grading a submission needs."""
    return list(pyproject()["project"]["dependencies"])


def extra(name: str) -> list[str]:
    """The requirements of one optional-dependency group, e.g. ``"hw2"``."""
    extras = pyproject()["project"]["optional-dependencies"]
    if name not in extras:
        raise DependencyError(f"pyproject.toml has no extra {name!r}; it has {', '.join(extras)}")
    return list(extras[name])


def tool() -> dict:
    """``[tool.tml.dependencies]``."""
    return pyproject()["tool"]["tml"]["dependencies"]


def homework_extras() -> list[str]:
    return [name for name in pyproject()["project"]["optional-dependencies"]
            if name.startswith("hw")]


def name_of(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


@functools.cache
def _constraints() -> tuple[tuple[str, ...], dict[str, str]]:
    options, pins = [], {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
        else:
            pins[name_of(line)] = line
    return tuple(options), pins


def constraint_options() -> list[str]:
    """Lines of the constraints file that are pip options (the CPU torch index)."""
    return list(_constraints()[0])


def gradescope_pins() -> dict[str, str]:
    """Canonical name -> exact pin (``name==version``) for Gradescope's Python 3.10 image."""
    return dict(_constraints()[1])


def pinned(requirements: list[str]) -> list[str]:
    """Each requirement's Gradescope pin, in the same order."""
    pins = gradescope_pins()
    missing = [r for r in requirements if name_of(r) not in pins]
    if missing:
        raise DependencyError(f"{', '.join(missing)}: no pin in {CONSTRAINTS.relative_to(REPO_ROOT)}")
    return [pins[name_of(r)] for r in requirements]


def homework_pins(homework_id: str) -> tuple[str, ...]:
    """A homework's extra, pinned as Gradescope and the Colab set-up cell install it."""
    return tuple(pinned(extra(homework_id)))


def gradescope_requirements(homework_id: str) -> str:
    """The zip's requirements.txt: index options, then the dependencies and the extra, pinned."""
    lines = constraint_options() + pinned(dependencies()) + list(homework_pins(homework_id))
    return "".join(f"{line}\n" for line in lines)


def everything() -> list[str]:
    """Every requirement, once, in declaration order: dependencies, batch, dev, then each
    homework's extra (the first declaration of a name wins)."""
    seen, out = set(), []
    for requirement in dependencies() + [r for group in (*ALL_EXTRAS, *homework_extras())
                                         for r in extra(group)]:
        if name_of(requirement) not in seen:
            seen.add(name_of(requirement))
            out.append(requirement)
    return out


def _noted(requirement: str, width: int) -> str:
    note = tool().get("notes", {}).get(name_of(requirement))
    return f"{requirement:<{width}} # {note}" if note else requirement


def requirements_txt() -> str:
    """Everything for the notebooks, the grader and the tests (what ``make install`` installs)."""
    lines = ["# GENERATED from pyproject.toml by `python -m autograder deps`: edit that file, not this one.",
             "# Everything for the notebooks, the grader and the tests, on Linux, macOS or Windows.",
             *(_noted(r, 27) for r in everything()),
             "# Installed apart by the Makefile, with pip --no-deps (see pyproject.toml):",
             *(NO_DEPS_MARK + r for r in tool()["no-deps"])]
    return "\n".join(lines) + "\n"


def environment_yml() -> str:
    """The conda equivalent of requirements.txt."""
    pip_only = {canonicalize_name(n) for n in tool()["pip-only"]}
    conda = [r for r in everything() if name_of(r) not in pip_only]
    pip = [r for r in everything() if name_of(r) in pip_only]
    lines = ["# GENERATED from pyproject.toml by `python -m autograder deps`: edit that file, not this one.",
             "# Conda equivalent of requirements.txt:  conda env create -f environment.yml",
             "name: tml-course-kit", "channels:", "  - conda-forge", "dependencies:",
             f"  - python={tool()['conda-python']}",
             *(f"  - {r}" for r in conda), "  - pip", "  - pip:",
             *(f"      - {r}" for r in pip),
             "# Installed apart, without their dependencies (see pyproject.toml):",
             *(f"#   pip install --no-deps {r}" for r in tool()["no-deps"])]
    return "\n".join(lines) + "\n"


def generated() -> dict[str, str]:
    """File name (at the repository root) -> the text it must hold."""
    return {"requirements.txt": requirements_txt(), "environment.yml": environment_yml()}


def stale(root: Path = REPO_ROOT) -> list[str]:
    """The generated files whose committed text differs from what pyproject.toml gives."""
    return [name for name, text in generated().items()
            if not (root / name).is_file() or (root / name).read_text() != text]


def write(root: Path = REPO_ROOT) -> list[str]:
    """Rewrite the stale generated files; returns their names."""
    changed = stale(root)
    for name in changed:
        (root / name).write_text(generated()[name])
    return changed
