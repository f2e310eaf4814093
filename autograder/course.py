"""Course-wide settings, in one place: where the kit lives and how notebooks install it."""
from __future__ import annotations

REPOSITORY = "trustworthy-ml/tml-course-kit"   # GitHub owner/name; change it here only
BRANCH = "main"
PACKAGE = "tml-course-kit"


def repository_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def colab_url(path: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


def setup_cell_source() -> str:
    return ("# Set-up. In Colab this installs the course kit; locally it does nothing.\n"
            "import sys\n"
            "if \"google.colab\" in sys.modules:\n"
            f"    %pip install -q \"{PACKAGE} @ git+{repository_url()}@{BRANCH}\"")
