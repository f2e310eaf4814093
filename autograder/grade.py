"""Grade one submission: read → extract definitions → sandbox → pytest spec → results."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from autograder import homeworks
from autograder.notebook import NotebookError, extract_definitions, read_notebook
from autograder.plugin import GradingPlugin
from autograder.results import GradingResult
from autograder.sandbox import Limits, Sandbox


class GraderError(RuntimeError):
    """The grader itself is broken (not the submission): the CLI exits non-zero."""


def prepare(submission: str | Path, limits: Limits | None = None) -> tuple[Sandbox | None, list[str]]:
    """A sandbox holding the submission's definitions, or None and the reason it is unusable."""
    try:
        extraction = extract_definitions(read_notebook(submission))
    except NotebookError as error:
        return None, [str(error)]
    return Sandbox(extraction, limits or Limits()), extraction.problems


def grade(homework_id: str, submission: str | Path, limits: Limits | None = None,
          parts: list[str] | None = None) -> GradingResult:
    """Grade ``submission`` against the homework's spec (only ``parts`` sections, if given)."""
    homework = homeworks.get(homework_id)
    began = time.monotonic()
    sandbox, notes = prepare(submission, limits)
    plugin = GradingPlugin(sandbox, notes[0] if sandbox is None else None, parts)
    try:
        exit_code = pytest.main(
            [str(homework.spec), "-p", "no:cacheprovider", "-p", "no:terminal",
             "--import-mode=importlib", "--assert=plain", "-W", "ignore"],
            plugins=[plugin])
    finally:
        if sandbox is not None:
            sandbox.close()
    if plugin.collection_errors or exit_code in (pytest.ExitCode.INTERRUPTED,
                                                  pytest.ExitCode.INTERNAL_ERROR,
                                                  pytest.ExitCode.USAGE_ERROR,
                                                  pytest.ExitCode.NO_TESTS_COLLECTED):
        raise GraderError(f"The {homework_id} spec could not run (pytest exit code {exit_code}):\n"
                          + "\n".join(plugin.collection_errors))
    if sandbox is not None and sandbox.load_problems:
        notes = notes + [p for p in sandbox.load_problems if p not in notes]
    return GradingResult(homework_id, plugin.results, time.monotonic() - began,
                         notes=[f"Note: {note}" for note in notes],
                         internal_errors=plugin.internal_errors,
                         sandbox=list(sandbox.isolation) if sandbox is not None else [],
                         usage=plugin.usage)
