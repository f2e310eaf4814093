"""Hostile submissions (tests/hostile/cases.py): each yields a valid results.json, the right score, a
message naming the problem, and a bounded grading time; the other tests are graded normally."""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO, write_notebook

from autograder.grade import grade
from autograder.sandbox import Limits
from autograder import zygote
from autograder.sandbox.parent import unprivileged_ids, unshare_available
from hostile.cases import CASES, PARTS, Case
from tmlkit.isolation import landlock_abi

SCHEMA = json.loads((REPO / "tests" / "gradescope_results.schema.json").read_text())
# Short limits keep the corpus fast; the mechanisms are the ones real grading uses. Limits are
# CPU seconds: the wall-clock backstop (3 × each) bounds a spinning case on a loaded machine.
LIMITS = Limits(call_timeout_s=4, statement_timeout_s=4, load_timeout_s=60, wall_factor=3)
MAX_SECONDS = 45
TIMES: dict[str, float] = {}


def signals_scoped() -> bool:
    """Landlock (ABI 6) stops the child signalling any process outside its sandbox."""
    return landlock_abi() >= 6


def isolated() -> bool:
    return unshare_available() or unprivileged_ids() is not None or signals_scoped()


def _write(case: Case, path: Path, ctx: dict) -> Path:
    if callable(case.content):
        case.content(path, ctx)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        sources = [s.format(**ctx) if ("{port}" in s or "{results" in s) else s
                   for s in case.content]
        write_notebook(path, *sources)
    return path


def _leftover_sleepers() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"977.4242" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_corpus_is_big_enough():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_submission(case: Case, tmp_path, listener, monkeypatch):
    if case.needs == "isolation" and not isolated():
        pytest.skip("neither unshare nor a privilege drop is available: the child could kill us")
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    results_path = tmp_path / "out" / "results.json"
    path = _write(case, tmp_path / "submission.ipynb", {"port": listener, "results": str(results_path)})
    began = time.monotonic()
    if case.name == "forge_results_file":
        from autograder.cli import main
        results_path.parent.mkdir(mode=0o777)
        results_path.parent.chmod(0o777)
        assert main(["grade", "hw1", str(path), "--results", str(results_path)]
                    + [arg for part in PARTS for arg in ("--part", part)]) == 0
        results = json.loads(results_path.read_text())
        jsonschema.validate(results, SCHEMA)
        assert results["score"] == 11 and len(results["tests"]) == 5   # the grader's, not the forgery
        return
    result = grade("hw1", path, limits=dataclasses.replace(LIMITS, **case.limits),
                   parts=list(PARTS))
    seconds = time.monotonic() - began
    TIMES[case.name] = seconds
    results = result.to_gradescope()
    jsonschema.validate(json.loads(json.dumps(results, allow_nan=False)), SCHEMA)
    assert len(result.tests) == 5, [t.name for t in result.tests]
    fail = case.fail
    if case.name == "network_socket" and not unshare_available() and landlock_abi() < 4:
        fail = ("explain",)    # the child shares our network: the submission reached the listener
    if case.name == "sigkill_self" and unshare_available():
        fail = ()              # namespace init: its own SIGKILL is ignored, the call goes on
    dropped = unprivileged_ids() is not None
    if case.name == "kill_grader_process" and unshare_available() and (dropped or signals_scoped()):
        fail = ()              # as `nobody`, or scoped, it can signal neither unshare nor us: no effect
    message = case.message
    either = ()      # checks that may pass or fail, e.g. on the machine's speed
    if case.name == "spawn_orphans" and zygote.enabled():
        # A child forked from the zygote has torch loaded, and each of its forks copies that
        # address space: 20 per call (30 ms of CPU each with CUDA torch, 5 with CPU torch) may
        # run out of time, or, as `nobody`, into RLIMIT_NPROC. What must hold either way: the
        # other checks keep their points and no sleeper outlives the sandbox.
        fail, either = (), ("attribution",)
    elif case.name == "spawn_orphans" and dropped:
        # RLIMIT_NPROC binds once we are `nobody`: 20 sleepers per call reach 256 within a few
        # calls, and the rest of the forks fail (root, as in CI, is exempt from the limit).
        fail, message = ("attribution",), "BlockingIOError"
    notes = "\n".join(result.notes)
    for test in result.tests:
        if test.name.startswith(either):
            assert test.score in (0, test.max_score), (test.name, test.output)
        elif test.name.startswith(fail):
            assert test.score == 0, (test.name, test.output)
            if not case.in_notes:
                assert message in test.output, (test.name, test.output, notes)
        else:
            assert test.score == test.max_score, (test.name, test.output, notes)
    if case.in_notes:
        assert case.message in notes, notes
    expected = 11 - sum(t.max_score for t in result.tests if t.name.startswith(fail + either)
                        and (t.name.startswith(fail) or t.score == 0))
    assert result.score == expected
    assert "Sandbox: " in results["output"] or result.score == 0
    assert seconds < MAX_SECONDS
    if case.name == "spawn_orphans" and unshare_available():
        deadline = time.monotonic() + 5
        while _leftover_sleepers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _leftover_sleepers() == []


def test_report_slowest_case():
    if TIMES:
        name = max(TIMES, key=TIMES.get)
        print(f"\nslowest hostile case: {name} {TIMES[name]:.1f} s")
