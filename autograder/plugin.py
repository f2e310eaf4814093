"""The pytest plugin that turns a spec's test outcomes into graded results.

It provides the ``hw`` fixture (the submission's functions, run in the sandbox) and ``expected``
(the spec's references, computed live), gives each test its CPU-time budget
(``autograder/limits.py``), and records points from how each test ended.
"""
from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from autograder.limits import cpu_limit
from autograder.results import TestResult
from autograder.sandbox import Budget, Sandbox, Submission, SubmissionError
from tmlkit.child import return_free_memory
from tmlkit.spec import (CheckFailed, PartialCredit, check_info, check_order, take_leaderboard,
                         take_notes, title)

NOT_RUN = "not run: the grading time limit was reached"


class Live:
    """The grader's ``expected``: ``expected(name, *inputs)`` is ``REFERENCES[name](*inputs)``
    (``trusted``, what the inputs were built from, only matters to recordings)."""

    def __init__(self, references: dict):
        self.references = references

    def __call__(self, reference: str, *inputs, trusted=None):
        return self.references[reference](*inputs)


class on_submission:  # noqa: N801  (used as a function, beside the spec's references)
    """A reference that runs on what the student's code produced, so that only the grader can
    judge the check: the notebook's self-check says so, with ``reason``."""

    def __init__(self, reference, reason: str):
        self.reference, self.reason = reference, reason

    def __call__(self, *inputs):
        return self.reference(*inputs)


class TimeLimitReached(SubmissionError):
    """The whole grading run is out of time: this check was not started."""


class GradingPlugin:
    def __init__(self, sandbox: Sandbox | None, unusable_reason: str | None = None,
                 parts: list[str] | None = None, deadline: float | None = None):
        self.sandbox = sandbox
        self.deadline = deadline                 # time.monotonic() by which the run must end
        self.items: list = []                    # the checks collected, in order
        self.parts = parts                       # grade only these sections, e.g. ["2.3"]
        self.unusable_reason = unusable_reason   # the notebook could not be read at all
        self.results: list[TestResult] = []
        self.internal_errors: list[str] = []
        self.collection_errors: list[str] = []
        self.usage: dict[str, dict[str, float]] = {}   # test → the child's cpu_s and wall_s on it
        self.leaderboard: list[dict] = []        # figures the checks measured (tmlkit.spec.leaderboard)

    def pytest_configure(self, config):
        config.addinivalue_line("markers", "check: points, visibility and time limit of a check")

    def pytest_collection_modifyitems(self, config, items):
        items.sort(key=lambda item: check_order(item.function) if check_info(item.function)
                   else ((), False, 0))
        if self.parts:
            def wanted(item):
                info = check_info(item.function)
                return info is not None and any(info.number == part or
                                                info.number.startswith(part + ".")
                                                for part in self.parts)
            items[:] = [item for item in items if wanted(item)]
        self.items = list(items)

    def results_with_unrun(self) -> list[TestResult]:
        """The results so far, plus a zero for every collected check that has none yet."""
        done = list(self.results)
        names = {(r.number, r.name) for r in done}
        for item in self.items:
            info = check_info(item.function)
            if info is not None and (info.number, title(item.function)) not in names:
                done.append(TestResult(info.number, title(item.function), 0.0, info.points,
                                       NOT_RUN, info.visibility, item.name))
        return done

    @pytest.fixture(scope="session")
    def hw(self):
        if self.sandbox is None:
            raise SubmissionError(self.unusable_reason or "No submission was given.")
        return Submission(self.sandbox)

    @pytest.fixture(scope="module")
    def expected(self, request) -> Live:
        """What a visible check compares with, computed now by the spec's ``REFERENCES`` (the
        notebook's self-check reads the values recorded from the same computation)."""
        return Live(getattr(request.module, "REFERENCES", {}))

    @pytest.fixture(scope="session")
    def submission_cells(self) -> list[tuple[int, str]]:
        """(cell number, kept source) of each code cell, for checks on the code itself."""
        if self.sandbox is None:
            raise SubmissionError(self.unusable_reason or "No submission was given.")
        return [(cell.index, cell.source) for cell in self.sandbox.extraction.cells]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        info = check_info(item.function)
        take_notes()
        take_leaderboard()
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeLimitReached(NOT_RUN)
        if self.sandbox is not None and info is not None:
            if info.fresh_process:
                gc.collect()        # what earlier checks left in the grader, before a heavy one
                self.sandbox.restart()
            limit = cpu_limit(Path(item.path).stem, item.name, info.timeout)
            cap = self.sandbox.limits.call_timeout_s
            self.sandbox.budget = Budget.of(min(limit, cap or limit), self.sandbox.limits)
            self.sandbox.deadline = self.deadline     # the whole run's cut-off, if any
        try:
            yield
        finally:
            return_free_memory()
            if self.sandbox is not None:
                if self.sandbox.budget is not None:
                    spent = self.sandbox.budget
                    self.usage[item.name] = {"cpu_s": spent.cpu_used, "wall_s": spent.wall_used}
                self.sandbox.budget = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        yield
        if call.when == "teardown" or (call.when == "setup" and call.excinfo is None):
            return
        info = check_info(item.function)
        if info is None:
            return
        score, message = self._score(item, info, call.excinfo)
        message = "\n".join(take_notes() + ([message] if message else []))
        self.leaderboard += take_leaderboard()
        self.results.append(TestResult(info.number, title(item.function), score, info.points,
                                       message, info.visibility, item.name))

    def _score(self, item, info, excinfo) -> tuple[float, str]:
        if excinfo is None:
            return info.points, ""
        error = excinfo.value
        if isinstance(error, PartialCredit):
            return round(info.points * error.fraction, 6), str(error)
        if isinstance(error, (CheckFailed, SubmissionError)):
            return 0.0, str(error)
        if excinfo.errisinstance(pytest.skip.Exception):
            return 0.0, f"Not graded here: {error.msg}"
        if isinstance(error, AssertionError):
            return 0.0, str(error).split("\nassert ")[0]
        self.internal_errors.append(f"{item.nodeid}: {type(error).__name__}: {error}")
        return 0.0, (f"The grader could not finish this check ({type(error).__name__}: {error}). "
                     "Usually this means a function returned a value of an unexpected type or "
                     "shape; if yours looks right, tell your instructor.")

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append(str(report.longrepr))
