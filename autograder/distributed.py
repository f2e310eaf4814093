"""grade-all on a Dask cluster: each student's grading runs on a worker, its results come back here.

    python -m autograder grade-all hw1 SUBMISSIONS_DIR --scheduler tcp://HOST:8786 -o OUT_DIR

The engine is ``dask.distributed``; clusters are started with Dask's own tools (``dask scheduler``
and ``dask worker``, dask-jobqueue's ``SLURMCluster``, the Dask Kubernetes operator: see
docs/instructors.md). A worker needs only the kit's instructor install and the data
(``$TML_DATA_DIR``): it receives the submission's notebook(s) with the task, grades them with
``python -m autograder grade`` in a process of its own exactly as the local pool does
(``batch.grade_student``), and returns the results. Only the client writes the output folder,
so the workers share no file system with it.

Reliability comes from Dask and from that folder: a worker that dies takes its tasks with it and
the scheduler runs them on another worker (up to Dask's ``allowed-failures``), and each task's
result arrives once, so a student is written once, to the one row its id names. A scheduler that
goes away cancels every task in flight: the run stops with :class:`ClusterError`, keeping what
was written, and the same command, rerun, grades only the rest.

Sections whose checks need a GPU (``@check(..., gpu=True)``) ask for the worker resource
``GPU``: only workers started with ``--resources GPU=1`` run them.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from autograder.batch import (Engine, IsolationUnavailable, Outcome, Piece, Student, grade_student,
                              threads_per_job)
from autograder.submission import IGNORED_FOLDERS

GPU = "GPU"                    # the worker resource: dask worker ... --resources GPU=1
CONNECT_TIMEOUT_S = 30.0
WAIT_FOR_WORKERS_S = 120.0
# The grader's settings that must be the same wherever a student is graded.
GRADING_ENVIRONMENT = ("TML_GRADER_SEED", "TML_HIDDEN_VISIBILITY")


class ClusterError(RuntimeError):
    """The cluster cannot grade (unreachable, no workers, no GPU worker) or went away mid-run."""


def cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def submission_files(student: Student) -> tuple[dict[str, bytes], str]:
    """What a worker needs to grade ``student``: {relative path: bytes} and the notebook's path
    among them, or "" when the submission is a folder without a single notebook (then its
    notebooks travel, so the worker finds the same problem with the same message)."""
    notebook = student.notebook
    if notebook is None or notebook.is_file():
        return ({notebook.name: notebook.read_bytes()}, notebook.name) if notebook else ({}, "")
    files = {}
    for path in sorted(notebook.rglob("*.ipynb")):
        relative = path.relative_to(notebook)
        if path.is_file() and not any(part in IGNORED_FOLDERS for part in relative.parts):
            files[str(relative)] = path.read_bytes()
    return files, ""


def grade_on_worker(homework_id: str, student_id: str, files: dict[str, bytes], entry: str,
                    parts: tuple[str, ...] | None, timeout: float, environment: dict[str, str],
                    gpu: bool) -> Outcome:
    """The task a worker runs: write the submission to a scratch folder and grade it there."""
    from distributed import get_worker
    worker = get_worker()
    if gpu and not cuda_available():
        return Outcome(Student(student_id, None), None,
                       f"The Dask worker {worker.address} was started with --resources {GPU}=1, but "
                       "torch sees no CUDA GPU there; the section that needs a GPU was not graded.",
                       worker=worker.address)
    with tempfile.TemporaryDirectory(prefix=f"tml-{student_id}-") as scratch:
        for name, content in files.items():
            (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(scratch) / name).write_bytes(content)
        student = Student(student_id, Path(scratch) / entry if entry else Path(scratch))
        threads = threads_per_job(worker.state.nthreads) if worker.state.nthreads > 1 else None
        outcome = grade_student(homework_id, student, parts, timeout, threads, environment)
    outcome.worker = worker.address
    return outcome


def _connect(address: str):
    from distributed import Client
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"No Dask scheduler answered at {address} within {CONNECT_TIMEOUT_S:g} s "
                           f"({type(error).__name__}). Start one (`dask scheduler`) and its "
                           "workers, or leave out --scheduler to grade on this machine.") from None


def _check_workers(client, address: str, needs_gpu: bool) -> None:
    """Before any grading: there are workers, and a GPU worker when a section needs one."""
    try:
        client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
    except TimeoutError:
        client.close()
        raise ClusterError(f"The Dask scheduler at {address} has no workers (waited "
                           f"{WAIT_FOR_WORKERS_S:g} s): start some with `dask worker {address}`.") from None
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    if needs_gpu and not any(w.get("resources", {}).get(GPU, 0) >= 1 for w in workers):
        client.close()
        raise ClusterError(f"The Dask cluster at {address} has {len(workers)} worker(s), none with a "
                           f"GPU, and a section to grade needs one. Start a worker on a GPU machine "
                           f"with `dask worker {address} --resources {GPU}=1 --nthreads 1`, or leave "
                           "that section out with --parts.")


def _check_isolation(client, address: str) -> None:
    """``--require-isolation`` on a cluster: every worker's kernel can confine the students' code
    (probed now; a worker that joins later is not)."""
    from tmlkit import isolation
    abis = client.run(isolation.landlock_abi)
    names = {a: w.get("name", a) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    lacking = sorted(f"{names.get(a, a)} ({a})" for a, abi in abis.items() if not abi)
    if lacking:
        client.close()
        raise IsolationUnavailable(
            f"--require-isolation: {len(lacking)} of {len(abis)} Dask workers at {address} cannot "
            f"confine the students' code (Landlock, Linux 5.13 or later, is not available there): "
            f"{', '.join(lacking)}")


def cluster_engine(address: str, homework_id: str, timeout: float, needs_gpu: bool,
                   require_isolation: bool = False) -> Engine:
    """The engine that grades on the Dask cluster whose scheduler is at ``address``; connecting
    and checking its workers (and, with ``require_isolation``, their kernels) happen now, before
    any grading."""
    client = _connect(address)
    _check_workers(client, address, needs_gpu)
    if require_isolation:
        _check_isolation(client, address)
    environment = {name: os.environ[name] for name in GRADING_ENVIRONMENT if name in os.environ}

    def run(todo: list[tuple[Student, Piece]],
            done: Callable[[Student, Piece, Outcome], None]) -> None:
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.comm import CommClosedError
        from distributed.scheduler import KilledWorker
        futures = {}
        for student, piece in todo:
            files, entry = submission_files(student)
            future = client.submit(grade_on_worker, homework_id, student.id, files, entry,
                                   piece.parts, timeout, environment, piece.gpu, pure=False,
                                   key=f"grade-{homework_id}-{student.id}-{piece.name}-{os.urandom(4).hex()}",
                                   resources={GPU: 1} if piece.gpu else None,
                                   priority=1 if piece.gpu else 0)   # GPU workers take GPU work first
            futures[future] = (student, piece)
        finished = 0
        try:
            for future in as_completed(futures, loop=client.loop):
                student, piece = futures[future]
                try:
                    outcome = future.result()
                except KilledWorker as error:
                    outcome = Outcome(student, None, f"Every Dask worker that took this student died "
                                                     f"({error}); see the workers' logs.")
                except (FutureCancelledError, CommClosedError, OSError) as error:
                    raise ClusterError(
                        f"The Dask scheduler at {address} went away ({type(error).__name__}) after "
                        f"{finished} of {len(futures)} gradings. Everything graded so far is saved; "
                        "start the cluster again and rerun the same command to grade the rest."
                    ) from None
                except Exception as error:               # never let one student stop the batch
                    outcome = Outcome(student, None, f"{type(error).__name__}: {error}")
                finished += 1
                done(student, piece, outcome)
        except KeyboardInterrupt:
            print("interrupted: cancelling the gradings not yet finished", file=sys.stderr)
            client.cancel(list(futures))
            raise
        finally:
            client.close()
    return run
