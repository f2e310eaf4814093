"""Every homework's Gradescope zip, run the way Gradescope's own harness runs it.

From the zip alone (gradescope/autograder_samples: docs/specs.md, manual_docker/Dockerfile): its
contents extracted into ROOT/source, run_autograder copied to ROOT, `bash ROOT/source/setup.sh` run
from another folder, then ROOT/run_autograder from ROOT per submission, with a python3 that has the
dependencies but cannot import this project. For each homework: the solution gets full marks, the
student notebook zero, and the student notebook with a few functions filled in from the solution
exactly the points of the checks those functions satisfy. Every results.json is validated against
Gradescope's schema. One image per homework is built and reused.
"""
from __future__ import annotations

import json
import os
import time
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from conftest import REPO, replace_function

from autograder import homeworks
from tmlkit import data
from tmlkit.notebook import find_function
from autograder.gradescope import build_zip
from autograder import results as results_module

sys.path.insert(0, str(REPO / "benchmarks"))
import cgroups  # noqa: E402  (benchmarks/cgroups.py: memory cgroups as Docker makes them)

SCHEMA = json.loads((REPO / "tests" / "gradescope_results.schema.json").read_text())

# Functions filled in from the solution → the checks (by id) they alone pass, and their points.
PARTIAL = {
    "hw1": (["softmax", "explain"], {
        "test_softmax_matches_scipy": 1,
        "test_softmax_is_stable_for_large_logits": 1,
        "test_explain_is_input_times_attribution": 1}),
    "hw2": (["weighted_neighborhood_LIME", "product_model_shap"], {
        "test_lime_matches_weighted_least_squares": 3,
        "test_lime_hidden": 2,
        "test_product_model_shap": 1,
        "test_product_model_shap_hidden": 1}),
    "hw3": (["relu", "softmax"], {
        "test_relu_softmax_match_torch": 1,
        "test_softmax_is_stable": 1}),
    "hw4": (["weighted_least_squares"], {
        "test_weighted_least_squares": 2,
        "test_weighted_least_squares_ill_conditioned": 1,
        "test_weighted_least_squares_hidden": 1}),
    "hw5": (["estimate_proportion", "rr_epsilon"], {
        "test_estimate_proportion": 1,
        "test_randomized_response_epsilon": 1}),
}


def solution_source(notebook: Path, name: str) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return find_function(nb, name).source(nb)


def partial_submission(homework_id: str, out: Path) -> Path:
    homework = homeworks.get(homework_id)
    current = homework.student
    for name in PARTIAL[homework_id][0]:
        current = replace_function(current, name, solution_source(homework.solution, name), out)
    return out


VENV_BIN = Path(sys.executable).parent


def harness_env(root: Path, python: Path = VENV_BIN, **extra: str) -> dict:
    """What Gradescope's image gives the scripts: a python3 on PATH (from ``python``, a bin
    folder) that has the dependencies but not this project (no PYTHONPATH, no editable install),
    and nothing of the test's environment."""
    env = {"PATH": f"{python}:/usr/local/bin:/usr/bin:/bin", "HOME": str(root.parent),
           "LANG": "C.UTF-8", "AUTOGRADER_ROOT": str(root), "MPLBACKEND": "Agg"}
    if data.data_dir() is not None:
        env[data.DATA_ENV] = str(data.data_dir())
    return {**env, **extra}


def install_zip(zip_path: Path, root: Path, python: Path = VENV_BIN) -> Path:
    """Build Gradescope's image from the zip alone, as manual_docker/Dockerfile does: contents
    into root/source, run_autograder copied up, then `bash root/source/setup.sh` run from
    elsewhere (offline: the pip install is skipped, every file it names must exist)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    elsewhere = root.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=elsewhere,
                          env=harness_env(root, python, TML_SETUP_OFFLINE="1"), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def run_submission(root: Path, files: dict[str, bytes], python: Path = VENV_BIN,
                   preexec_fn=None, **env: str) -> dict:
    """One submission, as Gradescope runs it: fresh submission/ and results/, then
    /autograder/run_autograder from /autograder (``preexec_fn``: e.g. entering a cgroup)."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
    for name, content in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(content)
    (root / "submission").mkdir(exist_ok=True)
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=harness_env(root, python, **env),
                          capture_output=True, text=True, timeout=900, preexec_fn=preexec_fn)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return results


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """One installed image per homework, built on first use, with the leaderboard enabled."""
    built = {}

    def image(homework_id: str) -> Path:
        if homework_id not in built:
            folder = tmp_path_factory.mktemp(homework_id)
            zip_path = build_zip(homework_id, folder / f"{homework_id}_autograder.zip",
                                 leaderboard=True)
            built[homework_id] = install_zip(zip_path, folder / "autograder")
        return built[homework_id]
    return image


def run_zip(images, homework_id: str, submission: Path) -> dict:
    notebook = homeworks.get(homework_id).notebook
    return run_submission(images(homework_id), {notebook: submission.read_bytes()})


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zips")
    return {hw: build_zip(hw, folder / f"{hw}_autograder.zip") for hw in homeworks.HOMEWORKS}


def test_harness_python_cannot_import_the_project(tmp_path):
    """Otherwise a file missing from the zip would go unnoticed."""
    done = subprocess.run([str(VENV_BIN / "python3"), "-c", "import autograder"], cwd=tmp_path,
                          env=harness_env(tmp_path / "autograder"), capture_output=True, text=True)
    assert done.returncode != 0 and "No module named 'autograder'" in done.stderr


def test_setup_refuses_a_zip_of_the_folder(tmp_path):
    """A zip whose files sit one folder down (the layout this kit once shipped) fails set-up
    with a message that says so, rather than later, per submission."""
    good = build_zip("hw4", tmp_path / "good.zip")
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(nested, "w") as target:
        for info in source.infolist():
            if info.filename in ("setup.sh", "run_autograder"):
                target.writestr(info, source.read(info))
            else:
                info.filename = "source/" + info.filename
                target.writestr(info, source.read(info))
    with pytest.raises(AssertionError, match="requirements.txt is missing"):
        install_zip(nested, tmp_path / "autograder")


def test_every_homework_has_a_partial_submission():
    assert set(PARTIAL) == set(homeworks.HOMEWORKS)


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_zip_contents(zips, homework_id):
    with zipfile.ZipFile(zips[homework_id]) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode()
        run = archive.read("run_autograder").decode()
        setup = archive.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder/__main__.py",
            f"autograder/homeworks/{homework_id}.py"} <= set(infos)
    assert not any(name.endswith(".ipynb") or "solutions" in name for name in infos)
    modes = {name: (info.external_attr >> 16) & 0o777 for name, info in infos.items()}
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert modes["requirements.txt"] == 0o644
    assert "download.pytorch.org/whl/cpu" in requirements and "+cpu" in requirements
    for extra in homeworks.get(homework_id).requirements:
        assert extra in requirements
    assert f"grade {homework_id} " in run and "TML_HIDDEN_VISIBILITY" not in run
    assert "--time-limit" in run and "--no-cache-dir" in setup
    assert "--leaderboard" not in run                  # only when asked for
    assert f'DATASETS="{" ".join(homeworks.get(homework_id).datasets)}"' in setup


# Leaderboard entries (Gradescope's docs/leaderboards.md): name -> (order, the check that measured
# it, how that check's own message states the value, where it does).
LEADERBOARD = {
    "hw1": {"invert: query rows (D = 10)": ("asc", "test_invert_recovers_model_exactly", None),
            "attack: mean L2 / exact minimum": ("asc", "test_attack_perturbation_is_near_minimal",
                                                None),
            "CIFAR-10 accuracy (CPU run)": ("desc", "test_cifar_accuracy_within_budget",
                                            "Accuracy {:.1%}"),
            "CIFAR-10 training time, s (CPU run)": ("asc", "test_cifar_accuracy_within_budget",
                                                    "in {:.1f} s")},
    # ε is 0.1 on MNIST, 0.2 on the digits a grader without MNIST trains on
    "hw5": {f"adversarial_training: PGD-20 accuracy at eps = {0.1 if data.mnist_available() else 0.2:g}": (
        "desc", "test_adversarial_training_is_robust", "/ {:.1%} (the grader's PGD)")},
}


def check_leaderboard(homework_id: str, results: dict) -> None:
    """The entries are there, in Gradescope's format, with the values the checks reported."""
    expected = LEADERBOARD.get(homework_id, {})
    board = {entry["name"]: entry for entry in results["leaderboard"]}
    assert {name: e["order"] for name, e in board.items()} == \
        {name: order for name, (order, _, _) in expected.items()}
    outputs = {t["extra_data"]["id"]: t["output"] for t in results["tests"]}
    for name, (_, check, said) in expected.items():
        if said is not None:
            assert said.format(board[name]["value"]) in outputs[check], (name, outputs[check])
    if homework_id == "hw1":
        assert board["invert: query rows (D = 10)"]["value"] == 11     # D + 1, as the oracle counted
        assert 1.0 <= board["attack: mean L2 / exact minimum"]["value"] <= 2.0


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_solution_full_marks(images, homework_id):
    results = run_zip(images, homework_id, homeworks.get(homework_id).solution)
    max_total = sum(t["max_score"] for t in results["tests"])
    assert results["score"] == pytest.approx(max_total) and max_total > 0
    assert all(t["status"] == "passed" for t in results["tests"])
    visibilities = {t["visibility"] for t in results["tests"]}
    assert visibilities == {"visible", "after_published"}, visibilities   # hidden checks exist
    check_leaderboard(homework_id, results)


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_stub_zero(images, homework_id):
    results = run_zip(images, homework_id, homeworks.get(homework_id).student)
    assert results["score"] == 0
    assert all(t["status"] == "failed" and t["output"] for t in results["tests"])


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_partial_submission_exact_score(images, homework_id, tmp_path):
    submission = partial_submission(homework_id, tmp_path / "partial.ipynb")
    results = run_zip(images, homework_id, submission)
    expected = PARTIAL[homework_id][1]
    scored = {t["extra_data"]["id"]: t["score"] for t in results["tests"] if t["score"] > 0}
    assert scored == expected
    assert results["score"] == pytest.approx(sum(expected.values()))


def test_submission_under_another_name_with_macos_debris(images, tmp_path):
    """A renamed download inside a folder, beside the junk a macOS zip carries, is graded."""
    partial = partial_submission("hw4", tmp_path / "partial.ipynb").read_bytes()
    results = run_submission(images("hw4"), {
        "HW4 - Jane Doe (1).ipynb": partial,
        "__MACOSX/._HW4 - Jane Doe (1).ipynb": b"\x00\x05\x16\x07",
        "._HW4 - Jane Doe (1).ipynb": b"\x00\x05\x16\x07",
        ".ipynb_checkpoints/HW4 - Jane Doe (1)-checkpoint.ipynb": b"{}"})
    assert results["score"] == pytest.approx(sum(PARTIAL["hw4"][1].values()))


@pytest.mark.parametrize("files, says", [
    ({"a.ipynb": b"{}", "nested/b.ipynb": b"{}"}, "2 notebooks were submitted"),
    ({"notes.txt": b"hello"}, "No notebook was submitted"),
])
def test_no_single_notebook_scores_zero_with_the_reason(images, files, says):
    results = run_submission(images("hw4"), files)
    assert results["score"] == 0 and results["tests"]
    for test in results["tests"]:
        assert test["score"] == 0 and says in test["output"]
        if len(files) == 2:
            assert "a.ipynb" in test["output"] and "nested/b.ipynb" in test["output"]


SLEEPY = """
import time

def weighted_least_squares(X, y, w):
    time.sleep(3600)
"""


def test_total_time_limit_from_the_zip(images, tmp_path):
    """A submission that sleeps: the run ends at the time limit, results.json is written, and
    the checks it never reached score 0 as not run."""
    from conftest import write_notebook
    from autograder.plugin import NOT_RUN
    sleepy = write_notebook(tmp_path / "sleepy.ipynb", SLEEPY).read_bytes()
    began = time.monotonic()
    results = run_submission(images("hw4"), {"sleepy.ipynb": sleepy}, TML_TIME_LIMIT_S="6")
    assert time.monotonic() - began < 60
    assert results["score"] == 0
    outputs = [t["output"] for t in results["tests"]]
    first = next(i for i, output in enumerate(outputs) if NOT_RUN in output)
    assert "the grading run's deadline passed" in outputs[first - 1], outputs   # cut short
    assert all(NOT_RUN in output for output in outputs[first:]), outputs        # never started


HARD_STOP = """
import sys, time
import autograder.grade as grading
from autograder.sandbox.parent import Sandbox
grading.HARD_STOP_GRACE_S = 1
Sandbox.call = lambda self, name, *args, **kwargs: time.sleep(3600)   # a grader stuck for good
grading.grade("hw4", sys.argv[1], time_limit_s=2,
              on_hard_stop=lambda result: result.write_json(sys.argv[2]))
raise SystemExit("not reached: the watchdog ends the process")
"""


def test_hard_stop_writes_results_when_the_grader_itself_hangs(tmp_path):
    out = tmp_path / "results.json"
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", HARD_STOP, str(homeworks.get("hw4").solution),
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 60
    from autograder.plugin import NOT_RUN
    results = json.loads(out.read_text())
    assert results["score"] == 0 and len(results["tests"]) > 10     # every hw4 check is listed
    assert all(t["output"] == NOT_RUN for t in results["tests"])


def test_hidden_visibility_option_in_zip(tmp_path):
    """A zip built with hidden_visibility="hidden" marks hidden checks "hidden" on Gradescope."""
    zip_path = build_zip("hw4", tmp_path / "hw4.zip", hidden_visibility="hidden")
    submission = partial_submission("hw4", tmp_path / "partial.ipynb")
    root = install_zip(zip_path, tmp_path / "autograder")
    results = run_submission(root, {"partial.ipynb": submission.read_bytes()})
    assert "leaderboard" not in results                # a zip built without --leaderboard
    by_name = {t["extra_data"]["id"]: t["visibility"] for t in results["tests"]}
    assert by_name["test_weighted_least_squares_hidden"] == "hidden"
    assert by_name["test_weighted_least_squares"] == "visible"
    assert "after_published" not in by_name.values()
    with pytest.raises(ValueError):
        build_zip("hw4", tmp_path / "bad.zip", hidden_visibility="secret")


def test_hidden_visibility_env(monkeypatch):
    test = results_module.TestResult
    result = results_module.GradingResult("hw1", [test("1", "a", 1, 1, "", "visible"),
                                                  test("1", "b", 0, 1, "x", "after_published"),
                                                  test("1", "c", 0, 1, "x", "after_due_date")])
    monkeypatch.delenv("TML_HIDDEN_VISIBILITY", raising=False)
    assert [t["visibility"] for t in result.to_gradescope()["tests"]] == \
        ["visible", "after_published", "after_due_date"]
    monkeypatch.setenv("TML_HIDDEN_VISIBILITY", "hidden")
    assert [t["visibility"] for t in result.to_gradescope()["tests"]] == \
        ["visible", "hidden", "after_due_date"]
    monkeypatch.setenv("TML_HIDDEN_VISIBILITY", "typo")          # ignored, with a warning
    assert result.to_gradescope()["tests"][1]["visibility"] == "after_published"
    jsonschema.validate(result.to_gradescope(), SCHEMA)


def test_results_json_is_written_even_when_the_grader_cannot_start(images, tmp_path):
    """Gradescope shows an error page when results.json is missing; a zero with a message
    that tells the student what happened is better."""
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "python3").write_text("#!/bin/sh\nexit 3\n")
    os.chmod(broken / "python3", 0o755)
    results = run_submission(images("hw4"), {"a.ipynb": b"{}"}, python=broken)
    assert results["score"] == 0 and "tell your instructor" in results["output"]


GRADESCOPE_PYTHON = Path("/opt/tmlcpu/bin")     # Debian's python3 with CPU torch (.ci/run)
MEMORY_TESTS = "TML_GRADESCOPE_MEMORY"


@pytest.mark.skipif(os.environ.get(MEMORY_TESTS) != "1" or not cgroups.available()
                    or not (GRADESCOPE_PYTHON / "python3").exists(),
                    reason=f"slow (minutes per homework at half a CPU): set {MEMORY_TESTS}=1; needs "
                           "root, a writable cgroup file system and /opt/tmlcpu")
@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_solution_fits_gradescopes_default_container(homework_id, tmp_path):
    """In Gradescope's default container (768 MiB, half a CPU) with CPU torch, the reference
    solution gets full marks and leaves 128 MiB of room, as run_autograder's own report says."""
    root = install_zip(build_zip(homework_id, tmp_path / "hw.zip"), tmp_path / "autograder",
                       GRADESCOPE_PYTHON)
    group = cgroups.MemoryCgroup(768, 0.5)
    try:
        results = run_submission(root, {homeworks.get(homework_id).notebook:
                                        homeworks.get(homework_id).solution.read_bytes()},
                                 GRADESCOPE_PYTHON, preexec_fn=group.enter)
    finally:
        group.remove()
    memory = results["extra_data"]["memory"]
    print(f"{homework_id}: {results['score']:g} points, memory {memory}")    # shown with -s
    assert results["score"] == sum(t["max_score"] for t in results["tests"]), results["output"]
    assert memory["limit_mib"] == 768 and memory["oom_kills"] == 0, memory
    assert memory["working_set_peak_mib"] <= 640, memory
