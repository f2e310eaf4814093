"""grade-all on a real Dask cluster: `dask scheduler` and `dask worker` processes on 127.0.0.1.

A killed worker loses nothing and the grades equal the local pool's; a scheduler that goes away
stops the run with a clear message and a rerun (here on the local pool) resumes; sections that
need a GPU go only to a worker started with `--resources GPU=1`, and without one grade-all
refuses before grading. No real GPU is used: the "GPU" worker preloads tests/fake_cuda.py, which
makes autograder.distributed.cuda_available say yes, so its grader still runs part 3's CPU
fallback (the output says so). The GPU criterion itself is not tested on a GPU here.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPO

from autograder import homeworks
from autograder.batch import IsolationUnavailable, grade_all
from autograder.distributed import ClusterError
from tmlkit import isolation

HW1 = homeworks.get("hw1")
PARTS = ["2.1"]                      # three quick checks, one of them hidden (seeded below)
DASK = Path(sys.executable).parent / "dask"
SEED = "1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and workers as separate processes, bound to 127.0.0.1 only."""

    def __init__(self, logs: Path):
        self.logs, self.port = logs, free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        logs.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'student'}"}
        self.scheduler = self._start("scheduler", "scheduler", "--host", "127.0.0.1",
                                     "--port", str(self.port), "--no-dashboard")
        self.workers: dict[str, subprocess.Popen] = {}

    def _start(self, log: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(DASK), *args], cwd=REPO, env=self.env,
                                stdout=subprocess.DEVNULL,
                                stderr=open(self.logs / f"{log}.log", "w"))

    def add_worker(self, name: str, *extra: str) -> None:
        self.workers[name] = self._start(name, "worker", self.address, "--host", "127.0.0.1",
                                         "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                         "--name", name, *extra)

    def wait_for(self, names: list[str], timeout: float = 120) -> dict[str, str]:
        """name -> address, once those workers have joined."""
        from distributed import Client
        with Client(self.address, timeout=60, set_as_default=False) as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                joined = {w["name"]: a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
                if set(names) <= set(joined):
                    return {name: joined[name] for name in names}
                time.sleep(0.5)
        raise TimeoutError(f"workers {names} did not join; see {self.logs}")

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """Kill a process and its graders at once, as when its machine goes away."""
        try:
            tree = [process.pid] + [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for pid in tree:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)

    def close(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                self.kill(process)


@pytest.fixture
def cluster(tmp_path):
    started = Cluster(tmp_path / "dask-logs")
    yield started
    started.close()


@pytest.fixture(autouse=True)
def seeded(monkeypatch):
    monkeypatch.setenv("TML_GRADER_SEED", SEED)      # hidden checks draw the same on any engine


def make_class(root: Path, size: int = 6) -> Path:
    root.mkdir()
    for i in range(size):
        shutil.copy(HW1.solution if i % 2 == 0 else HW1.student, root / f"student{i}.ipynb")
    return root


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The class graded by the local pool: the grades every engine must give."""
    folder = tmp_path_factory.mktemp("local")
    subs = make_class(folder / "subs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TML_GRADER_SEED", SEED)
        grade_all("hw1", subs, folder / "out", jobs=2, parts=PARTS, progress=False)
    return subs, (folder / "out" / "grades.csv").read_text()


def when(count: int, out: Path, action, timeout: float = 600) -> threading.Thread:
    """Run ``action`` (in a thread) once ``count`` students' results.json exist in ``out``;
    it records how many there were when it acted."""
    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(list(out.glob("students/*/results.json"))) >= count:
                watch.seen = len(list(out.glob("students/*/results.json")))
                action()
                return
            time.sleep(0.05)
    watch.seen = None
    thread = threading.Thread(target=watch, daemon=True)
    thread.watch = watch
    thread.start()
    return thread


def test_killed_worker_loses_nothing(cluster, local_reference, tmp_path):
    subs, expected = local_reference
    cluster.add_worker("a")
    cluster.add_worker("b")
    addresses = cluster.wait_for(["a", "b"])
    out = tmp_path / "out"
    killer = when(1, out, lambda: cluster.kill(cluster.workers["b"]))
    outcomes = grade_all("hw1", subs, out, parts=PARTS, progress=False, scheduler=cluster.address)
    killer.join(timeout=5)
    assert killer.watch.seen is not None and killer.watch.seen < 6, "the worker died too late"
    assert cluster.workers["b"].poll() is not None
    assert not any(o.error for o in outcomes), [o.error for o in outcomes]
    assert (out / "grades.csv").read_text() == expected           # one row each, same grades
    graded_on = {o.student.id: o.worker for o in outcomes}
    assert set(graded_on.values()) <= set(addresses.values())
    assert len(graded_on) == 6 and addresses["a"] in graded_on.values()


def test_scheduler_lost_then_resumed_locally(cluster, local_reference, tmp_path):
    subs, expected = local_reference
    cluster.add_worker("a")
    cluster.wait_for(["a"])
    out = tmp_path / "out"
    when(1, out, lambda: cluster.kill(cluster.scheduler))
    began = time.monotonic()
    with pytest.raises(ClusterError, match="went away .* rerun the same command"):
        grade_all("hw1", subs, out, parts=PARTS, progress=False, scheduler=cluster.address)
    assert time.monotonic() - began < 300
    kept = sorted(p.parent.name for p in out.glob("students/*/results.json"))
    assert 1 <= len(kept) < 6
    outcomes = grade_all("hw1", subs, out, jobs=2, parts=PARTS, progress=False)   # resumes
    assert sorted(o.student.id for o in outcomes if o.skipped) == kept
    assert (out / "grades.csv").read_text() == expected


def test_unreachable_scheduler_says_so(tmp_path):
    subs = make_class(tmp_path / "subs", 1)
    with pytest.raises(ClusterError, match="No Dask scheduler answered"):
        grade_all("hw1", subs, tmp_path / "out", parts=PARTS, progress=False,
                  scheduler=f"tcp://127.0.0.1:{free_port()}")


def fast_cifar_solution(path: Path) -> Path:
    """The solution with a train_cifar_model that answers at once (and scores 0 on part 3)."""
    from conftest import replace_function
    return replace_function(HW1.solution, "train_cifar_model",
                            "def train_cifar_model(x_train, y_train, x_test, time_budget_s=1000.0):\n"
                            "    return np.zeros(len(x_test), dtype=np.int64)\n", path)


def test_gpu_section_only_on_gpu_workers(cluster, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    fast_cifar_solution(subs / "alice.ipynb")
    shutil.copy(HW1.student, subs / "bob.ipynb")
    cluster.add_worker("cpu")
    cluster.wait_for(["cpu"])
    out = tmp_path / "out"
    with pytest.raises(ClusterError, match="none with a GPU"):        # before any grading
        grade_all("hw1", subs, out, parts=["2.1", "3"], progress=False, scheduler=cluster.address)
    assert not (out / "students").exists()
    cluster.add_worker("gpu", "--resources", "GPU=1", "--preload", str(REPO / "tests" / "fake_cuda.py"))
    addresses = cluster.wait_for(["cpu", "gpu"])
    outcomes = grade_all("hw1", subs, out, parts=["2.1", "3"], progress=False,
                         scheduler=cluster.address)
    assert not any(o.error for o in outcomes), [o.error for o in outcomes]
    for student, total in (("alice", 5), ("bob", 0)):
        folder = out / "students" / student
        results = json.loads((folder / "results.json").read_text())
        assert [t["number"] for t in results["tests"]] == ["2.1"] * 3 + ["3"]     # one row
        assert results["score"] == total
        assert {p.name for p in (folder / "pieces").iterdir()} == {"cpu.json", "gpu.json"}
        assert f"(graded on {addresses['gpu']})" in (folder / "grader.gpu.log").read_text()
        gpu_piece = json.loads((folder / "pieces" / "gpu.json").read_text())
        assert [t["number"] for t in gpu_piece["tests"]] == ["3"]
    cifar = json.loads((out / "students" / "alice" / "results.json").read_text())["tests"][-1]
    assert "CPU run" in cifar["output"]             # the fake GPU worker had no GPU: said plainly
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 3                           # a header and one row per student


def test_require_isolation_probes_every_worker(cluster, tmp_path):
    """--require-isolation on a cluster asks each worker's kernel, not the client's."""
    subs = make_class(tmp_path / "subs", 1)
    cluster.add_worker("confined")
    cluster.add_worker("unconfined", "--preload", str(REPO / "tests" / "no_landlock.py"))
    addresses = cluster.wait_for(["confined", "unconfined"])
    out = tmp_path / "out"
    with pytest.raises(IsolationUnavailable) as refused:               # before any grading
        grade_all("hw1", subs, out, parts=["2.1"], progress=False, scheduler=cluster.address,
                  require_isolation=True)
    assert f"unconfined ({addresses['unconfined']})" in str(refused.value)
    if isolation.landlock_abi():               # where the real kernel confines, only the other
        assert "1 of 2 Dask workers" in str(refused.value)
        assert addresses["confined"] not in str(refused.value)
    assert not (out / "students").exists()


def test_merge_with_gradescope_export(tmp_path):
    """Parts 1-2 as Gradescope graded them (its export's :results:), part 3 graded now."""
    import yaml
    export = tmp_path / "assignment_1_export"
    (export / "submission_7").mkdir(parents=True)
    shutil.copy(HW1.student, export / "submission_7" / HW1.notebook)
    kept = {"score": 7.0, "tests": [
        {"name": "1.1 softmax: matches scipy", "number": "1.1", "score": 1.0, "max_score": 1.0,
         "status": "passed"},
        {"name": "2.2 invert: exact", "number": "2.2", "score": 2.0, "max_score": 3.0,
         "status": "failed"},
        {"name": "3 train_cifar_model: stale", "number": "3", "score": 4.0, "max_score": 4.0,
         "status": "passed"}]}
    (export / "submission_metadata.yml").write_text(yaml.safe_dump({"submission_7": {
        ":submitters": [{":name": "Ann", ":sid": "7"}], ":score": 7.0, ":results": kept}}))
    out = tmp_path / "out"
    outcomes = grade_all("hw1", tmp_path, out, parts=["3"], progress=False, merge_with=tmp_path)
    results = outcomes[0].results
    assert [t["name"] for t in results["tests"][:2]] == [t["name"] for t in kept["tests"][:2]]
    assert results["tests"][2]["number"] == "3" and results["tests"][2]["score"] == 0
    assert "stale" not in json.dumps(results["tests"])       # part 3 replaced, not duplicated
    assert results["score"] == 3.0
