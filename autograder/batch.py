"""Grade a whole class: one worker process per student, a CSV of grades, feedback and a summary.

    python -m autograder grade-all hw1 SUBMISSIONS_DIR --jobs 2 -o OUT_DIR [--force] [--parts 1.1 2]
        [--require-isolation]

SUBMISSIONS_DIR holds one ``.ipynb`` per student, or one folder per student (Gradescope's
"Export submissions" layout, optionally with ``submission_metadata.yml`` beside the folders).
Each student is graded by ``python -m autograder grade ... --results`` in a process of its own,
killed (with its sandbox children) after ``--timeout`` seconds, so one broken or hanging
submission costs only its own row. Students whose ``results.json`` exists are skipped unless
``--force``; submissions that errored (timeout, crash) are retried on the next run.

Each student's code is confined to a scratch folder of its own (``tmlkit.isolation``); where the
kernel cannot do that, the summary says so, and ``--require-isolation`` refuses to start.

OUT_DIR gets ``grades.csv``, ``summary.md`` and ``students/<id>/{results.json,feedback.md}``.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from autograder import homeworks
from autograder.submission import IGNORED_FOLDERS, find_submission
from tmlkit import isolation

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT = 900.0
_running: set[subprocess.Popen] = set()     # graders in flight, killed if the batch is interrupted
_running_lock = threading.Lock()


@dataclass
class Student:
    id: str
    notebook: Path | None          # None: no notebook was found
    problem: str = ""              # why the submission could not be graded at all
    names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)      # student ids from Gradescope's export


@dataclass
class Outcome:
    student: Student
    results: dict | None           # results.json as written (None: the worker failed)
    error: str = ""
    seconds: float = 0.0
    skipped: bool = False          # results.json from an earlier run was reused


def _safe_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name).strip("._") or "student"


def _metadata(root: Path) -> dict[str, dict]:
    """Gradescope's submission_metadata.yml: folder -> {names, emails, sids}; {} when absent or
    unreadable. Its keys are Ruby symbols (``:submitters:``, ``:name:``, ``:sid:``)."""
    path = root / "submission_metadata.yml"
    if not path.is_file():
        return {}
    try:
        import yaml
        raw = yaml.safe_load(path.read_text()) or {}
    except Exception as error:                          # optional: never stop the batch for it
        print(f"warning: ignoring {path.name}: {error}", file=sys.stderr)
        return {}
    out = {}
    for folder, info in raw.items() if isinstance(raw, dict) else []:
        info = info if isinstance(info, dict) else {}
        submitters = info.get(":submitters") or info.get("submitters") or []
        people = [s for s in submitters if isinstance(s, dict)]
        out[str(folder)] = {
            "names": [str(s.get(":name") or s.get("name") or "") for s in people],
            "emails": [str(s.get(":email") or s.get("email") or "") for s in people],
            "sids": [str(s.get(":sid") or s.get("sid") or "") for s in people]}
    return out


class NotASubmissionsFolder(ValueError):
    """The path given to grade-all is not a folder of submissions."""


class IsolationUnavailable(RuntimeError):
    """Isolation was required and this machine cannot confine the students' code."""


def unconfined(results: dict | None) -> bool:
    """Whether this results.json says the student's code ran with its file system unconfined."""
    return isolation.UNCONFINED in (results or {}).get("output", "")


def export_root(path: Path) -> Path:
    """The folder that holds the submissions: ``path`` itself, or, when ``path`` is the folder
    Gradescope's "Export submissions" zip was unpacked in, the ``assignment_NNN_export/`` inside."""
    if not path.is_dir():
        raise NotASubmissionsFolder(f"{path} is not a folder of submissions")
    if (path / "submission_metadata.yml").is_file() or any(path.glob("*.ipynb")):
        return path
    inner = [entry for entry in path.iterdir() if entry.is_dir()
             and (entry / "submission_metadata.yml").is_file()]
    return inner[0] if len(inner) == 1 else path


def discover(homework_id: str, submissions: str | Path) -> list[Student]:
    """The students in ``submissions``: a notebook each, or a folder each."""
    homework = homeworks.get(homework_id)
    root = export_root(Path(submissions))
    meta = _metadata(root)
    students, seen = [], set()
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED_FOLDERS:
            continue
        if entry.is_dir():
            notebook, problem = find_submission(entry, homework.notebook)
            # Without a single notebook the folder itself is graded: every check then scores 0
            # with the reason, as on Gradescope.
            student = Student(_safe_id(entry.name), notebook or entry, problem)
        elif entry.suffix == ".ipynb":
            student = Student(_safe_id(entry.stem), entry)
        else:
            continue
        info = meta.get(entry.name, {})
        student.names, student.emails = info.get("names", []), info.get("emails", [])
        student.sids = info.get("sids", [])
        base, n = student.id, 1
        while student.id in seen:
            n += 1
            student.id = f"{base}-{n}"
        seen.add(student.id)
        students.append(student)
    return students


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_job(jobs: int) -> int:
    """Each worker's share of the cores: without a cap, N workers each start one thread per core
    in torch and BLAS, and the oversubscribed machine grades no faster than with one worker."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def grade_student(homework_id: str, student: Student, folder: Path, parts: list[str] | None,
                  timeout: float, threads: int | None = None) -> Outcome:
    """Grade one student in a fresh ``python -m autograder grade`` process, capped at ``timeout``;
    ``threads`` caps its math libraries' threads unless the environment already does."""
    began = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    results_path = folder / "results.json"
    results_path.unlink(missing_ok=True)
    if student.notebook is None:
        return Outcome(student, None, student.problem, 0.0)
    command = [sys.executable, "-m", "autograder", "grade", homework_id, str(student.notebook),
               "--results", str(results_path)]
    for part in parts or []:
        command += ["--part", part]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("MPLBACKEND", "Agg")
    for variable in _THREAD_VARIABLES if threads else ():
        env.setdefault(variable, str(threads))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=PACKAGE_ROOT, start_new_session=True)
    with _running_lock:
        _running.add(process)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        return Outcome(student, None, f"Grading stopped after the {timeout:g} s limit per student.",
                       time.monotonic() - began)
    finally:
        _kill_group(process)      # sandbox children left behind, if any
        with _running_lock:
            _running.discard(process)
    (folder / "grader.log").write_text(stdout + ("\n--- stderr ---\n" + stderr if stderr else ""))
    seconds = time.monotonic() - began
    if process.returncode != 0 or not results_path.is_file():
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        return Outcome(student, None, f"The grader failed on this submission (exit code "
                                      f"{process.returncode}). {tail}".strip(), seconds)
    try:
        return Outcome(student, json.loads(results_path.read_text()), "", seconds)
    except ValueError as error:
        return Outcome(student, None, f"Unreadable results.json: {error}", seconds)


def feedback_markdown(homework_id: str, outcome: Outcome) -> str:
    student, results = outcome.student, outcome.results
    who = ", ".join(n for n in student.names if n) or student.id
    lines = [f"# {homework_id} feedback — {who}", ""]
    if results is None:
        lines += [f"**Score: 0** — this submission could not be graded: {outcome.error}", "",
                  "Please contact your instructor.", ""]
        return "\n".join(lines)
    total = sum(t["max_score"] for t in results["tests"])
    lines += [f"**Score: {results['score']:g} / {total:g}**", ""]
    lines += [f"> {line}" if line else ">" for line in results.get("output", "").splitlines()[1:]]
    lines += ["", "| test | points | max |", "| --- | ---: | ---: |"]
    lines += [f"| {t['name'].replace('|', '/')} | {t['score']:g} | {t['max_score']:g} |"
              for t in results["tests"]]
    lines += ["", "## Details", ""]
    for t in results["tests"]:
        mark = "✓" if t["status"] == "passed" else "✗"
        lines.append(f"### {mark} {t['name']} — {t['score']:g} / {t['max_score']:g}")
        lines.append("")
        message = t.get("output") or ("Passed." if t["status"] == "passed" else "")
        lines += ["```", message, "```", ""] if message else []
    return "\n".join(lines)


def _write_error_results(path: Path, homework_id: str, error: str) -> None:
    """A results.json for a submission that could not be graded: 0 points and the reason. It is
    marked so the next (resumed) run grades the student again."""
    path.write_text(json.dumps({"score": 0.0, "execution_time": 0.0,
                                "output": f"{homework_id}: 0 points. {error}", "tests": [],
                                "extra_data": {"batch_error": error}}, indent=2))


def _load_previous(path: Path) -> dict | None:
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if results.get("extra_data", {}).get("batch_error"):
        return None
    return results


def write_reports(homework_id: str, outcomes: list[Outcome], out: Path) -> dict:
    """grades.csv and summary.md from every student's outcome; returns the summary figures."""
    columns: list[str] = []
    max_scores: dict[str, float] = {}
    for o in outcomes:
        for t in (o.results or {}).get("tests", []):
            if t["name"] not in max_scores:
                columns.append(t["name"])
                max_scores[t["name"]] = t["max_score"]
    totals, per_test = [], {name: [] for name in columns}
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "names", "emails", "sids", "notebook", *columns, "total", "max_total",
                         "error"])
        for o in sorted(outcomes, key=lambda o: o.student.id):
            scores = {t["name"]: t["score"] for t in (o.results or {}).get("tests", [])}
            total = float((o.results or {}).get("score", 0.0))
            totals.append(total)
            for name in columns:
                per_test[name].append(scores.get(name, 0.0))
            writer.writerow([o.student.id, "; ".join(o.student.names), "; ".join(o.student.emails),
                             "; ".join(o.student.sids),
                             str(o.student.notebook or ""), *[f"{scores.get(n, 0.0):g}" for n in columns],
                             f"{total:g}", f"{sum(max_scores.values()):g}", o.error])
    max_total = sum(max_scores.values())
    failed = sorted(((sum(s < max_scores[n] for s in per_test[n]) / max(1, len(per_test[n])), n)
                     for n in columns), reverse=True)
    errors = [o for o in outcomes if o.error]
    exposed = [o.student.id for o in outcomes if unconfined(o.results)]
    lines = [f"# {homework_id}: summary of {len(outcomes)} submissions", ""]
    if exposed:
        lines += [f"**Warning: {len(exposed)} submission(s) ran with the file system NOT confined** "
                  "(see the Sandbox line of their results.json): their code could read and write "
                  "whatever the grader's user can. Their results may not be trusted: "
                  + ", ".join(f"`{s}`" for s in exposed), ""]
    if totals:
        lines += [f"Total: mean **{statistics.mean(totals):.2f}**, median "
                  f"**{statistics.median(totals):g}** of {max_total:g} points "
                  f"(min {min(totals):g}, max {max(totals):g}).", ""]
    if errors:
        lines += [f"{len(errors)} submission(s) could not be graded (scored 0):", ""]
        lines += [f"- `{o.student.id}`: {o.error.splitlines()[0] if o.error else ''}" for o in errors]
        lines.append("")
    most = [(f, n) for f, n in failed if f >= 0.5]
    lines += ["## Tests most students failed", ""]
    lines += ([f"- {n}: {f:.0%} of students below full marks" for f, n in most[:10]]
              or ["None: every test was passed by at least half the students."])
    lines += ["", "## Per test", "", "| test | max | mean | median | full marks |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name in columns:
        values = per_test[name]
        full = sum(v >= max_scores[name] for v in values) / max(1, len(values))
        lines.append(f"| {name.replace('|', '/')} | {max_scores[name]:g} | "
                     f"{statistics.mean(values):.2f} | {statistics.median(values):g} | {full:.0%} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return {"students": len(outcomes), "errors": len(errors), "columns": columns,
            "unconfined": len(exposed),
            "mean": statistics.mean(totals) if totals else 0.0,
            "median": statistics.median(totals) if totals else 0.0}


def grade_all(homework_id: str, submissions: str | Path, out: str | Path, jobs: int = 1,
              force: bool = False, parts: list[str] | None = None,
              timeout: float = DEFAULT_TIMEOUT, progress: bool = True,
              require_isolation: bool = False) -> list[Outcome]:
    homework = homeworks.get(homework_id)
    if require_isolation and not isolation.landlock_abi():
        raise IsolationUnavailable("--require-isolation: this kernel cannot confine the students' "
                                   "code (Landlock, Linux 5.13 or later, is not available here)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students = discover(homework.id, submissions)
    outcomes: list[Outcome] = []
    todo = []
    for student in students:
        folder = out / "students" / student.id
        previous = None if force else _load_previous(folder / "results.json")
        if previous is not None:
            outcomes.append(Outcome(student, previous, skipped=True))
        else:
            todo.append(student)

    def finish(outcome: Outcome) -> None:
        folder = out / "students" / outcome.student.id
        folder.mkdir(parents=True, exist_ok=True)
        if outcome.results is None:
            _write_error_results(folder / "results.json", homework.id, outcome.error)
        (folder / "feedback.md").write_text(feedback_markdown(homework.id, outcome))
        outcomes.append(outcome)

    from tqdm import tqdm
    bar = tqdm(total=len(todo), desc=f"grading {homework.id}", unit="student",
               disable=not progress or not todo, file=sys.stderr)
    # Threads only wait: each student's grading runs in its own process (and its sandbox child).
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(grade_student, homework.id, s, out / "students" / s.id, parts,
                               timeout, threads_per_job(jobs) if jobs > 1 else None): s
                   for s in todo}
        try:
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as error:             # never let one student stop the batch
                    outcome = Outcome(futures[future], None, f"{type(error).__name__}: {error}")
                finish(outcome)
                bar.update(1)
        except BaseException:                          # Ctrl-C: stop the graders in flight too
            pool.shutdown(wait=False, cancel_futures=True)
            with _running_lock:
                for process in list(_running):
                    _kill_group(process)
            raise
    bar.close()
    for outcome in outcomes:
        if outcome.skipped:
            (out / "students" / outcome.student.id / "feedback.md").write_text(
                feedback_markdown(homework.id, outcome))
    write_reports(homework.id, outcomes, out)
    return sorted(outcomes, key=lambda o: o.student.id)
