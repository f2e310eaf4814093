"""grade-all: one process per student, grades.csv, feedback, summary, per-student caps, resuming."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

from autograder import homeworks
from autograder.batch import discover, grade_all

HW1 = homeworks.get("hw1")
PARTS = ["2.1"]                     # three quick checks, 5 points
ATTRIBUTION = ["2.1 attribution: complete for 20 random (baseline, class) pairs",
               "2.1 attribution: complete on a hidden model", "2.1 explain: input times attribution"]
METADATA = """\
submission_1:
  :submitters:
  - :name: Bob Stub
    :email: bob@example.edu
    :sid: '2'
  :created_at: 2026-01-01 10:00:00.000000000 +00:00
"""


def make_class(root):
    root.mkdir()
    shutil.copy(HW1.solution, root / "alice.ipynb")
    (root / "submission_1").mkdir()                          # Gradescope export layout
    shutil.copy(HW1.student, root / "submission_1" / HW1.notebook)
    (root / "submission_2").mkdir()                          # nothing submitted
    (root / "submission_2" / "notes.txt").write_text("forgot the notebook")
    (root / "submission_3").mkdir()
    (root / "submission_3" / "mine.ipynb").write_text("{ not json")
    (root / "submission_metadata.yml").write_text(METADATA)
    return root


def read_csv(path):
    with open(path, newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_discover_layouts(tmp_path):
    students = {s.id: s for s in discover("hw1", make_class(tmp_path / "subs"))}
    assert set(students) == {"alice", "submission_1", "submission_2", "submission_3"}
    assert students["submission_1"].names == ["Bob Stub"]
    assert students["submission_1"].emails == ["bob@example.edu"]
    assert students["submission_1"].sids == ["2"]
    assert students["submission_2"].notebook.is_dir()       # graded as a folder: zeros, the reason
    assert "No notebook was submitted" in students["submission_2"].problem
    assert students["submission_3"].notebook.name == "mine.ipynb"


def test_discover_finds_the_export_inside_the_folder_it_was_unpacked_in(tmp_path):
    """Gradescope's export zip unpacks to assignment_NNN_export/: the folder above it works too."""
    (tmp_path / "download").mkdir()
    make_class(tmp_path / "download" / "assignment_123_export")
    students = {s.id: s for s in discover("hw1", tmp_path / "download")}
    assert set(students) == {"alice", "submission_1", "submission_2", "submission_3"}
    assert students["submission_1"].sids == ["2"]


def test_grade_all_outputs(tmp_path):
    out = tmp_path / "out"
    outcomes = grade_all("hw1", make_class(tmp_path / "subs"), out, jobs=2, parts=PARTS,
                         progress=False)
    assert len(outcomes) == 4
    rows = read_csv(out / "grades.csv")
    assert set(rows) == {"alice", "submission_1", "submission_2", "submission_3"}
    assert all(name in rows["alice"] for name in ATTRIBUTION)
    assert rows["alice"]["total"] == "5" and rows["alice"]["error"] == ""
    assert [rows["alice"][name] for name in ATTRIBUTION] == ["2", "2", "1"]
    assert rows["submission_1"]["total"] == "0" and rows["submission_1"]["names"] == "Bob Stub"
    assert rows["submission_1"]["sids"] == "2"
    assert rows["submission_2"]["total"] == "0"
    assert "No notebook was submitted" in (out / "students" / "submission_2" / "feedback.md").read_text()
    assert rows["submission_3"]["total"] == "0"             # unreadable: graded 0 with the reason
    for student in rows:
        assert (out / "students" / student / "results.json").is_file()
    stub_results = json.loads((out / "students" / "submission_1" / "results.json").read_text())
    feedback = (out / "students" / "submission_1" / "feedback.md").read_text()
    assert "Bob Stub" in feedback and "**Score: 0 / 5**" in feedback
    for test in stub_results["tests"]:                      # every message, hints included
        assert test["name"] in feedback and test["output"].splitlines()[0] in feedback
    assert "not valid notebook JSON" in (out / "students" / "submission_3" / "feedback.md").read_text()
    summary = (out / "summary.md").read_text()
    assert "mean **1.25**, median **0**" in summary
    assert "Tests most students failed" in summary and ATTRIBUTION[0] in summary


def test_cap_crash_and_resume(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(HW1.solution, subs / "alice.ipynb")
    shutil.copy(HW1.student, subs / "bob.ipynb")
    out = tmp_path / "out"
    # A cap too short for anyone: every row is 0 with the reason, and the batch still finishes.
    outcomes = grade_all("hw1", subs, out, jobs=2, parts=PARTS, timeout=0.2, progress=False)
    assert all("limit per student" in o.error for o in outcomes)
    assert read_csv(out / "grades.csv")["alice"]["total"] == "0"
    # Resuming retries the failures; then a further run reuses the results.
    outcomes = grade_all("hw1", subs, out, jobs=2, parts=PARTS, progress=False)
    assert {o.student.id: (o.skipped, o.results["score"]) for o in outcomes} == \
        {"alice": (False, 5.0), "bob": (False, 0.0)}
    before = (out / "students" / "alice" / "results.json").stat().st_mtime_ns
    (subs / "carol.ipynb").write_text("{ not json")
    outcomes = grade_all("hw1", subs, out, jobs=1, parts=PARTS, progress=False)
    assert {o.student.id: o.skipped for o in outcomes} == {"alice": True, "bob": True, "carol": False}
    assert (out / "students" / "alice" / "results.json").stat().st_mtime_ns == before
    assert read_csv(out / "grades.csv")["alice"]["total"] == "5"
    # A grader that fails for one student (here: an unknown part) costs only that student.
    outcomes = grade_all("hw1", subs, out, jobs=2, parts=["9.9"], force=True, progress=False)
    assert all("exit code 2" in o.error for o in outcomes)
    assert all(row["total"] == "0" for row in read_csv(out / "grades.csv").values())


def test_cli_grade_all(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(HW1.solution, subs / "alice.ipynb")
    old = tmp_path / "old" / "students" / "alice"             # an earlier run gave alice 3 points
    old.mkdir(parents=True)
    (old / "results.json").write_text(json.dumps({"score": 3, "tests": []}))
    done = subprocess.run([sys.executable, "-m", "autograder", "grade-all", "hw1", str(subs),
                           "--jobs", "1", "-o", str(tmp_path / "out"), "--parts", *PARTS,
                           "--compare", str(tmp_path / "old")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "graded 1 submissions" in done.stdout
    assert "compared 1 students: 1 totals change (1 up, 0 down)" in done.stdout
    assert "alice,3,5,2," in (tmp_path / "out" / "regrade" / "regrade.csv").read_text()
    assert read_csv(tmp_path / "out" / "grades.csv")["alice"]["total"] == "5"
    assert (tmp_path / "out" / "summary.md").is_file()


def test_parallel_workers_share_the_cores(tmp_path, monkeypatch):
    from autograder import batch
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(HW1.student, subs / "alice.ipynb")
    seen = []

    def record(command, env, **kwargs):
        seen.append({k: env.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        raise OSError("not started in this test")

    def start_batch(preload, env):      # the batch's zygote: torch reads the caps as it loads
        assert set(HW1.warm) <= set(preload)
        seen.append({k: env.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        raise OSError("not started in this test")

    monkeypatch.setattr(batch.subprocess, "Popen", record)
    monkeypatch.setattr(batch.zygote, "start_batch", start_batch)
    monkeypatch.setattr(batch.os, "cpu_count", lambda: 8)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    for zygote in ("1", "0"):                       # forked from the batch's zygote, or not
        monkeypatch.setenv("TML_ZYGOTE", zygote)
        for jobs, expected in ((1, None), (2, "4"), (3, "2"), (16, "1")):
            outcomes = grade_all("hw1", subs, tmp_path / f"out{jobs}", jobs=jobs, force=True,
                                 progress=False)
            assert "not started in this test" in outcomes[0].error
            assert seen.pop() == {"OMP_NUM_THREADS": expected, "MKL_NUM_THREADS": expected}
        monkeypatch.setenv("OMP_NUM_THREADS", "3")      # an instructor's own setting wins
        grade_all("hw1", subs, tmp_path / "out", jobs=2, force=True, progress=False)
        # the zygote is given no cap of its own: it keeps the instructor's from its environment
        assert seen.pop()["OMP_NUM_THREADS"] == ("3" if zygote == "0" else None)
        monkeypatch.delenv("OMP_NUM_THREADS")


def test_the_batch_zygote_computes_warm_calls_once_for_every_grader(tmp_path):
    """hw1's attack model is trained in the batch's zygote, before any student: a grader forked
    from it finds it cached. The zygote trains it on one thread, so that torch's parallel ops
    still run in what it forks (with 2 threads asked for, not 1)."""
    from autograder import zygote
    if not zygote.enabled():
        pytest.skip("zygotes are turned off (TML_ZYGOTE=0)")
    assert HW1.warm == ("tmlkit.public.hw1:attack_model",)
    batch = zygote.start_batch((*HW1.preload, *HW1.warm),
                               {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"})
    try:
        status, stdout, stderr = zygote.run_grader(batch, ["probe"], {}, str(REPO), timeout=60,
                                                   entry="tests.warm_probe:main")
    finally:
        batch.close()
    assert status == 0, stderr
    assert json.loads(stdout) == {"attack_models": 1, "threads": 2, "total": 600.0 ** 3}


def test_plan_grades_gpu_sections_apart_only_on_a_cluster():
    from autograder.batch import WHOLE, Piece, plan
    from autograder.grade import gpu_sections, known_parts
    assert gpu_sections("hw1") == ["3"] and gpu_sections("hw4") == []
    assert plan("hw1", None, split_gpu=False) == [Piece(WHOLE, None)]
    cpu, gpu = plan("hw1", None, split_gpu=True)
    assert cpu == Piece("cpu", tuple(s for s in known_parts("hw1") if s != "3"))
    assert gpu == Piece("gpu", ("3",), gpu=True)
    assert plan("hw1", ["2"], split_gpu=True) == [Piece(WHOLE, ("2",))]     # no GPU section asked
    assert plan("hw1", ["3"], split_gpu=True) == [Piece("gpu", ("3",), gpu=True)]
    assert plan("hw4", None, split_gpu=True) == [Piece(WHOLE, None)]


def test_merge_results_replaces_whole_sections_in_order():
    from autograder.batch import merge_results

    def test(number, name, score, top=2.0):
        return {"name": f"{number} {name}", "number": number, "score": score, "max_score": top,
                "status": "passed" if score >= top else "failed"}
    base = {"output": "hw1: from Gradescope", "tests": [test("1.1", "a", 2), test("3", "old", 2)],
            "leaderboard": [{"name": "time", "value": 9.0, "order": "asc"}]}
    gpu = {"output": "hw1: GPU", "execution_time": 5.0, "tests": [test("3", "new", 0, 4)],
           "leaderboard": [{"name": "time", "value": 7.0, "order": "asc"}]}
    cpu = {"output": "hw1: CPU", "execution_time": 1.0, "tests": [test("2.1", "b", 1), test("1.10", "c", 2)]}
    merged = merge_results("hw1", [("export", base), ("gpu", gpu), ("cpu", cpu)])
    assert [t["name"] for t in merged["tests"]] == ["1.1 a", "1.10 c", "2.1 b", "3 new"]
    assert merged["score"] == 5 and merged["execution_time"] == 6.0
    assert merged["output"].startswith("hw1: 5 / 10 points, merged from export, gpu, cpu.")
    assert "[gpu] hw1: GPU" in merged["output"]
    assert merged["leaderboard"] == [{"name": "time", "value": 7.0, "order": "asc"}]
