"""Run every notebook the way a student's Colab runs it, with nothing of this repository.

    python benchmarks/colab_like.py [--python PYTHON3.12] [--venv DIR] [--homework hw1 ...]

1. A fresh venv on Colab's Python (3.12; ``--python`` picks the interpreter, by default pyenv's
   3.12 when there is one) holding only packages Colab preinstalls (``COLAB``: PyPI's CUDA
   builds of torch and torchvision, about 6 GB, run here on the CPU), plus Jupyter's kernel and
   nbclient to run notebooks.
2. The student tree (``python -m autograder student-tree``) installed into it from a local path,
   as the set-up cell installs it from the pinned tag, and each homework's extras as the set-up
   cell lists them.
3. Each solution notebook executed top to bottom in quick mode, in a folder outside this
   repository, with no PYTHONPATH: ``autograder`` cannot be imported there. Every self-check
   must pass (✓): only the checks that the grader alone judges (``docs/checks/``) may say "·".
   Each student notebook must fail only at the first call of an unimplemented function
   (NotImplementedError), never earlier.
4. With ``--local``, the tree's ``requirements.txt`` installed into the same venv, as a student
   working locally installs it, and the solutions of those homeworks run again.

Prints the time of each step, and what the self-check cells add to each notebook (their summed
execution time, from nbclient's cell timings). Needs the network to PyPI for the first run (the
venv is reused).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from autograder import course, homeworks  # noqa: E402
from autograder.student_tree import write_student_tree  # noqa: E402
from tmlkit.selfcheck import checked_on_submission  # noqa: E402

# What Colab ships that the notebooks use (Colab's own versions differ; these are close).
COLAB = ["torch==2.14.1", "torchvision==0.29.1", "numpy<2.3", "scipy", "scikit-learn",
         "matplotlib", "tqdm", "pillow", "pandas", "nbformat", "pytest", "scikit-image",
         "xgboost-cpu", "pyyaml", "ipykernel", "nbclient"]

RUN = r"""
import datetime, json, os, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
notebook, workdir = sys.argv[1], sys.argv[2]
nb = nbformat.read(notebook, as_version=4)
began = time.monotonic()
error = None
try:
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": workdir}}).execute()
except CellExecutionError as failure:
    error = {"ename": failure.ename, "evalue": str(failure.evalue)[:300]}
printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                    for o in c.get("outputs", []) if o.get("output_type") == "stream")
executed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]

def seconds(cell):
    timing = cell.get("metadata", {}).get("execution", {})
    began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (began and ended):
        return 0.0
    parse = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return (parse(ended) - parse(began)).total_seconds()

lines = printed.splitlines()
print(json.dumps({"seconds": time.monotonic() - began, "error": error,
                  "failed_checks": [l for l in lines if l.startswith(("✗", "~"))],
                  "not_judged": [l for l in lines if l.startswith("·")],
                  "passed_checks": sum(l.startswith("✓") for l in lines),
                  "selfcheck_seconds": sum(seconds(c) for c in nb.cells if c.cell_type == "code"
                                           and "selfcheck(" in c.source),
                  "last_cell": executed[-1] if executed else None}))
"""


def default_python() -> str:
    """Colab's Python, 3.12, from pyenv when installed; else this machine's python3."""
    pyenv = Path.home() / ".pyenv" / "versions"
    found = sorted(pyenv.glob("3.12*/bin/python3")) if pyenv.is_dir() else []
    return str(found[-1]) if found else "/usr/bin/python3"


def step(what: str, command: list[str], **kwargs) -> float:
    began = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    seconds = time.monotonic() - began
    print(f"{what}: {seconds:.0f} s", flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=default_python())
    parser.add_argument("--venv", help="default: build/colab-like-X.Y for the Python's version")
    parser.add_argument("--homework", action="append")
    parser.add_argument("--local", action="append", default=[], metavar="HOMEWORK",
                        help="after the Colab runs, pip install -r the tree's requirements.txt "
                             "and run this homework's solution again (repeatable)")
    args = parser.parse_args()
    version = subprocess.run([args.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    venv = Path(args.venv or REPO / "build" / f"colab-like-{version}")
    print(f"Python {version} ({args.python}), venv {venv}", flush=True)
    python = venv / "bin" / "python"
    if not python.exists():
        step("venv with Colab's packages", [args.python, "-m", "venv", str(venv)])
        step("  pip install", [str(python), "-m", "pip", "install", "-q", *COLAB])
    work = Path(tempfile.mkdtemp(prefix="colab-like-"))
    if course.is_placeholder():      # the tree is installed from a local path: any name will do
        course.STUDENT_REPOSITORY = "example-course/tml-homework"
    tree = write_student_tree(work / "tree")
    step("student tree installed from a local path",
         [str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(tree)])
    chosen = args.homework or list(homeworks.HOMEWORKS)
    extras = sorted({r for h in chosen
                     for r in course.colab_extras(homeworks.get(h).requirements)})
    if extras:
        step("the set-up cells' extras", [str(python), "-m", "pip", "install", "-q", *extras])
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "MPLBACKEND": "Agg", "TML_QUICK": "1"}
    if os.environ.get("TML_DATA_DIR"):
        env["TML_DATA_DIR"] = os.environ["TML_DATA_DIR"]
    assert subprocess.run([str(python), "-c", "import autograder"], env=env, cwd=work,
                          capture_output=True).returncode != 0, "autograder must not be importable"
    runs = [(h, kind, "Colab") for h in chosen for kind in ("solution", "student")]
    failures = sum(not run_notebook(python, env, tree, work, *run) for run in runs)
    if args.local:
        step("pip install -r requirements.txt (a local install)",
             [str(python), "-m", "pip", "install", "-q", "-r", str(tree / "requirements.txt")])
        failures += sum(not run_notebook(python, env, tree, work, h, "solution", "local")
                        for h in args.local)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def run_notebook(python: Path, env: dict, tree: Path, work: Path, homework_id: str, kind: str,
                 install: str) -> bool:
    """Run one notebook top to bottom; print its line; whether it behaved as it must."""
    homework = homeworks.get(homework_id)
    notebook = homework.solution if kind == "solution" else tree / "notebooks" / homework.notebook
    folder = work / f"{homework_id}-{kind}-{install}"
    folder.mkdir()
    done = subprocess.run([str(python), "-c", RUN, str(notebook), str(folder)], env=env,
                          cwd=folder, capture_output=True, text=True)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"{homework_id} {kind}: the runner failed\n{done.stderr[-2000:]}")
        return False
    grader_only = len(checked_on_submission(homework_id))
    if kind == "solution":
        ok = (report["error"] is None and not report["failed_checks"]
              and len(report["not_judged"]) == grader_only)
    else:
        ok = (report["error"] or {}).get("ename") == "NotImplementedError"
    print(f"{homework_id} {kind:8s} ({install}) {'ok' if ok else 'FAILED':6s} "
          f"{report['seconds']:6.0f} s, self-check cells {report['selfcheck_seconds']:5.1f} s  "
          f"✓ {report['passed_checks']}, ✗ {len(report['failed_checks'])}, "
          f"· {len(report['not_judged'])} (grader only: {grader_only}); "
          f"stopped at {report['error'] or 'the end'} (cell {report['last_cell']})", flush=True)
    for line in (report["failed_checks"] + report["not_judged"])[:5]:
        print(f"    {line}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
