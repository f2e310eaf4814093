"""Grades must not depend on how busy the machine is: grade idle, then loaded, and compare.

    python benchmarks/load_grading.py [--homework hw2 ...] [--busy 4] [--cgroup-cpu 0.5]
                                      [--parts 1 2] [--no-alternatives]

Grades each homework's reference solution, and the correct alternatives of
tests/alternatives.py, first on an idle machine, then with ``--busy`` processes spinning on every
core, then (with ``--cgroup-cpu``, root and cgroup v1's cpu controller needed) inside a cgroup
limited to that many CPUs, as Gradescope's container is, with the busy processes still running.
Each grading runs in a process of its own with the same TML_GRADER_SEED, so hidden checks draw
the same instances. Prints each grading's score and wall time, and every check whose score
changed; exits 1 if any did.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from autograder import homeworks  # noqa: E402

CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
# Spins until its parent is gone, so that no spinner outlives a killed benchmark.
SPIN = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


def submissions(homework: str, alternatives: bool, folder: Path) -> dict[str, tuple[Path, list | None]]:
    """{name: (notebook, parts to grade or None for the spec's --parts)}: the reference solution
    and, if wanted, each correct alternative (the solution with some functions rewritten)."""
    solution = homeworks.get(homework).solution
    found = {"reference solution": (solution, None)}
    if alternatives:
        from alternatives import ALTERNATIVES
        from conftest import replace_function
        for number, (name, (parts, functions)) in enumerate(ALTERNATIVES.get(homework, {}).items()):
            notebook = solution
            for function, source in functions.items():
                notebook = replace_function(notebook, function, source,
                                            folder / f"{homework}-{number}-{function}.ipynb")
            found[name] = (notebook, parts)
    return found


def grade_in_process(homework: str, notebook: Path, parts: list[str] | None,
                     cgroup: Path | None) -> dict:
    """Grade in a fresh process (placed in ``cgroup`` first, if given); per-check scores, wall time."""
    code = ("import json, sys, time; from autograder.grade import grade; t = time.monotonic(); "
            "r = grade(sys.argv[1], sys.argv[2], parts=json.loads(sys.argv[3])); "
            "print(json.dumps({'scores': {t.name: t.score for t in r.tests}, 'score': r.score, "
            "'max': r.max_score, 'wall_s': time.monotonic() - t, "
            "'cpu_s': sum(u['cpu_s'] for u in r.usage.values())}))")
    command = [sys.executable, "-c", code, homework, str(notebook), json.dumps(parts)]
    if cgroup is not None:      # the shell joins the cgroup, then becomes the grader
        command = ["sh", "-c", f'echo $$ > {cgroup / "cgroup.procs"} && exec "$@"', "sh"] + command
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # as `python -m autograder` sets it
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"grading {notebook} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def busy_processes(count: int):
    """``count`` processes spinning on the CPU for as long as the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@contextmanager
def cpu_cgroup(cpus: float):
    """A cgroup v1 cpu cgroup limited to ``cpus`` CPUs (CFS quota per 100 ms period)."""
    path = CGROUP_CPU / f"tml-load-{os.getpid()}"
    path.mkdir()
    try:
        (path / "cpu.cfs_period_us").write_text("100000")
        (path / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
        yield path
    finally:
        for _ in range(50):     # rmdir fails while a process is still inside
            try:
                path.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def compare(idle: dict, loaded: dict) -> list[str]:
    """The checks whose score differs between two gradings of the same submission."""
    return [f"{name}: {idle['scores'].get(name)} idle, {loaded['scores'].get(name)} loaded"
            for name in sorted(set(idle["scores"]) | set(loaded["scores"]))
            if idle["scores"].get(name) != loaded["scores"].get(name)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homework", nargs="*", default=list(homeworks.HOMEWORKS))
    parser.add_argument("--busy", type=int, default=4, help="spinning processes (default 4)")
    parser.add_argument("--cgroup-cpu", type=float, default=None,
                        help="also grade inside a cgroup of this many CPUs, e.g. 0.5")
    parser.add_argument("--parts", nargs="*", default=None, help="grade only these parts")
    parser.add_argument("--no-alternatives", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # clean up spinners and cgroup
    os.environ.setdefault("TML_GRADER_SEED", "20")
    print(f"{os.cpu_count()} cores; {args.busy} busy processes; cgroup "
          f"{args.cgroup_cpu if args.cgroup_cpu else 'none'} CPUs; TML_GRADER_SEED="
          f"{os.environ['TML_GRADER_SEED']}", flush=True)
    changed: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        for homework in args.homework:
            for name, (notebook, parts) in submissions(homework, not args.no_alternatives,
                                                       Path(folder)).items():
                parts = parts or args.parts
                runs = {"idle": grade_in_process(homework, notebook, parts, None)}
                with busy_processes(args.busy):
                    runs[f"{args.busy} busy"] = grade_in_process(homework, notebook, parts, None)
                    if args.cgroup_cpu:
                        with cpu_cgroup(args.cgroup_cpu) as cgroup:
                            runs[f"{args.busy} busy + {args.cgroup_cpu:g} CPU cgroup"] = \
                                grade_in_process(homework, notebook, parts, cgroup)
                for label, run in runs.items():
                    diff = compare(runs["idle"], run)
                    changed += [f"{homework} {name} ({label}): {d}" for d in diff]
                    print(f"{homework:4} {name[:44]:44} {label:26} {run['score']:g}/{run['max']:g}"
                          f"  wall {run['wall_s']:6.1f} s  child CPU {run['cpu_s']:6.1f} s"
                          f"  {'SAME' if not diff else 'CHANGED: ' + '; '.join(diff)}", flush=True)
    print("grades identical under load" if not changed else
          "GRADES CHANGED UNDER LOAD:\n" + "\n".join(changed))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
