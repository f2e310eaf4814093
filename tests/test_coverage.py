"""docs/coverage.md against the notebooks and specs: every exercise it lists exists in the
solution and the student notebook with the stated points, every autograded part it names has
the stated points, and every written answer of a solution is listed (and has a rubric that the
student notebook does not)."""
from __future__ import annotations

import importlib
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from autograder import homeworks
from tmlkit.spec import check_info

COVERAGE = Path(__file__).resolve().parents[1] / "docs" / "coverage.md"
HOMEWORK_IDS = ("hw1", "hw2", "hw3", "hw4", "hw5")
RUBRIC = "**Rubric"


def coverage_rows() -> dict[str, list[dict]]:
    """The table rows of docs/coverage.md by homework: exercise, cells, written points, parts."""
    rows: dict[str, list[dict]] = defaultdict(list)
    homework = None
    for line in COVERAGE.read_text().splitlines():
        heading = re.match(r"## (hw\d)\b", line)
        if heading:
            homework = heading.group(1)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if homework is None or not line.startswith("|") or len(cells) != 7 or \
                cells[0] in ("Ex.", "---"):
            continue
        exercise, _, _, kit_cells, written, auto, _ = cells
        rows[homework].append({
            "exercise": exercise,
            "cells": re.findall(r"`([^`]+)`", kit_cells),
            "written": float(written),
            "auto": [(part, float(points)) for part, points in
                     re.findall(r"(\d+(?:\.\d+)*) \((\d+(?:\.\d+)?)\)", auto)],
        })
    return rows


ROWS = coverage_rows()


def cells_by_id(path: Path) -> dict[str, nbformat.NotebookNode]:
    return {cell.id: cell for cell in nbformat.read(path, as_version=4).cells}


def part_points(homework_id: str) -> dict[str, float]:
    """Points per @check number of a spec, public and hidden together."""
    module = importlib.import_module(f"autograder.homeworks.{homework_id}")
    points: dict[str, float] = defaultdict(float)
    for name, function in vars(module).items():
        info = check_info(function) if name.startswith("test_") and callable(function) else None
        if info:
            points[info.number] += info.points
    return points


def written_points(cells: dict, ids: list[str]) -> float:
    return sum(cells[i].metadata.get("nbgrader", {}).get("points", 0) for i in ids
               if cells[i].cell_type == "markdown"
               and cells[i].metadata.get("nbgrader", {}).get("grade"))


def test_every_homework_has_a_table():
    assert set(ROWS) == set(HOMEWORK_IDS)
    assert all(len(rows) >= 5 for rows in ROWS.values())


@pytest.mark.parametrize("homework_id", HOMEWORK_IDS)
def test_listed_exercises_exist_with_their_points(homework_id):
    homework = homeworks.get(homework_id)
    solution, student = cells_by_id(homework.solution), cells_by_id(homework.student)
    for row in ROWS[homework_id]:
        where = f"{homework_id} exercise {row['exercise']}"
        for cell_id in row["cells"]:
            assert cell_id in solution, f"{where}: no cell {cell_id!r} in the solution"
            assert cell_id in student, f"{where}: no cell {cell_id!r} in the student notebook"
        assert written_points(solution, row["cells"]) == row["written"], where
        assert written_points(student, row["cells"]) == row["written"], where


@pytest.mark.parametrize("homework_id", HOMEWORK_IDS)
def test_autograded_parts_have_the_stated_points(homework_id):
    actual = part_points(homework_id)
    listed = {part: points for row in ROWS[homework_id] for part, points in row["auto"]}
    assert listed == dict(actual)


@pytest.mark.parametrize("homework_id", HOMEWORK_IDS)
def test_every_written_answer_is_listed_and_has_a_rubric(homework_id):
    homework = homeworks.get(homework_id)
    listed = {cell_id for row in ROWS[homework_id] for cell_id in row["cells"]}
    student = cells_by_id(homework.student)
    for cell_id, cell in cells_by_id(homework.solution).items():
        if "written" not in cell.metadata.get("tags", []):
            continue
        assert cell_id in listed, f"{homework_id}: written answer {cell_id!r} not in coverage.md"
        solution_part = cell.source.split("<!-- BEGIN SOLUTION -->", 1)[1]
        assert RUBRIC in solution_part.split("<!-- END SOLUTION -->", 1)[0], \
            f"{homework_id}: {cell_id!r} has no rubric inside its solution region"
        assert RUBRIC not in student[cell_id].source
