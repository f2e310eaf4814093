"""Per-homework tables of checks, generated from the specs: ``docs/checks/hwN.md``, and the
points of every homework in one place: ``docs/checks/README.md``.

    python -m autograder check-tables [--check]

Each row is one check as the spec declares it: section, what it checks (the title students see),
points, visibility, its limit on the student's CPU time (``autograder.limits``), and, for a
visible check, whether the notebook's self-check judges it or leaves it to the grader, and why.
The tables are generated, like the Colab badges, so they cannot drift from what is graded; a
test fails when they are stale.
"""
from __future__ import annotations

from pathlib import Path

from autograder import homeworks
from autograder.homeworks import checks_of
from autograder.limits import cpu_limit
from tmlkit.selfcheck import checked_on_submission
from tmlkit.spec import check_info, title

DOCS_DIR = homeworks.REPO_ROOT / "docs" / "checks"


def table(homework_id: str) -> str:
    homework = homeworks.get(homework_id)
    rows = checks_of(homework_id)
    infos = [check_info(function) for _, function in rows]
    visible = sum(i.points for i in infos if i.visibility == "visible")
    on_submission = checked_on_submission(homework_id)
    shown = [(name, i) for (name, _), i in zip(rows, infos) if i.visibility == "visible"]
    local = [name for name, _ in shown if name not in on_submission]
    lines = [f"# {homework.id}: {homework.title}", "",
             f"Generated from `autograder/homeworks/{homework.id}.py` and the visible checks it "
             f"imports from `student/tmlkit/public/{homework.id}.py` by "
             "`python -m autograder check-tables`; do not edit.", "",
             f"{len(rows)} checks, {sum(i.points for i in infos):g} points: {visible:g} visible "
             f"(the notebook's self-checks), {sum(i.points for i in infos) - visible:g} hidden "
             "(fresh random instances on every run).", "",
             f"The notebook judges {len(local)} of the {len(shown)} visible checks itself, as "
             "the grader does; the column *notebook* gives the reason for each it leaves to the "
             "grader.", "",
             "| § | check | id | points | visibility | CPU time limit | notebook |",
             "| --- | --- | --- | ---: | --- | ---: | --- |"]
    for (name, function), info in zip(rows, infos):
        notebook = ("" if info.visibility != "visible" else
                    f"checked when you submit: {on_submission[name]}" if name in on_submission
                    else "✓")
        lines.append(f"| {info.number} | {title(function).replace('|', '/')} | `{name}` | "
                     f"{info.points:g} | {info.visibility} | "
                     f"{cpu_limit(homework_id, name, info.timeout):g} s | {notebook} |")
    return "\n".join(lines) + "\n"


def points(homework_id: str) -> dict[str, float]:
    """A homework's points by where they are graded: the autograder (Gradescope's score), of it
    the self-check cells (nbgrader autograde), and the written answers (graded by hand)."""
    import nbformat

    from autograder.export import grading_keys
    solution = nbformat.read(homeworks.get(homework_id).solution, as_version=4)
    infos = [check_info(function) for _, function in checks_of(homework_id)]
    selfchecks = [cell for cell in solution.cells
                  if "selfcheck" in cell.metadata.get("tags", [])]
    return {"autograded": sum(i.points for i in infos),
            "visible": sum(i.points for i in infos if i.visibility == "visible"),
            "selfcheck": sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in selfchecks),
            "written": sum(key.points for key in grading_keys(solution).values())}


def points_index() -> str:
    lines = ["# Points of every homework", "",
             "Generated from the specs and the solution notebooks by "
             "`python -m autograder check-tables`; do not edit. One table per homework, check "
             "by check: [hw1](hw1.md), [hw2](hw2.md), [hw3](hw3.md), [hw4](hw4.md), "
             "[hw5](hw5.md).", "",
             "| homework | autograded | of which visible | self-check cells (nbgrader) "
             "| written, by hand | total | visible checks the notebook judges |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for homework_id in homeworks.HOMEWORKS:
        p = points(homework_id)
        visible = [name for name, function in checks_of(homework_id)
                   if check_info(function).visibility == "visible"]
        local = [name for name in visible if name not in checked_on_submission(homework_id)]
        lines.append(f"| {homework_id} | {p['autograded']:g} | {p['visible']:g} | "
                     f"{p['selfcheck']:g} | {p['written']:g} | "
                     f"{p['autograded'] + p['written']:g} | {len(local)} of {len(visible)} |")
    lines += ["",
              "- **autograded**: the maximum of `python -m autograder grade` and of the "
              "Gradescope zip's results.json: visible and hidden checks, with partial credit.",
              "- **self-check cells**: what `nbgrader autograde` can award, all or nothing per "
              "part; only the visible checks run there (see [instructors](../instructors.md)).",
              "- **visible checks the notebook judges**: the self-check runs them as the grader "
              "does; each homework's table gives the reason for every other one.",
              "- **written**: the nbgrader points of the written answers (their "
              "`metadata.nbgrader.points`), graded by hand with the rubric that "
              "`python -m autograder export-written` shows.",
              "",
              "On Gradescope, results.json carries only the autograded points. To grade a "
              "homework there whole, set the programming assignment's autograder points to the "
              "**autograded** column and add manually graded questions to its outline worth the "
              "**written** column; the assignment's total is then the **total** column."]
    return "\n".join(lines) + "\n"


def write_tables(check: bool = False) -> list[Path]:
    """Write (or with ``check``, only list) the tables that differ from the specs."""
    stale = []
    pages = {f"{homework_id}.md": lambda h=homework_id: table(h) for homework_id in homeworks.HOMEWORKS}
    pages["README.md"] = points_index
    for name, make in pages.items():
        path = DOCS_DIR / name
        text = make()
        if not path.is_file() or path.read_text() != text:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return stale
