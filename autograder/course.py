"""Course-wide settings, in one place: where students get the kit, and how notebooks install it.

Students never see this repository. ``python -m autograder student-tree -o DIR`` writes what they
get (notebooks, the ``tmlkit`` package, a README); push it to ``STUDENT_REPOSITORY`` and tag it
``STUDENT_REF``. The notebooks' set-up cell installs ``tmlkit`` from exactly that tag (or
commit), never from a moving branch, so a later push cannot change a running homework.
"""
from __future__ import annotations

STUDENT_REPOSITORY = "trustworthy-ml/tml-homework"   # public GitHub owner/name of the student tree
STUDENT_REF = "v2026.1"                              # the tag or commit the notebooks install
STUDENT_PACKAGE = "tmlkit"


def repository_url() -> str:
    return f"https://github.com/{STUDENT_REPOSITORY}"


def install_target(ref: str = STUDENT_REF) -> str:
    """What the set-up cell gives pip: the student package at one tag or commit."""
    return f"{STUDENT_PACKAGE} @ git+{repository_url()}@{ref}"


def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{STUDENT_REPOSITORY}/blob/{STUDENT_REF}/{path}"


# Packages Colab already ships (installing these pins there would replace its builds; Colab's
# xgboost plays the part of xgboost-cpu).
COLAB_SHIPS = ("scikit-image", "xgboost-cpu")


# Where Colab (Python 3.12) needs another pin than Gradescope's Python 3.10 image: shap 0.49.1,
# the last release for 3.10, cannot read the base_score of an xgboost >= 3.1 model (measured in
# benchmarks/colab_like.py: "could not convert string to float: '[1.5192145E2]'").
COLAB_PINS = {"shap": "shap==0.51.0"}


def colab_extras(requirements: tuple[str, ...]) -> list[str]:
    """What the set-up cell installs in Colab of a homework's pinned extras."""
    return [COLAB_PINS.get(r.split("==")[0], r) for r in requirements
            if r.split("==")[0] not in COLAB_SHIPS]


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
