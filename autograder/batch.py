"""Grade a whole class: one worker process per student, a CSV of grades, feedback and a summary.

    python -m autograder grade-all hw1 SUBMISSIONS_DIR --jobs 2 -o OUT_DIR [--force] [--parts 1.1 2]
        [--require-isolation]
    python -m autograder grade-all hw1 SUBMISSIONS_DIR --scheduler tcp://HOST:8786 -o OUT_DIR

SUBMISSIONS_DIR holds one ``.ipynb`` per student, or one folder per student (Gradescope's
"Export submissions" layout, optionally with ``submission_metadata.yml`` beside the folders).
Each student is graded by ``python -m autograder grade ... --results`` in a process of its own,
killed (with its sandbox children) after ``--timeout`` seconds, so one broken or hanging
submission costs only its own row. That process runs here, in a pool of ``--jobs`` threads, or on
the workers of a Dask cluster (``--scheduler``, ``autograder/distributed.py``); either way only
this process writes OUT_DIR, each file atomically, and OUT_DIR is the only state. Students whose
``results.json`` exists are skipped unless ``--force``; submissions that errored (timeout, crash)
are retried on the next run, whichever engine ran the first.

Each student's code is confined to a scratch folder of its own (``tmlkit.isolation``); where the
kernel cannot do that, the summary says so, and ``--require-isolation`` refuses to start.

OUT_DIR gets ``grades.csv``, ``summary.md`` and ``students/<id>/{results.json,feedback.md}``.
On a cluster, sections whose checks need a GPU are graded apart, on GPU workers: the pieces wait in
``students/<id>/pieces/`` until every piece of the student is in, then merge into one results.json.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from autograder import homeworks, zygote
from autograder.submission import IGNORED_FOLDERS, find_submission
from tmlkit import isolation

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
TIME_LIMIT_MARGIN_S = 30.0    # the grader's watchdog writes results 20 s after its limit
DEFAULT_TIMEOUT = 900.0
_running: set = set()      # graders in flight (each has a .pid), killed if the batch is interrupted
# What every grader imports besides the zygote's own: loaded once in a batch's zygote. The
# sandboxed children inherit them too; a student's code could import them anyway.
GRADER_PRELOAD = ("pytest", "nbformat")
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
    log: str = ""                  # the grader's stdout and stderr
    worker: str = ""               # the Dask worker that graded it ("" in the local pool)


@dataclass(frozen=True)
class Piece:
    """One grading run of each student: the sections it grades (None: all) and whether they need
    a GPU worker. A student's pieces merge into one row."""
    name: str
    parts: tuple[str, ...] | None
    gpu: bool = False


WHOLE = "all"


def plan(homework_id: str, parts: list[str] | None, split_gpu: bool) -> list[Piece]:
    """One piece for everything, or, with ``split_gpu``, the CPU sections apart from the sections
    whose checks need a GPU (``grade.gpu_sections``)."""
    from autograder.grade import gpu_sections, known_parts

    def selected(section: str) -> bool:
        return parts is None or any(section == p or section.startswith(p + ".") for p in parts)
    gpu = [s for s in gpu_sections(homework_id) if selected(s)]
    if not split_gpu or not gpu:
        return [Piece(WHOLE, tuple(parts) if parts else None)]
    cpu = [s for s in known_parts(homework_id) if selected(s) and s not in gpu]
    return ([Piece("cpu", tuple(cpu))] if cpu else []) + [Piece("gpu", tuple(gpu), gpu=True)]


def _section_key(number: str) -> list:
    return [(0, int(n), "") if n.isdigit() else (1, 0, n) for n in str(number).split(".")]


def _number(test: dict) -> str:
    return str(test.get("number") or test.get("name", "").split(" ")[0])


def merge_results(homework_id: str, pieces: list[tuple[str, dict]]) -> dict:
    """One results.json from several runs on the same student, in order: a later piece's tests
    replace an earlier piece's tests of the same section (e.g. Gradescope's parts 1-2, then part 3
    from a GPU worker). ``pieces``: (label, results.json) pairs."""
    tests: list[dict] = []
    leaderboard: dict[str, dict] = {}
    for _, results in pieces:
        graded = {_number(t) for t in results.get("tests", [])}
        tests = [t for t in tests if _number(t) not in graded] + list(results.get("tests", []))
        leaderboard.update((entry["name"], entry) for entry in results.get("leaderboard", []))
    tests.sort(key=lambda t: _section_key(_number(t)))          # stable: order within a section
    score = round(sum(float(t.get("score", 0.0)) for t in tests), 6)
    max_score = round(sum(float(t.get("max_score", 0.0)) for t in tests), 6)
    lines = [f"{homework_id}: {score:g} / {max_score:g} points, merged from "
             f"{', '.join(label for label, _ in pieces)}."]
    lines += [f"[{label}] {line}" for label, results in pieces
              for line in str(results.get("output", "")).splitlines()]
    merged = {"score": score,
              "execution_time": round(sum(float(r.get("execution_time", 0.0)) for _, r in pieces), 3),
              "output": "\n".join(lines), "visibility": "visible", "stdout_visibility": "hidden",
              "tests": tests,
              "extra_data": {"pieces": {label: r.get("extra_data", {}) for label, r in pieces}}}
    if leaderboard:
        merged["leaderboard"] = list(leaderboard.values())
    return merged


def _safe_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name).strip("._") or "student"


def _metadata_raw(root: Path) -> dict:
    """Gradescope's submission_metadata.yml as parsed, folder -> its entry; {} when absent or
    unreadable. Its keys are Ruby symbols (``:submitters:``, ``:name:``, ``:results:``)."""
    path = root / "submission_metadata.yml"
    if not path.is_file():
        return {}
    try:
        import yaml
        raw = yaml.safe_load(path.read_text()) or {}
    except Exception as error:                          # optional: never stop the batch for it
        print(f"warning: ignoring {path.name}: {error}", file=sys.stderr)
        return {}
    return raw if isinstance(raw, dict) else {}


def _metadata(root: Path) -> dict[str, dict]:
    """folder -> {names, emails, sids} from Gradescope's submission_metadata.yml."""
    out = {}
    for folder, info in _metadata_raw(root).items():
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


def _kill_group(process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def threads_per_job(jobs: int) -> int:
    """Each worker's share of the cores: without a cap, N workers each start one thread per core
    in torch and BLAS, and the oversubscribed machine grades no faster than with one worker."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def grade_student(homework_id: str, student: Student, parts: list[str] | tuple[str, ...] | None,
                  timeout: float, threads: int | None = None,
                  environment: dict[str, str] | None = None) -> Outcome:
    """Grade one student with ``python -m autograder grade`` in a grader process of its own (forked
    from the batch's zygote, see ``_run``), capped at ``timeout``;
    ``threads`` caps its math libraries' threads unless the environment already does, and
    ``environment`` is added to it. The results come back in the Outcome: nothing is written
    beside the submission or in the output folder."""
    began = time.monotonic()
    if student.notebook is None:
        return Outcome(student, None, student.problem, 0.0)
    with tempfile.TemporaryDirectory(prefix="tml-grade-") as scratch:
        results_path = Path(scratch) / "results.json"
        command = [sys.executable, "-m", "autograder", "grade", homework_id, str(student.notebook),
                   "--results", str(results_path)]
        # The run's own limit ends it a little before the wall-clock cap: checks graded by then
        # keep their points, where the cap would lose the whole results file.
        command += ["--time-limit", f"{max(1.0, timeout - TIME_LIMIT_MARGIN_S):g}"]
        for part in parts or []:
            command += ["--part", part]
        env = {**os.environ, **(environment or {}), "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        env.setdefault("MPLBACKEND", "Agg")
        for variable in _THREAD_VARIABLES if threads else ():
            env.setdefault(variable, str(threads))
        try:
            returncode, stdout, stderr = _run(homework_id, command, env, timeout, threads)
        except subprocess.TimeoutExpired:
            return Outcome(student, None, f"Grading stopped after the {timeout:g} s limit per "
                                          "student.", time.monotonic() - began)
        log = stdout + ("\n--- stderr ---\n" + stderr if stderr else "")
        seconds = time.monotonic() - began
        if returncode != 0 or not results_path.is_file():
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            return Outcome(student, None, f"The grader failed on this submission (exit code "
                                          f"{returncode}). {tail}".strip(), seconds, log=log)
        try:
            return Outcome(student, json.loads(results_path.read_text()), "", seconds, log=log)
        except ValueError as error:
            return Outcome(student, None, f"Unreadable results.json: {error}", seconds, log=log)


def _run(homework_id: str, command: list[str], env: dict, timeout: float,
         threads: int | None) -> tuple[int, str, str]:
    """Run ``python -m autograder grade …`` (``command``): forked from this process's zygote for
    the homework where zygotes are on, else as a process of its own. (exit status, stdout,
    stderr); ``subprocess.TimeoutExpired`` at ``timeout`` seconds, its processes killed."""
    batch = _batch_zygote(homework_id, threads)
    if batch is not None:
        runs = []

        def started(run):
            runs.append(run)
            with _running_lock:
                _running.add(run)
        try:
            return zygote.run_grader(batch, ["autograder", *command[3:]], env, str(PACKAGE_ROOT),
                                     timeout, started)
        except zygote.ZygoteError:
            if runs:            # it started, then its zygote went away: nothing to redo here
                raise
        finally:
            with _running_lock:
                _running.difference_update(runs)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=PACKAGE_ROOT, start_new_session=True)
    with _running_lock:
        _running.add(process)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        return process.returncode, stdout, stderr
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise
    finally:
        _kill_group(process)      # sandbox children left behind, if any
        with _running_lock:
            _running.discard(process)


_zygotes: dict[tuple, zygote.Zygote] = {}
_zygotes_lock = threading.Lock()


def _batch_zygote(homework_id: str, threads: int | None) -> zygote.Zygote | None:
    """The zygote this process forks ``homework_id``'s graders from, started on first use and
    kept for the batch (``close_zygotes`` ends it; a Dask worker keeps its own for its life, and
    the zygote ends when the worker does): no student's run pays for starting Python, importing
    torch or the homework's ``warm`` calls. None where zygotes are off (``TML_ZYGOTE=0``)."""
    if not zygote.enabled():
        return None
    key = (homework_id, threads)
    with _zygotes_lock:
        found = _zygotes.get(key)
        if found is None or not found.alive():
            homework = homeworks.get(homework_id)
            caps = {v: str(threads) for v in _THREAD_VARIABLES if threads and v not in os.environ}
            found = _zygotes[key] = zygote.start_batch(
                (*homework.preload, *GRADER_PRELOAD, *homework.warm), caps)
        return found


def close_zygotes() -> None:
    """End this process's batch zygotes (and reap them, so that their CPU time is counted)."""
    with _zygotes_lock:
        for found in _zygotes.values():
            found.close()
        _zygotes.clear()


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


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a run killed at any moment leaves the old file or the
    new one, never half of one, so a resumed run can trust every file it finds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _error_results(homework_id: str, error: str) -> dict:
    """The results.json of a submission that could not be graded: 0 points and the reason. It is
    marked so the next (resumed) run grades the student again."""
    return {"score": 0.0, "execution_time": 0.0, "output": f"{homework_id}: 0 points. {error}",
            "tests": [], "extra_data": {"batch_error": error}}


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
    for o in sorted(outcomes, key=lambda o: o.student.id):     # the same columns from any engine
        for t in (o.results or {}).get("tests", []):
            if t["name"] not in max_scores:
                columns.append(t["name"])
                max_scores[t["name"]] = t["max_score"]
    totals, per_test = [], {name: [] for name in columns}
    handle = io.StringIO(newline="")
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
    write_atomically(out / "grades.csv", handle.getvalue())
    write_atomically(out / "summary.md", "\n".join(lines) + "\n")
    return {"students": len(outcomes), "errors": len(errors), "columns": columns,
            "unconfined": len(exposed),
            "mean": statistics.mean(totals) if totals else 0.0,
            "median": statistics.median(totals) if totals else 0.0}


Engine = Callable[[list[tuple[Student, Piece]], Callable[[Student, Piece, Outcome], None]], None]


def local_pool(homework_id: str, jobs: int, timeout: float) -> Engine:
    """The engine that grades on this machine: ``jobs`` graders at once, each in its process."""
    def run(todo: list[tuple[Student, Piece]],
            done: Callable[[Student, Piece, Outcome], None]) -> None:
        threads = threads_per_job(jobs) if jobs > 1 else None
        # Threads only wait: each student's grading runs in its own process (and its sandbox child).
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(grade_student, homework_id, student, piece.parts, timeout,
                                   threads): (student, piece) for student, piece in todo}
            try:
                for future in as_completed(futures):
                    student, piece = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as error:         # never let one student stop the batch
                        outcome = Outcome(student, None, f"{type(error).__name__}: {error}")
                    done(student, piece, outcome)
            except BaseException:                      # Ctrl-C: stop the graders in flight too
                pool.shutdown(wait=False, cancel_futures=True)
                with _running_lock:
                    for process in list(_running):
                        _kill_group(process)
                raise
            finally:
                close_zygotes()         # a batch's zygote lives as long as the batch
    return run


def _warn_without_gpu(homework_id: str, parts: list[str] | None) -> None:
    """Locally, a section that needs a GPU falls back to its CPU run: say so before grading."""
    from autograder.distributed import cuda_available
    sections = [s for s in plan(homework_id, parts, split_gpu=True) if s.gpu]
    if sections and not cuda_available():
        print(f"note: no CUDA GPU here, so section(s) {', '.join(sections[0].parts or ())} are "
              "graded by their CPU fallback (the GPU criterion is not evaluated). Grade them on "
              "GPU workers with --scheduler.", file=sys.stderr)


def grade_all(homework_id: str, submissions: str | Path, out: str | Path, jobs: int = 1,
              force: bool = False, parts: list[str] | None = None,
              timeout: float = DEFAULT_TIMEOUT, progress: bool = True,
              scheduler: str | None = None, merge_with: str | Path | None = None,
              require_isolation: bool = False) -> list[Outcome]:
    """Grade every submission in ``submissions`` into ``out`` (see the module's docstring).

    ``scheduler``: a Dask scheduler's address (``tcp://host:8786``) whose workers grade instead of
    a local pool of ``jobs``; sections needing a GPU then go to GPU workers only. ``merge_with``:
    a grade-all output folder or a Gradescope export whose results are kept for the sections this
    run does not grade (e.g. Gradescope's parts 1-2 under part 3 graded on GPU workers).
    ``require_isolation``: refuse to start where the machine that grades (here, or every Dask
    worker) cannot confine the students' code."""
    homework = homeworks.get(homework_id)
    if require_isolation and scheduler is None and not isolation.landlock_abi():
        raise IsolationUnavailable("--require-isolation: this kernel cannot confine the students' "
                                   "code (Landlock, Linux 5.13 or later, is not available here)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students = discover(homework.id, submissions)
    pieces = plan(homework.id, parts, split_gpu=scheduler is not None)
    base: dict[str, dict] = {}
    if merge_with is not None:
        from autograder.regrade import read_results
        base = {student: results for student, results in read_results(merge_with).items()
                if not results.get("extra_data", {}).get("batch_error")}     # nothing to keep
    if scheduler is None:
        _warn_without_gpu(homework.id, parts)
        engine = local_pool(homework.id, jobs, timeout)
    else:
        from autograder.distributed import cluster_engine
        engine = cluster_engine(scheduler, homework.id, timeout, needs_gpu=any(p.gpu for p in pieces),
                                require_isolation=require_isolation)

    def piece_path(student: Student, piece: Piece) -> Path:
        return out / "students" / student.id / "pieces" / f"{piece.name}.json"

    outcomes: list[Outcome] = []
    todo: list[tuple[Student, Piece]] = []
    finished: dict[str, dict[str, Outcome]] = {}    # student -> piece name -> its outcome
    for student in students:
        previous = None if force else _load_previous(out / "students" / student.id / "results.json")
        if previous is not None:
            outcomes.append(Outcome(student, previous, skipped=True))
            continue
        finished[student.id] = {}
        for piece in pieces:
            kept = None if force or piece.name == WHOLE else _load_previous(piece_path(student, piece))
            if kept is not None:
                finished[student.id][piece.name] = Outcome(student, kept, skipped=True)
            else:
                todo.append((student, piece))

    def finish(student: Student) -> None:
        """Every piece of ``student`` is in: merge them (over the base results) into one row."""
        folder = out / "students" / student.id
        graded = [finished[student.id][piece.name] for piece in pieces]
        failed = [o for o in graded if o.results is None]
        if failed:
            outcome = Outcome(student, None, " ".join(o.error for o in failed),
                              sum(o.seconds for o in graded))
        elif len(graded) == 1 and student.id not in base:
            outcome = graded[0]
        else:
            labelled = ([(f"{Path(merge_with).name} (kept)", base[student.id])]
                        if student.id in base else [])
            labelled += [(f"{piece.name} piece" + (f" on {o.worker}" if o.worker else ""), o.results)
                         for piece, o in zip(pieces, graded)]
            outcome = Outcome(student, merge_results(homework.id, labelled),
                              seconds=sum(o.seconds for o in graded))
        results = outcome.results if outcome.results is not None else \
            _error_results(homework.id, outcome.error)
        write_atomically(folder / "results.json", json.dumps(results, indent=2, allow_nan=False))
        write_atomically(folder / "feedback.md", feedback_markdown(homework.id, outcome))
        outcomes.append(outcome)

    def done(student: Student, piece: Piece, outcome: Outcome) -> None:
        outcome.student = student                    # the worker's copy points at its scratch
        folder = out / "students" / student.id
        log = outcome.log + (f"\n(graded on {outcome.worker})\n" if outcome.worker else "")
        write_atomically(folder / ("grader.log" if piece.name == WHOLE else f"grader.{piece.name}.log"),
                         log)
        if piece.name != WHOLE and outcome.results is not None:
            write_atomically(piece_path(student, piece),
                             json.dumps(outcome.results, indent=2, allow_nan=False))
        finished[student.id][piece.name] = outcome
        if len(finished[student.id]) == len(pieces):
            finish(student)
        bar.update(1)

    from tqdm import tqdm
    bar = tqdm(total=len(todo), desc=f"grading {homework.id}", unit="run",
               disable=not progress or not todo, file=sys.stderr)
    for student in students:                         # every piece kept from an earlier run
        if student.id in finished and len(finished[student.id]) == len(pieces):
            finish(student)
    try:
        engine(todo, done)
    finally:
        bar.close()
    for outcome in outcomes:
        if outcome.skipped:
            write_atomically(out / "students" / outcome.student.id / "feedback.md",
                             feedback_markdown(homework.id, outcome))
    write_reports(homework.id, outcomes, out)
    return sorted(outcomes, key=lambda o: o.student.id)
