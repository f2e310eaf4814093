"""The notebook's check cells: run a part's public checks on the notebook's own functions.

    selfcheck("hw1", "1.1", globals())

These are the very tests the grader runs (hidden ones excepted), called directly in the
notebook's process, so what passes here passes there. In a course run with nbgrader the same cells
are its autograder test cells: under ``nbgrader autograde`` (which sets $NBGRADER_EXECUTION) a
failed check raises, so nbgrader withholds the cell's points. Elsewhere the cell only prints, so
"Run all" in Colab does not stop at the first unfinished part.
"""
from __future__ import annotations

import importlib
import inspect
import os

from autograder.sandbox import LocalSubmission, SubmissionError
from autograder.spec import CheckFailed, PartialCredit, check_info, take_notes, title


def public_checks(homework: str, part: str):
    module = importlib.import_module(f"autograder.homeworks.{homework}")
    for name, function in inspect.getmembers(module, inspect.isfunction):
        info = check_info(function)
        if name.startswith("test_") and info and info.visibility == "visible" and \
                (info.number == part or info.number.startswith(part + ".")):
            yield function, info


def _notebook_cells(namespace: dict) -> list[tuple[int, str]]:
    """The definitions in the code this IPython session has run (its `In` history)."""
    from autograder.notebook import extract_cell
    cells = []
    for index, source in enumerate(namespace.get("In", []) or []):
        kept, _ = extract_cell(index, source) if isinstance(source, str) else (None, None)
        if kept is not None:
            cells.append((kept.index, kept.source))
    return cells


def selfcheck(homework: str, part: str, namespace: dict) -> bool:
    """Print ✓ or ✗ with a message for each public check of ``part``; True if all passed."""
    fixtures = {"hw": LocalSubmission(namespace), "submission_cells": _notebook_cells(namespace)}
    all_passed = True
    checks = sorted(public_checks(homework, part), key=lambda pair: pair[0].__code__.co_firstlineno)
    for function, info in checks:
        take_notes()
        try:
            wanted = inspect.signature(function).parameters
            function(**{name: fixtures[name] for name in wanted})
            mark, message = "✓", ""
        except PartialCredit as partial:
            mark, message = "~", str(partial)
            all_passed = False
        except (CheckFailed, SubmissionError) as failure:
            mark, message = "✗", str(failure)
            all_passed = False
        message = "\n".join(take_notes() + ([message] if message else []))
        print(f"{mark} [{info.points:g} pt] {title(function)}")
        for line in message.splitlines():
            print(f"    {line}")
    if not checks:
        print(f"No public checks for part {part} of {homework}.")
    if not all_passed and os.environ.get("NBGRADER_EXECUTION"):
        raise AssertionError(f"{homework} part {part}: some public checks failed (see above)")
    return all_passed


def public_points(homework: str, part: str) -> float:
    return sum(info.points for _, info in public_checks(homework, part))
