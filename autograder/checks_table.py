"""Per-homework tables of checks, generated from the specs: ``docs/checks/hwN.md``.

    python -m autograder check-tables [--check]

Each row is one check as the spec declares it: section, what it checks (the title students see),
points, visibility, and its limit on the student's CPU time (``autograder.limits``). The tables
are generated, like the Colab badges, so they cannot
drift from what is graded; a test fails when they are stale.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from autograder import homeworks
from autograder.limits import cpu_limit
from tmlkit.spec import check_info, title

DOCS_DIR = homeworks.REPO_ROOT / "docs" / "checks"


def checks_of(homework_id: str) -> list[tuple[str, object]]:
    """(test function name, CheckInfo) of every check, in the spec's order."""
    module = importlib.import_module(f"autograder.homeworks.{homework_id}")
    found = [(name, function) for name, function in vars(module).items()
             if name.startswith("test_") and callable(function) and check_info(function)]
    return sorted(found, key=lambda pair: pair[1].__code__.co_firstlineno)


def table(homework_id: str) -> str:
    homework = homeworks.get(homework_id)
    rows = checks_of(homework_id)
    infos = [check_info(function) for _, function in rows]
    visible = sum(i.points for i in infos if i.visibility == "visible")
    lines = [f"# {homework.id}: {homework.title}", "",
             f"Generated from `autograder/homeworks/{homework.id}.py` by "
             "`python -m autograder check-tables`; do not edit.", "",
             f"{len(rows)} checks, {sum(i.points for i in infos):g} points: {visible:g} visible "
             f"(the notebook's self-checks), {sum(i.points for i in infos) - visible:g} hidden "
             "(fresh random instances on every run).", "",
             "| § | check | id | points | visibility | CPU time limit |",
             "| --- | --- | --- | ---: | --- | ---: |"]
    for (name, function), info in zip(rows, infos):
        lines.append(f"| {info.number} | {title(function).replace('|', '/')} | `{name}` | "
                     f"{info.points:g} | {info.visibility} | "
                     f"{cpu_limit(homework_id, name, info.timeout):g} s |")
    return "\n".join(lines) + "\n"


def write_tables(check: bool = False) -> list[Path]:
    """Write (or with ``check``, only list) the tables that differ from the specs."""
    stale = []
    for homework_id in homeworks.HOMEWORKS:
        path = DOCS_DIR / f"{homework_id}.md"
        text = table(homework_id)
        if not path.is_file() or path.read_text() != text:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return stale
