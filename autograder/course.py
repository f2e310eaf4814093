"""Course-wide settings, in one place: where the kit lives and how notebooks install it."""
from __future__ import annotations

REPOSITORY = "trustworthy-ml/tml-course-kit"   # GitHub owner/name; change it here only
BRANCH = "main"
PACKAGE = "tml-course-kit"


def repository_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


# Packages Colab already ships (installing these pins there would replace its builds; Colab's
# xgboost plays the part of xgboost-cpu).
COLAB_SHIPS = ("scikit-image", "xgboost-cpu")


def setup_cell_source(requirements: tuple[str, ...] = ()) -> str:
    """The notebooks' first code cell; ``requirements`` are a homework's pinned extras."""
    extras = [r for r in requirements if r.split("==")[0] not in COLAB_SHIPS]
    lines = ["# Set-up. In Colab this installs the course kit; locally it does nothing.",
             "import sys",
             "if \"google.colab\" in sys.modules:",
             f"    %pip install -q \"{PACKAGE} @ git+{repository_url()}@{BRANCH}\""]
    if extras:
        lines.append(f"    %pip install -q {' '.join(extras)}")
    return "\n".join(lines)
