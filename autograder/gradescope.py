"""Build a Gradescope autograder zip: setup.sh and run_autograder at the root, the grader in source/.

Gradescope unpacks the zip to /autograder (override with $AUTOGRADER_ROOT to test it elsewhere),
runs setup.sh once when building its image, then run_autograder for each submission, which must
leave /autograder/results/results.json.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from autograder import homeworks
from autograder.results import HIDDEN_VISIBILITIES, HIDDEN_VISIBILITY_ENV

PACKAGE_DIR = Path(__file__).resolve().parent

# Pinned for Gradescope's Ubuntu 22.04 image (Python 3.10): the versions pip resolves there,
# checked in a Python 3.10 venv. CPU-only torch keeps the image small. matplotlib and tqdm are
# here because notebooks import them in their definition cells.
REQUIREMENTS = """\
--extra-index-url https://download.pytorch.org/whl/cpu
torch==2.14.1+cpu
torchvision==0.29.1+cpu
numpy==2.2.6
scipy==1.15.3
scikit-learn==1.7.2
nbformat==5.11.1
pytest==9.2.0
pillow==12.3.0
matplotlib==3.10.9
tqdm==4.70.1
"""


SETUP_SH = """\
#!/usr/bin/env bash
# Runs once, when Gradescope builds the image. Installs the grader's pinned dependencies and
# downloads the datasets the checks use, so grading itself never needs the network.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"
python3 -m pip install --no-cache-dir -r requirements.txt
export TML_CACHE_DIR="$ROOT/source/cache"
# Local copies in the formats grading reads cheaply (run_autograder sets TML_DATA_DIR to them).
python3 -c "from autograder.data import save_local_copies; save_local_copies('$ROOT/source/data')"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Grades one submission. Gradescope puts it in $ROOT/submission and reads $ROOT/results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
export TML_CACHE_DIR="${{TML_CACHE_DIR:-$ROOT/source/cache}}"
export TML_DATA_DIR="${{TML_DATA_DIR:-$ROOT/source/data}}"
cd "$ROOT/source"
submission="$ROOT/submission/{notebook}"
if [ ! -f "$submission" ]; then
    # Accept a notebook saved under another name, as long as there is exactly one.
    mapfile -t found < <(find "$ROOT/submission" -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*')
    if [ "${{#found[@]}}" -eq 1 ]; then submission="${{found[0]}}"; fi
fi
mkdir -p "$ROOT/results"
{visibility}exec python3 -m autograder grade {homework} "$submission" --results "$ROOT/results/results.json"
"""


def _add_executable(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


def build_zip(homework_id: str, output: str | Path, hidden_visibility: str | None = None) -> Path:
    """The zip for ``homework_id``. ``hidden_visibility`` ("hidden", "after_due_date") overrides
    the Gradescope visibility of hidden checks, "after_published" by default."""
    homework = homeworks.get(homework_id)
    if hidden_visibility not in (None, *HIDDEN_VISIBILITIES):
        raise ValueError(f"hidden_visibility must be one of {HIDDEN_VISIBILITIES}")
    visibility = (f'export {HIDDEN_VISIBILITY_ENV}="${{{HIDDEN_VISIBILITY_ENV}:-{hidden_visibility}}}"\n'
                  if hidden_visibility else "")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_executable(archive, "setup.sh", SETUP_SH)
        _add_executable(archive, "run_autograder",
                        RUN_AUTOGRADER.format(notebook=homework.notebook, homework=homework.id,
                                              visibility=visibility))
        archive.writestr("source/requirements.txt",
                         REQUIREMENTS + "".join(f"{line}\n" for line in homework.requirements))
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            archive.write(path, f"source/autograder/{path.relative_to(PACKAGE_DIR)}")
    return output
