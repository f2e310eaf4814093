"""What a homework spec is made of: checks declared with their points, beside the test.

A homework spec is a pytest module of ``test_*`` functions taking the fixture ``hw``, the student's
functions. Each carries ``@check(number, points, ...)``, so the spec reads as a table of contents
that an instructor can re-weight without reading the engine::

    @check("1.1", points=2)
    def test_backward_matches_finite_differences(hw):
        '''backward: gradients match centred finite differences'''
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
HIDDEN = "after_published"


class CheckFailed(AssertionError):
    """A check found the student's answer wrong; the message says what and where to look."""


class PartialCredit(Exception):
    """End a test with a fraction of its points, e.g. a correct inversion that used extra queries."""

    def __init__(self, fraction: float, message: str):
        super().__init__(message)
        self.fraction = min(1.0, max(0.0, float(fraction)))


_notes: list[str] = []


def note(text: str) -> None:
    """Add a line to the current test's output, e.g. a measured figure, pass or fail."""
    _notes.append(text)


def take_notes() -> list[str]:
    taken = list(_notes)
    _notes.clear()
    return taken


_leaderboard: list[dict] = []


def leaderboard(name: str, value: float, order: str = "desc") -> None:
    """Post a figure the check itself measured to Gradescope's leaderboard (``name``, ``value``,
    ``order``: "desc" ranks higher values first, "asc" lower). Only the grader's own
    measurements go there, never a value the notebook reports; results.json carries them when
    the zip was built with ``--leaderboard``."""
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
    _leaderboard.append({"name": name, "value": round(float(value), 6), "order": order})


def take_leaderboard() -> list[dict]:
    taken = list(_leaderboard)
    _leaderboard.clear()
    return taken


@dataclass(frozen=True)
class CheckInfo:
    number: str
    points: float
    visibility: str
    timeout: float | None
    fresh_process: bool = False
    gpu: bool = False


def check(number: str, points: float, *, hidden: bool = False, visibility: str | None = None,
          timeout: float | None = None, fresh_process: bool = False, gpu: bool = False):
    """Declare a test's section number, points and visibility.

    Its time limit, in CPU seconds of the student's process, comes from the reference solution's
    measured time (``autograder/limits.py``); ``timeout`` can only raise it, for work with a
    budget of its own (HW1's CIFAR-10 training).

    ``fresh_process`` restarts the student's process before the check (outside its time limit),
    so that a heavy check, such as training on CIFAR-10, does not inherit the memory that earlier
    checks left behind there: Gradescope's container holds 768 MB in all.

    ``gpu`` says that the check's full criterion needs a CUDA GPU (elsewhere it falls back to a
    smaller CPU run): ``grade-all`` on a Dask cluster sends its section only to workers started
    with ``--resources GPU=1``."""
    chosen = visibility or (HIDDEN if hidden else "visible")
    if chosen not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, not {chosen!r}")
    return pytest.mark.check(CheckInfo(number, float(points), chosen,
                                       None if timeout is None else float(timeout), fresh_process,
                                       gpu))


def hidden_rng() -> np.random.Generator:
    """Fresh randomness for hidden checks on every grading run, so no answer can be tailored to
    them; $TML_GRADER_SEED fixes it for a reproducible regrade."""
    seed = os.environ.get("TML_GRADER_SEED")
    return np.random.default_rng(int(seed) if seed else None)


def check_info(function) -> CheckInfo | None:
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "check":
            return mark.args[0]
    return None


def title(function) -> str:
    """A test's name for students: its docstring's first line, else its function name."""
    doc = (function.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else function.__name__.removeprefix("test_").replace("_", " ")


def in_part(number: str, part: str) -> bool:
    """Whether a check numbered ``number`` ("2.1") belongs to ``part`` ("2" or "2.1")."""
    return number == part or number.startswith(part + ".")


def check_order(function) -> tuple:
    """Where a check comes in its homework: by section, visible checks (written in the student
    package) before hidden ones (in the grader's spec), then in the order they are written."""
    info = check_info(function)
    section = [int(n) if n.isdigit() else n for n in info.number.split(".")]
    return section, info.visibility != "visible", function.__code__.co_firstlineno
