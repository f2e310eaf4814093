"""Grade one submission: read → extract definitions → sandbox → pytest spec → results."""
from __future__ import annotations

import importlib
import inspect
import os
import threading
import time
from pathlib import Path
from collections.abc import Callable

import pytest

from autograder import homeworks
from tmlkit.notebook import NotebookError, extract_definitions, read_notebook
from autograder.plugin import GradingPlugin
from autograder.results import GradingResult
from autograder.sandbox import Limits, Sandbox
from tmlkit.spec import check_info
from autograder.submission import find_submission

# After the time limit the plugin starts no new check and cuts the running one short. Should the
# grader's own work still run on (a slow reference, a stuck library), a watchdog hands over what
# is graded this many seconds later and ends the process: results.json must exist before
# Gradescope kills the run at 10 minutes.
HARD_STOP_GRACE_S = 20.0


class GraderError(RuntimeError):
    """The grader itself is broken (not the submission): the CLI exits non-zero."""


class UnknownPart(LookupError):
    """A part was asked for that no check of the homework belongs to (the message lists them)."""


def known_parts(homework_id: str) -> list[str]:
    """The section numbers of the homework's checks, in order, e.g. ["1.1", "1.2", "2"]."""
    module = importlib.import_module(f"autograder.homeworks.{homework_id}")
    numbers = {info.number for _, function in inspect.getmembers(module, inspect.isfunction)
               if (info := check_info(function)) is not None}
    return sorted(numbers, key=lambda number: [int(n) if n.isdigit() else n
                                               for n in number.split(".")])


def gpu_sections(homework_id: str) -> list[str]:
    """The sections holding a check whose full criterion needs a GPU (``@check(..., gpu=True)``):
    ``grade-all`` on a cluster grades them, whole, on GPU workers only."""
    module = importlib.import_module(f"autograder.homeworks.{homework_id}")
    return sorted({info.number for _, function in inspect.getmembers(module, inspect.isfunction)
                   if (info := check_info(function)) is not None and info.gpu})


def check_parts(homework_id: str, parts: list[str] | None) -> None:
    """Raise UnknownPart unless each of ``parts`` selects at least one check."""
    if not parts:
        return
    known = known_parts(homework_id)
    for part in parts:
        if not any(number == part or number.startswith(part + ".") for number in known):
            raise UnknownPart(f"{homework_id} has no part {part!r}; its parts: {', '.join(known)}")


def prepare(submission: str | Path, limits: Limits | None = None,
            expected_name: str = "") -> tuple[Sandbox | None, list[str]]:
    """A sandbox holding the submission's definitions, or None and the reason it is unusable.
    ``submission`` is a notebook, or a folder holding one (see ``autograder.submission``)."""
    if Path(submission).is_dir():
        submission, problem = find_submission(submission, expected_name)
        if submission is None:
            return None, [problem]
    try:
        extraction = extract_definitions(read_notebook(submission))
    except NotebookError as error:
        return None, [str(error)]
    return Sandbox(extraction, limits or Limits()), extraction.problems


def grade(homework_id: str, submission: str | Path, limits: Limits | None = None,
          parts: list[str] | None = None, time_limit_s: float | None = None,
          on_hard_stop: Callable[[GradingResult], None] | None = None) -> GradingResult:
    """Grade ``submission`` against the homework's spec (only ``parts`` sections, if given).

    ``time_limit_s`` bounds the whole run: checks not started by then score 0 as "not run". If
    the grader is still busy ``HARD_STOP_GRACE_S`` later, ``on_hard_stop`` receives the result so
    far (e.g. to write results.json) and the process exits."""
    homework = homeworks.get(homework_id)
    check_parts(homework_id, parts)
    began = time.monotonic()
    sandbox, notes = prepare(submission, limits, homework.notebook)
    deadline = began + time_limit_s if time_limit_s else None
    plugin = GradingPlugin(sandbox, notes[0] if sandbox is None else None, parts, deadline)

    def result() -> GradingResult:
        load_problems = sandbox.load_problems if sandbox is not None else []
        all_notes = notes + [p for p in load_problems if p not in notes]
        return GradingResult(homework_id, plugin.results_with_unrun(), time.monotonic() - began,
                             notes=[f"Note: {note}" for note in all_notes],
                             internal_errors=plugin.internal_errors,
                             sandbox=list(sandbox.isolation) if sandbox is not None else [],
                             usage=plugin.usage, leaderboard=plugin.leaderboard)

    watchdog = None
    if deadline is not None:
        def hard_stop() -> None:
            partial = result()
            if sandbox is not None:
                sandbox.stop()
            if on_hard_stop is not None:
                on_hard_stop(partial)
            os._exit(0)
        watchdog = threading.Timer(time_limit_s + HARD_STOP_GRACE_S, hard_stop)
        watchdog.daemon = True
        watchdog.start()
    try:
        exit_code = pytest.main(
            [str(homework.spec), "-p", "no:cacheprovider", "-p", "no:terminal",
             "--import-mode=importlib", "--assert=plain", "-W", "ignore"],
            plugins=[plugin])
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if sandbox is not None:
            sandbox.close()
    if plugin.collection_errors or exit_code in (pytest.ExitCode.INTERRUPTED,
                                                  pytest.ExitCode.INTERNAL_ERROR,
                                                  pytest.ExitCode.USAGE_ERROR,
                                                  pytest.ExitCode.NO_TESTS_COLLECTED):
        raise GraderError(f"The {homework_id} spec could not run (pytest exit code {exit_code}):\n"
                          + "\n".join(plugin.collection_errors))
    return result()
