"""Student code runs in a child process: faults cost only the call that hit them."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, write_notebook

sys.path.insert(0, str(REPO / "benchmarks"))
import cgroups  # noqa: E402  (benchmarks/cgroups.py: memory cgroups as Docker makes them)

from autograder.grade import prepare
from autograder.sandbox import (Budget, MissingFunction, StudentException, Submission,
                                SubmissionCrashed, SubmissionTimeout)

SOURCE = '''
import numpy as np
import os

def double(x):
    print("hello from the student")
    return x * 2

def ask(query, D):
    return query(np.eye(D))

def spin():
    while True:
        pass

def leave():
    os._exit(3)

def todo():
    raise NotImplementedError()

def uses_global():
    return X_train

def exits():
    raise SystemExit(1)

calls = []

def count():
    calls.append(1)
    return len(calls), os.getpid()

def nbytes(x):
    return x.nbytes

def peak_rss_mb():
    with open("/proc/self/status") as f:
        return [int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM")][0]

def busy(seconds):
    import time
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds

def nap(seconds):
    import time
    time.sleep(seconds)
    return seconds

def busy_thread(seconds):
    import time
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def busy_threads(seconds, n):
    import threading
    threads = [threading.Thread(target=busy_thread, args=(seconds,)) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n

def busy_subprocess(seconds):
    import subprocess, sys
    code = f"import time\\nend = time.process_time() + {seconds}\\nwhile time.process_time() < end: pass"
    return subprocess.run([sys.executable, "-c", code]).returncode

def ask_slowly(query):
    return query(0)

def taint_numpy():
    np.tainted_by_the_student = True

def numpy_tainted():
    return hasattr(np, "tainted_by_the_student")
'''


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from conftest import write_notebook
    path = write_notebook(tmp_path_factory.mktemp("nb") / "s.ipynb", SOURCE, "double(3)\nspin()")
    box, problems = prepare(path)
    assert problems == []
    yield box
    box.close()


def call(box, name, *args, seconds=20, wall=None):
    box.budget = Budget(seconds, wall or 5 * seconds)
    try:
        return getattr(Submission(box), name)(*args)
    finally:
        box.budget = None


def test_values_cross_both_ways(sandbox):
    np.testing.assert_array_equal(call(sandbox, "double", np.arange(3)), [0, 2, 4])


def test_grader_callbacks_run_in_the_grader(sandbox):
    seen = []

    def query(rows):
        seen.append(rows.shape)
        return rows.sum(axis=1)
    np.testing.assert_array_equal(call(sandbox, "ask", query, 4), np.ones(4))
    assert seen == [(4, 4)]


def test_hang_times_out_and_the_next_call_works(sandbox):
    with pytest.raises(SubmissionTimeout, match="infinite loop"):
        call(sandbox, "spin", seconds=1)
    assert call(sandbox, "double", 2) == 4


def test_the_limit_is_on_cpu_time_not_on_waiting(sandbox):
    # Sleeping 1.5 s costs no CPU: it passes a 1 s CPU limit, within the 5 s wall backstop.
    assert call(sandbox, "nap", 1.5, seconds=1) == 1.5
    budget = Budget(1.0, 5.0)
    sandbox.budget = budget
    try:
        with pytest.raises(SubmissionTimeout, match="more than 1 s of CPU time"):
            Submission(sandbox).busy(30)
    finally:
        sandbox.budget = None
    assert 1.0 < budget.cpu_used < 1.8 and budget.wall_used < 5.0
    assert call(sandbox, "double", 2) == 4


def test_sleeping_past_the_wall_clock_backstop_is_stopped(sandbox):
    began = time.monotonic()
    with pytest.raises(SubmissionTimeout, match="wall-clock limit"):
        call(sandbox, "nap", 60, seconds=1, wall=2)
    assert time.monotonic() - began < 10


@pytest.mark.parametrize("name, args", [("busy_threads", (0.6, 3)),
                                        ("busy_subprocess", (1.2,))])
def test_threads_and_subprocesses_count_towards_the_limit(sandbox, name, args):
    budget = Budget(60.0, 300.0)
    sandbox.budget = budget
    try:
        getattr(Submission(sandbox), name)(*args)
    finally:
        sandbox.budget = None
    assert budget.cpu_used >= 1.1, budget      # 3 threads × 0.6 s, or the child's 1.2 s


def test_the_graders_callbacks_are_not_the_students_time(sandbox):
    def slow_oracle(_):
        time.sleep(1.5)        # the grader's own work, e.g. under a loaded machine
        return 1
    budget = Budget(1.0, 1.0)
    sandbox.budget = budget
    try:
        assert Submission(sandbox).ask_slowly(slow_oracle) == 1
    finally:
        sandbox.budget = None
    assert budget.wall_used < 1.0


def test_exiting_the_process_is_reported_and_recovered(sandbox):
    with pytest.raises(SubmissionCrashed, match="exit code 3"):
        call(sandbox, "leave")
    assert call(sandbox, "double", 5) == 10


@pytest.mark.parametrize("name, message", [
    ("todo", "not implemented yet"),
    ("uses_global", "not top-level work"),
    ("exits", "raised SystemExit"),
])
def test_student_exceptions_carry_a_readable_message(sandbox, name, message):
    with pytest.raises(StudentException, match=message):
        call(sandbox, name)


def test_missing_function_names_itself(sandbox):
    with pytest.raises(MissingFunction, match="`softmax` is not defined"):
        call(sandbox, "softmax")


def test_top_level_work_never_ran(sandbox):
    # `spin()` sits at top level in the notebook: had it run, loading would have hung.
    assert "spin" in sandbox.defined and sandbox.load_problems == []


def test_restart_gives_a_fresh_process_with_the_same_definitions(sandbox):
    from autograder.sandbox.parent import _running_in_group
    call(sandbox, "count")
    before, starts = call(sandbox, "count")[0], sandbox.starts
    group = sandbox._process.pid
    assert _running_in_group(group)
    sandbox.stop()      # returns only once the old child has exited: two must not overlap
    assert not _running_in_group(group)
    sandbox.restart()
    assert before >= 2 and call(sandbox, "count")[0] == 1
    assert sandbox.starts == starts + 1 and "double" in sandbox.defined


def test_a_restarted_child_holds_nothing_of_the_last_one(sandbox):
    """A fresh child (fresh_process checks) is forked from the zygote, which never ran student
    code: what the last child changed in a library it imported is gone."""
    call(sandbox, "taint_numpy")
    assert call(sandbox, "numpy_tainted")
    sandbox.restart()
    assert not call(sandbox, "numpy_tainted")


def test_a_child_forked_from_the_zygote_starts_in_a_fraction_of_a_second(sandbox):
    from autograder import zygote
    if not zygote.enabled():
        pytest.skip("TML_ZYGOTE=0")
    sandbox.restart()     # the zygote is running
    began = time.monotonic()
    sandbox.restart()
    assert time.monotonic() - began < 2.0       # a torch import takes several seconds
    assert call(sandbox, "double", 1) == 2


def test_a_call_frees_its_arguments_before_the_next_arrives(sandbox):
    # Two 96 MB arguments in a row: the second must not arrive while the first is still held.
    sandbox.restart()
    start = call(sandbox, "peak_rss_mb")
    for _ in range(2):
        assert call(sandbox, "nbytes", np.ones(12_000_000)) == 96_000_000
    assert call(sandbox, "peak_rss_mb") - start < 150


def test_models_are_built_in_the_child_from_trusted_factories(tmp_path):
    import torch

    from tmlkit.models import tiny_mlp
    from autograder.sandbox import Build
    from conftest import write_notebook
    source = ("import torch\n"
              "def predict(model, layer, x):\n"
              "    assert layer is model[0]\n"
              "    return model(torch.as_tensor(x))\n")
    box, _ = prepare(write_notebook(tmp_path / "m.ipynb", source))
    with box:
        model = Build("tmlkit.models:tiny_mlp", (3,))
        x = np.ones((2, 4))
        got = call(box, "predict", model, model.attribute("0"), x)
        np.testing.assert_allclose(got, tiny_mlp(3)(torch.as_tensor(x)).detach().numpy())
        with pytest.raises(StudentException, match="refused to build"):
            call(box, "predict", Build("os:system", ("true",)), None, x)


HOG = """
import numpy as np

def weighted_least_squares(X, y, w):
    hog = np.ones((4 << 30) // 8)        # 4 GiB, every page touched
    return hog[:3]
"""


@pytest.mark.skipif(not cgroups.available(), reason="needs root and a writable cgroup file system")
def test_a_child_killed_at_the_memory_limit_is_reported_as_out_of_memory(tmp_path):
    """As in Gradescope's container: the cgroup's limit, not RLIMIT_AS, stops the child. Its exit
    status says nothing useful (under unshare it is 1), so the grader reads the cgroup's count."""
    write_notebook(tmp_path / "hog.ipynb", HOG)
    out = tmp_path / "results.json"
    group = cgroups.MemoryCgroup(1024)
    try:
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", "hw4",
                               str(tmp_path / "hog.ipynb"), "--part", "2.2", "--results", str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=300,
                              preexec_fn=group.enter)
    finally:
        group.remove()
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    outputs = [test["output"] for test in results["tests"]]
    assert any("ran out of memory" in output for output in outputs), outputs
    assert not any("exit()" in output for output in outputs), outputs
    # The instructor is told the limit, and that the run reached it.
    memory = results["extra_data"]["memory"]
    assert memory["limit_mib"] == 1024 and memory["oom_kills"] >= 1, memory
    assert "WARNING for the instructor" in done.stdout


# The seed is passed in two halves that the child never joins; a hit is the whole seed.
SEARCH = """
import os

def _occurs(data, head, tail):
    at = data.find(head)
    while at != -1:
        if data[at + len(head):at + len(head) + len(tail)] == tail:
            return True
        at = data.find(head, at + 1)
    return False

def holds(head, tail):
    head, tail = head.encode(), tail.encode()
    places = []
    with open("/proc/self/environ", "rb") as f:
        if _occurs(f.read(), head, tail) or any(_occurs(v.encode(), head, tail)
                                                 for v in os.environ.values()):
            places.append("environment")
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:    # writable memory: heap, stacks, anonymous maps, libraries' data
            fields = line.split()
            low, high = (int(x, 16) for x in fields[0].split("-"))
            if "rw" not in fields[1]:
                continue
            for at in range(low, high, 1 << 24):
                try:
                    chunk = os.pread(mem.fileno(), min((1 << 24) + 64, high - at), at)
                except OSError:
                    break
                if _occurs(chunk, head, tail):
                    places.append(line.strip())
                    break
    return places
"""

SEED_HEAD, SEED_TAIL = "73915604", "28461937"
SEEKER = SEARCH + f"""
def weighted_least_squares(X, y, w):
    places = holds({SEED_HEAD!r}, {SEED_TAIL!r})
    raise RuntimeError(f"seed found: {{places}}" if places else "seed not found")
"""


def test_the_search_finds_a_seed_that_is_there(monkeypatch):
    """The control: in a process that holds the seed, as the grader does, the search finds it."""
    monkeypatch.setenv("TML_GRADER_SEED", SEED_HEAD + SEED_TAIL)
    namespace: dict = {}
    exec(SEARCH, namespace)
    assert "environment" in namespace["holds"](SEED_HEAD, SEED_TAIL)


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_a_child_finds_no_trace_of_the_graders_seed(tmp_path, zygote):
    """Graded as run_autograder grades, with $TML_GRADER_SEED set: the student's process
    searches its environment and its memory for the seed and finds nothing, whether it was
    forked from the zygote (which never held it) or started afresh."""
    import os
    write_notebook(tmp_path / "seeker.ipynb", SEEKER)
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "hw4",
                           str(tmp_path / "seeker.ipynb"), "--part", "2.2", "--results", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TML_GRADER_SEED": SEED_HEAD + SEED_TAIL,
                               "TML_ZYGOTE": zygote})
    assert done.returncode == 0, done.stderr
    outputs = [test["output"] for test in json.loads(out.read_text())["tests"]]
    assert any("seed not found" in output for output in outputs), outputs
    assert not any("seed found: [" in output for output in outputs), outputs   # not the source
