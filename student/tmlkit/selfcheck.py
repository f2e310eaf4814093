"""The notebook's check cells: run a part's public checks on what the grader would grade.

    selfcheck("hw1", "1.1", globals())

The functions checked are not the notebook's live objects. The cells this session has run (its
``In`` history) go through the grader's own extraction, which keeps imports, functions, classes
and constants and drops top-level work, and the kept code runs again in a fresh namespace. A
function that reads a notebook variable (``x_train``, a trained ``cnn``) therefore fails here with
the grader's own message, naming the variable, instead of passing here and failing there.

The checks are the grader's visible checks themselves: each is written once, in
``tmlkit.public.hwN``, and the grader's spec imports it. Where a check compares with the grader's
reference implementation, it takes the value that ``make notebooks`` recorded on the same public
inputs (``tmlkit.recorded``); where this environment builds other inputs, the check says it
cannot judge here (·) rather than guess.

In a course run with nbgrader the same cells are its autograder test cells: under ``nbgrader
autograde`` (which sets $NBGRADER_EXECUTION) a failed check raises, so nbgrader withholds the
cell's points. Elsewhere the cell only prints, so "Run all" in Colab does not stop at the first
unfinished part.
"""
from __future__ import annotations

import importlib
import inspect
import linecache
import os
import types

from tmlkit import wire
from tmlkit.errors import MissingFunction, StudentException, SubmissionError
from tmlkit.notebook import extract_cell
from tmlkit.recorded import CannotJudgeHere, Recorded
from tmlkit.spec import (CheckFailed, PartialCredit, check_info, check_order, in_part,
                         take_leaderboard, take_notes, title)


def public_checks(homework: str, part: str):
    """(test function, CheckInfo) of the part's visible checks, in the spec's order."""
    module = importlib.import_module(f"tmlkit.public.{homework}")
    found = [(function, info) for name, function in vars(module).items()
             if name.startswith("test_") and callable(function)
             and (info := check_info(function)) is not None and info.visibility == "visible"
             and function.__module__ == module.__name__ and in_part(info.number, part)]
    return sorted(found, key=lambda pair: check_order(pair[0]))


def run_check(function, fixtures: dict) -> None:
    """Call a check with the fixtures it asks for, as pytest would."""
    wanted = inspect.signature(function).parameters
    function(**{name: fixtures[name] for name in wanted if name in fixtures})


def kept_definitions(history: list) -> tuple[types.ModuleType, list[str]]:
    """A fresh module holding what the grader keeps from these cell sources, in order."""
    module = types.ModuleType("submission")
    problems = []
    for index, source in enumerate(history):
        if not isinstance(source, str) or not source.strip():
            continue
        kept, problem = extract_cell(index, source)
        if problem:
            problems.append(problem)
        if kept is None:
            continue
        filename = f"<cell {index}>"
        linecache.cache[filename] = (len(kept.source), None, kept.source.splitlines(True), filename)
        try:
            exec(compile(kept.source, filename, "exec"), module.__dict__)
        except Exception as error:     # the grader would lose this cell's names too
            problems.append(f"Cell {index} raised {type(error).__name__} while its definitions "
                            f"ran: {error}")
    return module, problems


class LocalSubmission:
    """The grader's interface (``hw.softmax(Z)``) over the definitions kept from the notebook."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._namespace:
            raise MissingFunction(f"`{name}` is not defined: run the cell that defines it (and "
                                  "keep the name and signature given in the homework).")
        function = self._namespace[name]

        def local(*args, **kwargs):
            build = wire.builder()
            args, kwargs = wire.resolve_builds(args, build), wire.resolve_builds(kwargs, build)
            try:
                return function(*args, **kwargs)
            except Exception as error:
                raise StudentException(name, type(error).__name__, str(error), "", "") from None
        return local


def checked_on_submission(homework: str) -> dict[str, str]:
    """{check: why only the grader judges it}: the checks whose reference runs on what the
    student's code produced (found when the expected values were recorded)."""
    return dict(Recorded(homework).recording.get("not_local", {}))


def judge(function, fixtures: dict) -> tuple[str, str]:
    """Run one check: its mark (✓ passed, ~ partial credit, ✗ failed, · cannot judge here) and
    what it printed."""
    take_notes()
    take_leaderboard()          # only the grader posts to the leaderboard
    try:
        run_check(function, fixtures)
        mark, message = "✓", ""
    except PartialCredit as partial:
        mark, message = "~", str(partial)
    except (CheckFailed, SubmissionError) as failure:
        mark, message = "✗", str(failure)
    except CannotJudgeHere as reason:
        mark, message = "·", str(reason)
    return mark, "\n".join(take_notes() + ([message] if message else []))


def local_fixtures(history: list, namespace: dict, homework: str) -> tuple[dict, list[str]]:
    """The fixtures a check asks for, over what the grader would keep of these cells, and the
    problems the extraction found."""
    if history:                  # IPython (Jupyter, Colab): judge what the grader would keep
        module, problems = kept_definitions(list(history))
        definitions = module.__dict__
    else:                        # a plain Python session: its namespace is all there is
        definitions, problems = namespace, []
    cells = [(index, source) for index, source in enumerate(history or [])
             if isinstance(source, str)]
    # ``notebook`` (the live globals) only for checks that may judge a run the notebook already
    # made, as hw1's GPU training, instead of repeating it; the grader never passes it.
    return {"hw": LocalSubmission(definitions), "submission_cells": cells,
            "notebook": namespace, "expected": expected_values(homework)}, problems


def expected_values(homework: str):
    """The ``expected`` fixture: the recorded values; under ``nbgrader autograde`` (on the
    instructor's machine) the grader's references, live, so that nbgrader can also award the
    checks that only the grader judges."""
    if not os.environ.get("NBGRADER_EXECUTION"):
        return Recorded(homework)
    try:
        spec = importlib.import_module(f"autograder.homeworks.{homework}")
        live = importlib.import_module("autograder.plugin").Live
    except ImportError:
        raise AssertionError(f"{homework}: nbgrader autograde needs the grader's package for the "
                             "checks that compare with its references: put the kit on "
                             "PYTHONPATH when running it") from None
    return live(getattr(spec, "REFERENCES", {}))


def selfcheck(homework: str, part: str, namespace: dict) -> bool:
    """Print ✓, ✗ (or ~, partial credit) with a message for each visible check of ``part``, or ·
    where this environment cannot judge it; True if all passed."""
    fixtures, problems = local_fixtures(namespace.get("In"), namespace, homework)
    all_passed = True
    checks = public_checks(homework, part)
    for function, info in checks:
        mark, message = judge(function, fixtures)
        all_passed = all_passed and mark == "✓"
        print(f"{mark} [{info.points:g} pt] {title(function)}")
        for line in message.splitlines():
            print(f"    {line}")
    if not checks:
        print(f"No public checks for part {part} of {homework}.")
    for problem in problems:
        print(f"Note: {problem}")
    if not all_passed and os.environ.get("NBGRADER_EXECUTION"):
        raise AssertionError(f"{homework} part {part}: some public checks failed or could not "
                             "be judged in this environment (see above)")
    return all_passed
