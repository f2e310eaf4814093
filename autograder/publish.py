"""What the notebooks' self-checks compare with: the reference's values on the public inputs.

The visible checks are written once, in ``student/tmlkit/public/hwN.py``; the grader's spec
imports them. A visible check that needs the grader's reference asks its ``expected`` fixture
(``tmlkit.recorded``). ``record`` runs each such check on the reference solution, with an
``expected`` that computes the spec's ``REFERENCES`` live and keeps each value under the
fingerprint of its inputs; ``write_recordings`` (part of ``python -m autograder release``, so of
``make notebooks``) writes them to ``student/tmlkit/recordings/hwN.py``, which ships to students.

The data a check draws from depends on the machine: MNIST where a copy is at hand (Colab downloads
it; ``$TML_DATA_DIR`` for the kit), scikit-learn's 8x8 digits where not. ``record`` records each
data source in a process of its own, so that no cached dataset or trained model crosses over; the
fingerprints keep their values apart, and a student's self-check finds the ones for its data.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import pprint
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from autograder import homeworks
from autograder.plugin import Live, on_submission
from tmlkit.recorded import encode, environment, fingerprint
from tmlkit.selfcheck import LocalSubmission, kept_definitions, run_check
from tmlkit.spec import check_info

RECORDED_DIR = Path(__file__).resolve().parents[1] / "student" / "tmlkit" / "recordings"
HEADER = '''"""Expected values of {homework}'s visible checks, recorded on the reference solution by
``python -m autograder release`` (``make notebooks``); do not edit. See tmlkit.recorded."""

'''


def is_answer_key(function_name: str) -> bool:
    """A spec's own reference implementation of a graded function, by the naming convention."""
    return function_name.lstrip("_").startswith("reference")


def _check_call(function: ast.FunctionDef) -> ast.Call | None:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "check":
            return decorator
    return None


def _is_visible(call: ast.Call) -> bool:
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords
                if k.arg in ("hidden", "visibility")}
    return keywords.get("visibility", "hidden" if keywords.get("hidden") else "visible") == "visible"


class Recorder(Live):
    """A live ``expected`` that keeps each value it computes under its inputs' fingerprint, and
    the checks that use a reference marked ``on_submission``."""

    def __init__(self, references: dict):
        super().__init__(references)
        self.values: dict[str, dict[str, object]] = {}
        self.on_submission: dict[str, str] = {}     # reference → why only the grader runs it
        self.not_local: dict[str, str] = {}         # check → the same reason
        self.check = ""                             # the check being recorded

    def __call__(self, reference: str, *inputs, trusted=None):
        function = self.references[reference]
        if isinstance(function, on_submission):
            self.on_submission[reference] = self.not_local[self.check] = function.reason
            return function(*inputs)
        key = fingerprint(*inputs, trusted)     # before the reference runs: it may touch a model
        value = function(*inputs)
        self.values.setdefault(reference, {})[key] = encode(value)
        return value


def solution_fixtures(homework_id: str) -> dict:
    """The fixtures of a self-check on the reference solution: what the grader keeps of it."""
    solution = nbformat.read(homeworks.get(homework_id).solution, as_version=4)
    sources = [cell.source for cell in solution.cells if cell.cell_type == "code"]
    module, _ = kept_definitions(sources)
    return {"hw": LocalSubmission(module.__dict__),
            "submission_cells": list(enumerate(sources))}


def checks_needing_references(homework_id: str) -> list:
    """The visible checks that take the ``expected`` fixture, in order."""
    return [function for _, function in homeworks.checks_of(homework_id)
            if check_info(function).visibility == "visible"
            and "expected" in inspect.signature(function).parameters]


def record(homework_id: str) -> dict:
    """{"environment": …, "values": {reference: {fingerprint: value}}, "on_submission":
    {reference: reason}, "not_local": {check: reason}} for each data source this machine has
    (``DATA_SOURCES``), merged; each recorded in a process of its own."""
    merged: dict = {"values": {}, "on_submission": {}, "not_local": {}}
    for source, environment_changes in data_sources().items():
        with tempfile.TemporaryDirectory(prefix=f"tml-record-{source}-") as scratch:
            env = {**os.environ, **{k: v.format(scratch=scratch)
                                    for k, v in environment_changes.items()}}
            out = Path(scratch) / "recorded.txt"
            run = subprocess.run([sys.executable, "-m", "autograder.publish", homework_id, str(out)],
                                 env=env, cwd=Path(__file__).resolve().parents[1],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"recording {homework_id} with {source} failed:\n{run.stderr}")
            recorded = ast.literal_eval(out.read_text())
        merged.setdefault("environment", recorded["environment"])
        for reference, values in recorded["values"].items():
            merged["values"].setdefault(reference, {}).update(values)
        merged["on_submission"].update(recorded["on_submission"])
        merged["not_local"].update(recorded["not_local"])
    return merged


def data_sources() -> dict[str, dict[str, str]]:
    """{name: the environment changes that make a process see only that data}: MNIST where this
    machine has a copy, and always the scikit-learn digits that a machine without one uses."""
    from tmlkit import data
    sources = {}
    try:
        data.load_mnist_labels(download=False)
        sources["MNIST"] = {}
    except data.DataUnavailable:
        print("warning: recording without MNIST (set TML_DATA_DIR to a folder holding "
              "mnist.npz): a student who has MNIST, as in Colab, gets 'cannot judge here' on "
              "the checks that draw from it", file=sys.stderr)
    sources["digits"] = {data.DATA_ENV: "{scratch}", data.CACHE_ENV: "{scratch}"}
    return sources


def record_here(homework_id: str) -> dict:
    """``record`` for the data this process sees: every visible check that needs a reference,
    run on the reference solution (which must pass them)."""
    spec = importlib.import_module(f"autograder.homeworks.{homework_id}")
    recorder = Recorder(getattr(spec, "REFERENCES", {}))
    fixtures = {**solution_fixtures(homework_id), "expected": recorder}
    for function in checks_needing_references(homework_id):
        recorder.check = function.__name__
        try:
            run_check(function, fixtures)
        except Exception as error:
            raise RuntimeError(f"{homework_id}'s reference solution fails {function.__name__}, "
                               f"so its expected values cannot be recorded: {error}") from error
    return {"environment": environment(), "values": recorder.values,
            "on_submission": recorder.on_submission, "not_local": recorder.not_local}


def recording_source(homework_id: str) -> str:
    return (HEADER.format(homework=homework_id) +
            f"RECORDED = {pprint.pformat(record(homework_id), width=100, sort_dicts=True)}\n")


def write_recordings(homework_ids=None) -> list[Path]:
    """Record the expected values of every homework (or of ``homework_ids``) whose visible checks
    need references; returns the files that changed."""
    RECORDED_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {RECORDED_DIR / "__init__.py":
              '"""Recorded expected values, one module per homework (see tmlkit.recorded)."""\n'}
    for homework_id in homework_ids or homeworks.HOMEWORKS:
        if checks_needing_references(homework_id):
            wanted[RECORDED_DIR / f"{homework_id}.py"] = recording_source(homework_id)
    changed = []
    for path, text in wanted.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def public_points(homework_id: str, part: str) -> float:
    """The points of a part's visible checks, read from the spec itself (what a self-check cell
    is worth in nbgrader)."""
    from tmlkit.spec import in_part
    infos = [check_info(function) for _, function in homeworks.checks_of(homework_id)]
    return sum(info.points for info in infos
               if info.visibility == "visible" and in_part(info.number, part))


if __name__ == "__main__":     # record_here in a process of its own (see ``record``)
    homework_id, out = sys.argv[1:]
    Path(out).write_text(repr(record_here(homework_id)))
