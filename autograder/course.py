"""Course-wide settings, in one place: where students get the kit, and how notebooks install it.

Students never see this repository. ``python -m autograder student-tree -o DIR`` writes what they
get (notebooks, the ``tmlkit`` package, a README); push it to ``STUDENT_REPOSITORY`` and tag it
``STUDENT_REF``. The Colab badges open the notebooks at ``STUDENT_REF``; the notebooks' set-up
cell installs ``tmlkit`` from ``PACKAGE_REF``: the same tag, or a full commit hash of a tree
already pushed (a commit cannot name itself, so pin a commit in two pushes: the tree, then the
tree whose set-up cells name that first commit). Never a moving branch, so a later push cannot
change a running homework.

``STUDENT_REPOSITORY`` starts as a placeholder: until an adopter names a real repository,
``student-tree`` refuses to write the tree and ``release`` writes no Colab link (a note stands in
for the README's badges), each saying which setting to change.
"""
from __future__ import annotations

import re

PLACEHOLDER_REPOSITORY = "trustworthy-ml/tml-homework"   # nobody's repository: change it
STUDENT_REPOSITORY = PLACEHOLDER_REPOSITORY   # public GitHub owner/name of the student tree
STUDENT_REF = "v2026.1"     # the tag the Colab badges open the notebooks at
PACKAGE_REF = STUDENT_REF   # the tag, or full commit hash, the set-up cell installs tmlkit from
STUDENT_PACKAGE = "tmlkit"
SETTINGS = "autograder/course.py"
_COMMIT = re.compile(r"[0-9a-f]{40}")


class PlaceholderRepository(RuntimeError):
    """The student repository is still the placeholder: no link to it may be written."""


def is_placeholder() -> bool:
    return STUDENT_REPOSITORY == PLACEHOLDER_REPOSITORY


def require_repository() -> None:
    if is_placeholder():
        raise PlaceholderRepository(
            f"STUDENT_REPOSITORY in {SETTINGS} is still the placeholder {PLACEHOLDER_REPOSITORY!r}: "
            "set it to the public GitHub repository (owner/name) your students get the kit from.")


def is_commit(ref: str) -> bool:
    return bool(_COMMIT.fullmatch(ref))


def repository_url() -> str:
    return f"https://github.com/{STUDENT_REPOSITORY}"


def install_target(ref: str | None = None) -> str:
    """What the set-up cell gives pip: the student package at one tag or commit."""
    ref = PACKAGE_REF if ref is None else ref
    if re.fullmatch(r"[0-9a-fA-F]{7,39}", ref) and not is_commit(ref):
        raise ValueError(f"PACKAGE_REF {ref!r} in {SETTINGS}: pin a commit by its full 40-digit "
                         "lower-case hash")
    return f"{STUDENT_PACKAGE} @ git+{repository_url()}@{ref}"


def colab_url(path: str) -> str:
    """A notebook's Colab link; refused while the repository is the placeholder."""
    require_repository()
    return f"https://colab.research.google.com/github/{STUDENT_REPOSITORY}/blob/{STUDENT_REF}/{path}"


# Packages Colab already ships (installing these pins there would replace its builds; Colab's
# xgboost plays the part of xgboost-cpu).
COLAB_SHIPS = ("scikit-image", "xgboost-cpu")


# Every student install (the Colab set-up cell and the student tree's requirements.txt) takes a
# homework's extras at Gradescope's pins, except these. shap 0.49.1, the last release for
# Gradescope's Python 3.10, cannot read the base_score of an xgboost-cpu 3.2.0 model ("could not
# convert string to float: '[7.475622E-1]'", measured on Python 3.10.13 and 3.12.1; grading never
# runs TreeSHAP); shap 0.51.0 can, and needs Python >= STUDENT_PYTHON (Colab has 3.12).
STUDENT_PINS = {"shap": "shap==0.51.0"}
STUDENT_PYTHON = "3.11"


def student_pins(requirements: tuple[str, ...]) -> list[str]:
    """A homework's pinned extras as students install them."""
    return [STUDENT_PINS.get(r.split("==")[0], r) for r in requirements]


def colab_extras(requirements: tuple[str, ...]) -> list[str]:
    """What the set-up cell installs in Colab of a homework's pinned extras."""
    return [r for r in student_pins(requirements) if r.split("==")[0] not in COLAB_SHIPS]


def setup_cell_source(requirements: tuple[str, ...] = ()) -> str:
    """The notebooks' first code cell; ``requirements`` are a homework's pinned extras."""
    extras = colab_extras(requirements)
    lines = ["# Set-up. In Colab this installs the course's package; locally it does nothing.",
             "import sys",
             "if \"google.colab\" in sys.modules:",
             f"    %pip install -q \"{install_target()}\""]
    if extras:
        lines.append(f"    %pip install -q {' '.join(extras)}")
    return "\n".join(lines)
