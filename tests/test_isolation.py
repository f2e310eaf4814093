"""Student code writes nowhere but its own scratch folder and reads none of the grader's files
(issue 30), on every path: `grade-all` as root and as a normal user, and Gradescope's harness.

A hostile submission attacks, from its child and from a detached (`setsid`, double-forked)
grandchild: other students' results.json and grades.csv in the running `grade-all`, a file in the
grader's $HOME, the kit's own folder, a world-writable folder, and another student's notebook. Its
`explain` raises, naming every attack that worked, and otherwise returns the right answer, so its
full marks say that each attack ran and failed. The grandchild attacks again after the run ends.
Canary files, compared before and after, confirm that nothing outside the scratch folder changed,
and the honest students' grades must equal a clean run's. A control grades the same submission
with the confinement switched off: there every attack works, so the test can fail.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import REPO, write_notebook

from autograder import batch
from autograder.grade import grade
from autograder.sandbox import Limits
from hostile.cases import ATTRIBUTION, GOOD, IMPORTS, INVERT, PARTS
from tmlkit import isolation

needs_landlock = pytest.mark.skipif(
    not isolation.landlock_abi(),
    reason="no Landlock here (Linux 5.13 or later): nothing confines the child's file system")
USER_PYTHON = Path("/opt/tmlcpu/bin/python3")     # a venv of Debian's python3 (.ci/run builds it)
GRADER_USER = "tml-grader"
LATE_S = 1.5                                      # the grandchild attacks again this much later

ATTACK = '''
import json, os, select, time

TARGETS = {targets!r}


def attacks():
    """Every attack; the names of those that worked."""
    worked = []

    def attempt(name, action):
        try:
            action()
            worked.append(name)
        except OSError:
            pass
    for number, path in enumerate(TARGETS["results"]):
        attempt(f"rewrite results {{number}}",
                lambda: open(path, "w").write('{{"score": 1000, "tests": []}}'))
    attempt("delete a file in $HOME", lambda: os.remove(TARGETS["home_file"]))
    attempt("write into the kit", lambda: open(TARGETS["kit_file"], "a").write("# pwned\\n"))
    attempt("add a file to the kit", lambda: open(TARGETS["kit_new"], "w").write("pwned"))
    for folder in TARGETS["open_dirs"]:
        attempt("write into " + folder,
                lambda: open(os.path.join(folder, TARGETS["token"]), "w").write("pwned"))
    attempt("read another notebook", lambda: open(TARGETS["other_notebook"]).read())
    return worked


def from_grandchild():
    """A detached grandchild (its own session) attacks, reports, and attacks again later."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.close(read_end)
            os.write(write_end, json.dumps(attacks()).encode())
            os.close(write_end)
            time.sleep({late})
            attacks()
        os._exit(0)
    os.close(write_end)
    os.wait()
    report = b""
    while select.select([read_end], [], [], 20)[0]:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        report += chunk
    os.close(read_end)
    return json.loads(report or b'["the grandchild never reported"]')


def explain(W, b, x, c):
    worked = attacks() + ["grandchild: " + name for name in from_grandchild()]
    if worked:
        raise RuntimeError("escaped: " + "; ".join(worked))
    return x * W[:, c]
'''

HONEST = {"a_honest": GOOD,                                        # 11 of 11
          "b_partly_wrong": [IMPORTS, ATTRIBUTION, "def explain(W, b, x, c):\n    return x\n",
                             INVERT]}


def _token(root: Path) -> str:
    """The name each attack on a shared folder writes (removed after the test, whatever happens)."""
    return f"tml-pwned-{root.name}"


def _targets(root: Path, kit: Path, out: Path, submissions: Path, home: Path) -> dict:
    token = _token(root)
    return {"results": [str(out / "students" / sid / "results.json") for sid in HONEST]
            + [str(out / "grades.csv")],
            "home_file": str(home / "canary.txt"),
            "kit_file": str(kit / "autograder" / "__init__.py"),
            "kit_new": str(kit / "autograder" / f"{token}.py"),
            "open_dirs": [str(root / "world-writable"), "/tmp", "/dev/shm"],
            "other_notebook": str(submissions / "a_honest.ipynb"),
            "token": token}


def _plant(root: Path, owner: int | None = None) -> dict:
    """A kit, submissions, a $HOME and a world-writable folder under ``root``; the targets."""
    kit, submissions, home, out = root / "kit", root / "submissions", root / "home", root / "out"
    for name in ("autograder", "student"):
        shutil.copytree(REPO / name, kit / name, ignore=shutil.ignore_patterns("__pycache__"))
    for folder in (submissions, home, out, root / "world-writable"):
        folder.mkdir()
    (home / "canary.txt").write_text("the instructor's file")
    targets = _targets(root, kit, out, submissions, home)
    for sid, cells in HONEST.items():
        write_notebook(submissions / f"{sid}.ipynb", *cells)
    write_notebook(submissions / "z_hostile.ipynb", IMPORTS, ATTRIBUTION, INVERT,
                   ATTACK.format(targets=targets, late=LATE_S))
    if owner is not None:
        for path in [root, *root.rglob("*")]:
            os.chown(path, owner, owner)
    os.chmod(root / "world-writable", 0o1777)
    return targets


def _snapshot(*roots: Path) -> dict[str, str]:
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest()
            for root in roots for path in sorted(root.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def _grades(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv") as handle:
        return {row["student"]: {k: v for k, v in row.items() if k not in ("notebook", "error")}
                for row in csv.DictReader(handle)}


def _scores(results_path: Path) -> dict[str, float]:
    return {t["name"]: t["score"] for t in json.loads(results_path.read_text())["tests"]}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """The honest students graded on their own, with nothing hostile beside them."""
    root = tmp_path_factory.mktemp("clean")
    submissions, out = root / "submissions", root / "out"
    submissions.mkdir()
    for sid, cells in HONEST.items():
        write_notebook(submissions / f"{sid}.ipynb", *cells)
    batch.grade_all("hw1", submissions, out, parts=list(PARTS), progress=False)
    return {sid: _scores(out / "students" / sid / "results.json") for sid in HONEST}, _grades(out)


@pytest.fixture
def root():
    # Not pytest's tmp_path: a normal user must be able to reach it (pytest's is 0700 as root).
    folder = Path(tempfile.mkdtemp(prefix="tml-isolation-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    for shared in ("/tmp", "/dev/shm"):
        Path(shared, _token(folder)).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def grader_user():
    """A normal user to grade as: created here (and removed after) when we are root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a normal user")
    if not USER_PYTHON.is_file():
        pytest.skip(f"needs a Python a normal user can read at {USER_PYTHON} (.ci/run builds it)")
    created = False
    try:
        pwd.getpwnam(GRADER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        GRADER_USER], check=True)
        created = True
    yield pwd.getpwnam(GRADER_USER)
    if created:
        subprocess.run(["userdel", GRADER_USER], check=False)


def _run_grade_all(python: Path, root: Path, user: pwd.struct_passwd | None = None) -> None:
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(root / "home"), "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "PYTHONPATH": str(root / "kit")}
    command = [str(python), "-m", "autograder", "grade-all", "hw1", str(root / "submissions"),
               "-o", str(root / "out"), "--parts", *PARTS, "--require-isolation"]
    ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    done = subprocess.run(command, cwd=root / "kit", env=env, capture_output=True, text=True,
                          timeout=600, **ids)
    assert done.returncode == 0, done.stdout + done.stderr


def _assert_every_attack_failed(root: Path, targets: dict, before: dict, clean_run) -> dict:
    time.sleep(LATE_S + 1.5)                  # the grandchild's late attacks, where it outlives us
    out = root / "out"
    hostile = json.loads((out / "students" / "z_hostile" / "results.json").read_text())
    explain = [t for t in hostile["tests"] if t["name"].split(" ", 1)[1].startswith("explain")]
    assert explain and all(t["score"] == t["max_score"] for t in explain), \
        [t["output"] for t in explain]
    assert hostile["score"] == 11, hostile["output"]
    assert "file system confined (Landlock" in hostile["output"], hostile["output"]
    clean_scores, clean_grades = clean_run
    for sid in HONEST:
        assert _scores(out / "students" / sid / "results.json") == clean_scores[sid]
        assert _grades(out)[sid] == clean_grades[sid]
    assert _snapshot(root / "home", root / "kit", root / "submissions",
                     root / "world-writable") == before
    for folder in targets["open_dirs"]:
        assert not Path(folder, targets["token"]).exists()
    assert "NOT confined" not in (out / "summary.md").read_text()
    return hostile


@needs_landlock
def test_grade_all_as_root(root, clean_run):
    targets = _plant(root)
    before = _snapshot(root / "home", root / "kit", root / "submissions", root / "world-writable")
    _run_grade_all(Path(sys.executable), root)
    _assert_every_attack_failed(root, targets, before, clean_run)


@needs_landlock
def test_grade_all_as_a_normal_user(root, clean_run, grader_user):
    """The instructor grading as themselves: the kit, $HOME and the output are theirs to write,
    and no privilege drop or namespace is available. Only Landlock stands in the way."""
    targets = _plant(root, owner=grader_user.pw_uid)
    before = _snapshot(root / "home", root / "kit", root / "submissions", root / "world-writable")
    _run_grade_all(USER_PYTHON, root, grader_user)
    hostile = _assert_every_attack_failed(root, targets, before, clean_run)
    assert f"runs as uid {grader_user.pw_uid}" in hostile["output"]


@needs_landlock
def test_gradescope_harness(root):
    from test_gradescope import install_zip, run_submission

    from autograder.gradescope import build_zip
    targets = _plant(root)
    image = install_zip(build_zip("hw1", root / "hw1.zip"), root / "autograder")
    # The image's own grader is the kit here; HOME is the harness's (root's parent folder).
    targets.update(kit_file=str(image / "source" / "autograder" / "__init__.py"),
                   kit_new=str(image / "source" / "autograder" / f"{targets['token']}.py"),
                   results=[str(root / "out" / "earlier-run" / "results.json")])
    (root / "out" / "earlier-run").mkdir()
    (root / "out" / "earlier-run" / "results.json").write_text('{"score": 3}')
    shutil.copy(root / "home" / "canary.txt", root / "canary.txt")
    targets["home_file"] = str(root / "canary.txt")
    notebook = write_notebook(root / "hostile.ipynb", IMPORTS, ATTRIBUTION, INVERT,
                              ATTACK.format(targets=targets, late=LATE_S))
    watched = (root / "out", root / "submissions", root / "world-writable", image / "source")
    before = _snapshot(*watched)
    results = run_submission(image, {"hw1.ipynb": notebook.read_bytes()})
    time.sleep(LATE_S + 1.5)
    explain = [t for t in results["tests"] if t["name"].split(" ", 1)[1].startswith("explain")]
    assert explain and all(t["score"] == t["max_score"] for t in explain), \
        [t["output"] for t in explain]
    assert "file system confined (Landlock" in results["output"], results["output"]
    assert _snapshot(*watched) == before and (root / "canary.txt").is_file()
    for folder in targets["open_dirs"]:
        assert not Path(folder, targets["token"]).exists()


def test_without_confinement_every_attack_works(root):
    """The control: the same submission, graded with the confinement (and the drop to `nobody`,
    where it would apply) switched off, reaches every target."""
    _plant(root)
    for sid in HONEST:                          # what a running grade-all would have written
        (root / "out" / "students" / sid).mkdir(parents=True)
        (root / "out" / "students" / sid / "results.json").write_text("{}")
    result = grade("hw1", root / "submissions" / "z_hostile.ipynb", parts=list(PARTS),
                   limits=Limits(confine=False, drop_privileges=False))
    time.sleep(LATE_S + 0.5)              # the grandchild's late round, before `root` cleans up
    [explain] = [t for t in result.tests if t.name.startswith("explain")]
    assert explain.score == 0
    for attack in ("rewrite results 0", "rewrite results 2", "delete a file in $HOME",
                   "write into the kit", "add a file to the kit",
                   "write into " + str(root / "world-writable"), "read another notebook",
                   "grandchild: write into /tmp"):
        assert attack in explain.output, (attack, explain.output)
    assert isolation.UNCONFINED in "\n".join(result.sandbox)


PROBE = """
import os, signal, socket, subprocess, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tmlkit import isolation
abi, scratch, outside = int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
isolation.landlock_abi = lambda: abi            # a kernel that knows only this much
print(isolation.confine(scratch, [sys.prefix, sys.base_prefix]), file=sys.stderr)


def works(action):
    try:
        action()
        return True
    except OSError:
        return False
grandchild = subprocess.run(["setsid", "sh", "-c", f"echo x > {outside}/from-grandchild"]).returncode
print({
    "write scratch": works(lambda: (scratch / "a").write_text("x")),
    "write outside": works(lambda: (outside / "new").write_text("x")),
    "read outside": works(lambda: (outside / "canary").read_text()),
    "truncate outside": works(lambda: os.truncate(outside / "canary", 0)),
    "grandchild writes outside": grandchild == 0,
    "tcp": works(lambda: socket.socket().bind(("127.0.0.1", 0))),
    "signal the parent": works(lambda: os.kill(os.getppid(), 0)),
})
"""


@needs_landlock
@pytest.mark.parametrize("abi", sorted({1, 2, 3, 4, 5, 6, isolation.landlock_abi()}))
def test_each_abi_confines_writes_and_reads(abi, tmp_path):
    """Older kernels know fewer rights (Ubuntu 22.04's 5.15 has ABI 1): what each one stops.
    The scratch folder stays writable, and writing or reading elsewhere fails on every ABI."""
    if abi > isolation.landlock_abi():
        pytest.skip(f"this kernel has ABI {isolation.landlock_abi()}")
    scratch, outside = tmp_path / "scratch", tmp_path / "outside"
    scratch.mkdir()
    outside.mkdir()
    (outside / "canary").write_text("kept")
    done = subprocess.run([sys.executable, "-I", "-c", PROBE, str(REPO / "student"), str(abi),
                           str(scratch), str(outside)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"Landlock ABI {abi}" in done.stderr
    assert ast.literal_eval(done.stdout) == {
        "write scratch": True, "write outside": False, "read outside": False,
        "truncate outside": abi < 3, "grandchild writes outside": False,
        "tcp": abi < 4, "signal the parent": abi < 6}
    assert (outside / "canary").read_text() == ("" if abi < 3 else "kept")
    assert sorted(p.name for p in outside.iterdir()) == ["canary"]


def test_require_isolation_refuses_without_landlock(tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "landlock_abi", lambda: 0)
    with pytest.raises(batch.IsolationUnavailable, match="Landlock"):
        batch.grade_all("hw1", tmp_path, tmp_path / "out", require_isolation=True)


def test_summary_names_unconfined_submissions(tmp_path):
    tests = [{"name": "1 a", "score": 1, "max_score": 1, "status": "passed", "output": ""}]
    exposed = {"score": 1, "tests": tests,
               "output": f"hw1: 1 / 1.\nSandbox: {isolation.UNCONFINED} (no Landlock)"}
    confined = {"score": 1, "tests": tests, "output": "hw1: 1 / 1.\nSandbox: file system confined"}
    outcomes = [batch.Outcome(batch.Student("ann", None), exposed),
                batch.Outcome(batch.Student("bob", None), confined)]
    assert batch.write_reports("hw1", outcomes, tmp_path)["unconfined"] == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "1 submission(s) ran with the file system NOT confined" in summary and "`ann`" in summary
    assert "`bob`" not in summary
