"""Build a Gradescope autograder zip, laid out as Gradescope's specification says.

Gradescope (``gradescope/autograder_samples``: docs/specs.md, manual_docker/Dockerfile):
- extracts the zip's *contents* into ``/autograder/source``;
- copies ``/autograder/source/run_autograder`` to ``/autograder/run_autograder``;
- runs ``bash /autograder/source/setup.sh`` once, at image build, from no particular directory;
- per submission, runs ``/autograder/run_autograder`` from ``/autograder``, with the student's
  files in ``/autograder/submission``; ``/autograder/results/results.json`` must exist at the end,
  and the run is killed at its time limit (10 minutes by default).

So ``setup.sh``, ``run_autograder``, ``requirements.txt`` and the ``autograder`` package sit at
the zip's root, with the student package in ``student/tmlkit``, and both scripts name every file
by its absolute path. ``$AUTOGRADER_ROOT`` replaces ``/autograder`` in tests only.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from autograder import homeworks
from autograder.results import HIDDEN_VISIBILITIES, HIDDEN_VISIBILITY_ENV

PACKAGE_DIR = Path(__file__).resolve().parent
STUDENT_DIR = PACKAGE_DIR.parent / "student" / "tmlkit"

# The whole run ends by then (seconds), leaving a minute of Gradescope's 10 for start-up and
# the hard-stop grace (autograder.grade.HARD_STOP_GRACE_S). Override per zip, or per run with
# $TML_TIME_LIMIT_S.
DEFAULT_TIME_LIMIT_S = 540

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the image, as `bash /autograder/source/setup.sh`
# from a working directory it does not promise: every path below is absolute.
# TML_SETUP_OFFLINE=1 (tests only) skips what needs the network.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
for needed in "$SOURCE/requirements.txt" "$SOURCE/run_autograder" "$SOURCE/autograder/__main__.py" \
              "$SOURCE/student/tmlkit/child.py"; do
    if [ ! -e "$needed" ]; then
        echo "setup.sh: $needed is missing: zip the files themselves, not their folder" >&2
        exit 1
    fi
done
if [ -z "${{TML_SETUP_OFFLINE:-}}" ]; then
    if ! python3 -m pip --version > /dev/null 2>&1; then
        apt-get update && apt-get install -y python3-pip
    fi
    python3 -m pip install --no-cache-dir -r "$SOURCE/requirements.txt"
fi
DATASETS="{datasets}"
if [ -n "$DATASETS" ] && {{ [ -z "${{TML_SETUP_OFFLINE:-}}" ] || [ -n "${{TML_DATA_DIR:-}}" ]; }}; then
    # Saved where run_autograder reads them; the download cache does not stay in the image.
    DOWNLOADS="$(mktemp -d)"
    TML_CACHE_DIR="$DOWNLOADS" PYTHONPATH="$SOURCE" \\
        python3 -m autograder prepare-data $DATASETS -o "$SOURCE/data"
    rm -rf "$DOWNLOADS"
fi
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this (copied to /autograder/run_autograder) once per submission, from
# /autograder. It grades the notebook in $ROOT/submission and always leaves results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
# Student code runs as `nobody` (the grader runs as root here): it may read the student package
# and the datasets, never the grader's specs and reference implementations.
chmod 711 "$ROOT" "$SOURCE"
chmod -R go-rwx "$SOURCE/autograder" "$SOURCE/setup.sh" "$SOURCE/run_autograder" "$SOURCE/requirements.txt"
chmod -R go+rX "$SOURCE/student"
if [ -d "$SOURCE/data" ]; then export TML_DATA_DIR="$SOURCE/data"; chmod -R go+rX "$SOURCE/data"; fi
{visibility}PYTHONPATH="$SOURCE" python3 -m autograder grade {homework} "$ROOT/submission" \\
    --results "$RESULTS" --time-limit "${{TML_TIME_LIMIT_S:-{time_limit}}}"{leaderboard}
if [ ! -f "$RESULTS" ]; then
    message="The autograder itself failed on this submission, so it could not be graded."
    message="$message Please tell your instructor; your submission is kept."
    printf '{{"score": 0, "output": "%s"}}\\n' "$message" > "$RESULTS"
fi
"""


def _add(archive: zipfile.ZipFile, name: str, data: str | bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_zip(homework_id: str, output: str | Path, hidden_visibility: str | None = None,
              time_limit_s: float = DEFAULT_TIME_LIMIT_S, leaderboard: bool = False) -> Path:
    """The zip for ``homework_id``. ``hidden_visibility`` ("hidden", "after_due_date") overrides
    the Gradescope visibility of hidden checks, "after_published" by default; ``time_limit_s``
    bounds each grading run; with ``leaderboard`` each results.json carries Gradescope's
    leaderboard array (docs/leaderboards.md), from figures the checks measured."""
    from autograder import deps   # reads TOML (Python 3.11+ or tomli): not needed to grade
    homework = homeworks.get(homework_id)
    if hidden_visibility not in (None, *HIDDEN_VISIBILITIES):
        raise ValueError(f"hidden_visibility must be one of {HIDDEN_VISIBILITIES}")
    visibility = (f'export {HIDDEN_VISIBILITY_ENV}="${{{HIDDEN_VISIBILITY_ENV}:-{hidden_visibility}}}"\n'
                  if hidden_visibility else "")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "setup.sh", SETUP_SH.format(datasets=" ".join(homework.datasets)), 0o755)
        _add(archive, "run_autograder",
             RUN_AUTOGRADER.format(homework=homework.id, visibility=visibility,
                                   time_limit=f"{time_limit_s:g}",
                                   leaderboard=" --leaderboard" if leaderboard else ""), 0o755)
        # Fully pinned here, on the instructor's machine: the zip never reads pyproject.toml.
        _add(archive, "requirements.txt", deps.gradescope_requirements(homework.id))
        for folder, name in ((PACKAGE_DIR, "autograder"), (STUDENT_DIR, "student/tmlkit")):
            for path in sorted(folder.rglob("*.py")):
                _add(archive, f"{name}/{path.relative_to(folder)}", path.read_bytes())
    return output
