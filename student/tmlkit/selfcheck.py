"""The notebook's check cells: run a part's public checks on what the grader would grade.

    selfcheck("hw1", "1.1", globals())

The functions checked are not the notebook's live objects. The cells this session has run (its
``In`` history) go through the grader's own extraction, which keeps imports, functions, classes
and constants and drops top-level work, and the kept code runs again in a fresh namespace. A
function that reads a notebook variable (``x_train``, a trained ``cnn``) therefore fails here with
the grader's own message, naming the variable, instead of passing here and failing there.

The checks are the grader's public checks (``tmlkit.public.hwN``, generated from the grader's
spec). A few public checks compare with the grader's own reference implementation of the very
function being graded; those cannot ship to students and say so here.

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
from tmlkit.spec import CheckFailed, PartialCredit, check_info, take_leaderboard, take_notes, title


def public_checks(homework: str, part: str):
    """(test function, CheckInfo) of the part's public checks, in the spec's order."""
    module = importlib.import_module(f"tmlkit.public.{homework}")
    found = []
    for name, function in inspect.getmembers(module, inspect.isfunction):
        info = check_info(function)
        if name.startswith("test_") and info and info.visibility == "visible" and \
                (info.number == part or info.number.startswith(part + ".")):
            found.append((function, info))
    return sorted(found, key=lambda pair: pair[0].__code__.co_firstlineno)


def grader_only_checks(homework: str, part: str) -> list[tuple[str, float]]:
    """(title, points) of the part's public checks that only the grader runs."""
    module = importlib.import_module(f"tmlkit.public.{homework}")
    return [(name, points) for number, name, points in module.GRADER_ONLY
            if number == part or number.startswith(part + ".")]


def checks_needing_the_grader(homework: str, part: str) -> list:
    """Under ``nbgrader autograde`` (on the instructor's machine, with the grader importable),
    the part's public checks that compare with the grader's own references, taken from its
    spec: so nbgrader awards a self-check cell's points only for what was checked. Elsewhere
    none."""
    wanted = {name for name, _ in grader_only_checks(homework, part)}
    if not wanted or not os.environ.get("NBGRADER_EXECUTION"):
        return []
    try:
        spec = importlib.import_module(f"autograder.homeworks.{homework}")
    except ImportError:
        raise AssertionError(f"{homework} part {part}: {len(wanted)} public checks need the "
                             "grader's package, which this kernel cannot import: put the kit "
                             "on PYTHONPATH when running nbgrader autograde") from None
    found = [(function, check_info(function)) for name, function in vars(spec).items()
             if name.startswith("test_") and callable(function) and check_info(function)
             and title(function) in wanted]
    return sorted(found, key=lambda pair: pair[0].__code__.co_firstlineno)


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


def selfcheck(homework: str, part: str, namespace: dict) -> bool:
    """Print ✓ or ✗ with a message for each public check of ``part``; True if all passed."""
    history = namespace.get("In")
    if history:                  # IPython (Jupyter, Colab): judge what the grader would keep
        module, problems = kept_definitions(list(history))
        definitions = module.__dict__
    else:                        # a plain Python session: its namespace is all there is
        definitions, problems = namespace, []
    cells = [(index, source) for index, source in enumerate(history or [])
             if isinstance(source, str)]
    # ``notebook`` (the live globals) only for checks that may judge a run the notebook already
    # made, as hw1's GPU training, instead of repeating it; the grader never passes it.
    fixtures = {"hw": LocalSubmission(definitions), "submission_cells": cells,
                "notebook": namespace}
    all_passed = True
    from_grader = checks_needing_the_grader(homework, part)
    checks = public_checks(homework, part) + from_grader
    for function, info in checks:
        take_notes()
        take_leaderboard()          # only the grader posts to the leaderboard
        try:
            wanted = inspect.signature(function).parameters
            function(**{name: fixtures[name] for name in wanted if name in fixtures})
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
    ran = {title(function) for function, _ in from_grader}
    for name, points in grader_only_checks(homework, part):
        if name not in ran:
            print(f"· [{points:g} pt] {name}\n    checked when you submit: it compares with the "
                  "grader's own implementation, which is not given out")
    if not checks and not grader_only_checks(homework, part):
        print(f"No public checks for part {part} of {homework}.")
    for problem in problems:
        print(f"Note: {problem}")
    if not all_passed and os.environ.get("NBGRADER_EXECUTION"):
        raise AssertionError(f"{homework} part {part}: some public checks failed (see above)")
    return all_passed
