"""Which file in a submission folder is the notebook to grade: one rule for Gradescope's
run_autograder and for ``grade-all``.

The notebook with the homework's expected name, anywhere under the folder; otherwise the only
``.ipynb``. Zip and editor debris never counts: ``__MACOSX/``, AppleDouble ``._*`` files and
``.ipynb_checkpoints/``. Anything else (no notebook, several candidates) is a problem to report
to the student, never a guess.
"""
from __future__ import annotations

from pathlib import Path

IGNORED_FOLDERS = frozenset({"__MACOSX", ".ipynb_checkpoints"})


def _candidates(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*.ipynb"):
        relative = path.relative_to(folder)
        if any(part in IGNORED_FOLDERS for part in relative.parts[:-1]):
            continue
        if path.name.startswith("._") or not path.is_file():
            continue
        found.append(path)
    return sorted(found)


def find_submission(folder: str | Path, expected: str) -> tuple[Path | None, str]:
    """(the notebook to grade, "") or (None, why no single notebook could be chosen)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, f"The submission folder {folder} does not exist."
    found = _candidates(folder)
    exact = [path for path in found if path.name == expected]
    chosen = exact if exact else found
    if len(chosen) == 1:
        return chosen[0], ""
    if not chosen:
        return None, (f"No notebook was submitted: expected {expected} (or a single .ipynb file), "
                      "but the submission holds none.")
    names = ", ".join(str(path.relative_to(folder)) for path in chosen)
    which = f"named {expected}" if exact else "and none is named " + expected
    return None, (f"{len(chosen)} notebooks were submitted {which}: {names}. Submit only one "
                  "notebook, so the grader knows which one to grade.")
