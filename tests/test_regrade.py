"""regrade-diff: which students' totals a regrade moves, through which checks, as CSV and HTML;
from grade-all folders and from a Gradescope export alike."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO

from autograder.export import CHROMIUM_FLAGS, find_chromium
from autograder.regrade import NotAResultsFolder, compare, read_results, regrade_diff


def results(*scores: tuple[str, float, float], error: str = "") -> dict:
    tests = [{"name": f"{number} check {number}", "number": number, "score": score,
              "max_score": top, "status": "passed" if score >= top else "failed",
              "extra_data": {"id": f"test_{number.replace('.', '_')}"}}
             for number, score, top in scores]
    out = {"score": sum(t["score"] for t in tests), "tests": tests}
    if error:
        out["extra_data"] = {"batch_error": error}
    return out


def grade_all_folder(root, students: dict[str, dict]):
    for student, result in students.items():
        (root / "students" / student).mkdir(parents=True)
        (root / "students" / student / "results.json").write_text(json.dumps(result))
    return root


OLD = {"ann": results(("1.1", 2, 2), ("2.1", 1, 2)),
       "bob": results(("1.1", 2, 2), ("2.1", 2, 2)),
       "cy": results(("1.1", 0, 2), ("2.1", 0, 2)),
       "dee": results(("1.1", 1, 2), ("2.1", 2, 2)),
       "gone": results(("1.1", 2, 2), ("2.1", 2, 2))}
NEW = {"ann": results(("1.1", 2, 2), ("2.1", 2, 2)),          # +1 through 2.1
       "bob": results(("1.1", 1, 2), ("2.1", 1, 2)),          # -2 through both
       "cy": results(("1.1", 0, 2), ("2.1", 0, 2)),           # unchanged
       "dee": results(("1.1", 2, 2), ("2.1", 1, 2)),          # same total, two checks moved
       "new": results(("1.1", 2, 2), ("2.1", 2, 2))}


def test_compare_finds_every_change():
    changes = {c.student: c for c in compare(OLD, NEW)}
    assert {s: c.delta for s, c in changes.items()} == \
        {"ann": 1, "bob": -2, "cy": 0, "dee": 0, "gone": None, "new": None}
    assert changes["ann"].checks == [("2.1 check 2.1", 1, 2)]
    assert changes["bob"].checks == [("1.1 check 1.1", 2, 1), ("2.1 check 2.1", 2, 1)]
    assert changes["cy"].checks == []
    assert len(changes["dee"].checks) == 2
    assert (changes["gone"].old, changes["gone"].new) == (4, None)


def test_checks_are_matched_by_id_when_their_wording_changes():
    renamed = json.loads(json.dumps(NEW["ann"]))
    renamed["tests"][1]["name"] = "2.1 check 2.1, reworded"
    change = compare({"ann": OLD["ann"]}, {"ann": renamed})[0]
    assert change.checks == [("2.1 check 2.1, reworded", 1, 2)]


def test_files_and_cli(tmp_path):
    old, new = grade_all_folder(tmp_path / "old", OLD), grade_all_folder(tmp_path / "new", NEW)
    done = subprocess.run([sys.executable, "-m", "autograder", "regrade-diff", str(old), str(new),
                           "-o", str(tmp_path / "report")], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "compared 4 students: 2 totals change (1 up, 1 down)" in done.stdout
    with open(tmp_path / "report" / "regrade.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["bob"]["change"] == "-2" and rows["ann"]["change"] == "1"
    assert rows["bob"]["changed_checks"] == "1.1 check 1.1: 2 -> 1; 2.1 check 2.1: 2 -> 1"
    assert rows["gone"]["new_total"] == "" and rows["new"]["old_total"] == ""
    page = (tmp_path / "report" / "regrade.html").read_text()
    assert page.index("bob") < page.index("ann")          # the biggest loss first
    assert "<svg" in page and "1 student(s): +1" in page and "2 student(s): 0<" in page
    assert "keep their total while some checks changed" in page


def test_gradescope_export_is_read_like_a_grade_all_folder(tmp_path):
    """The export's submission_metadata.yml carries each submission's results (Ruby-symbol keys)."""
    export = tmp_path / "download" / "assignment_9_export"
    export.mkdir(parents=True)
    metadata = {f"submission_{n}": {":submitters": [{":name": n}], ":score": r["score"],
                                    ":results": r} for n, r in OLD.items()}
    (export / "submission_metadata.yml").write_text(yaml.safe_dump(metadata))
    found = read_results(tmp_path / "download")
    assert found == {f"submission_{n}": r for n, r in OLD.items()}
    with pytest.raises(NotAResultsFolder):
        read_results(tmp_path / "download" / "assignment_9_export" / "nothing")


def test_student_names_and_checks_are_escaped(tmp_path):
    hostile = {"<i>x&": results(("1.1", 0, 1))}
    hostile_new = {"<i>x&": results(("1.1", 1, 1))}
    hostile_new["<i>x&"]["tests"][0]["name"] = "<script>alert(1)</script>"
    regrade_diff(grade_all_folder(tmp_path / "a", hostile), grade_all_folder(tmp_path / "b", hostile_new),
                 tmp_path / "report")
    page = (tmp_path / "report" / "regrade.html").read_text()
    assert "<script>" not in page and "<i>" not in page
    assert "&lt;i&gt;x&amp;" in page and "&lt;script&gt;alert(1)" in page


@pytest.mark.skipif(find_chromium() is None, reason="no chromium: apt-get install chromium to "
                                                     "render the page in a real browser")
def test_page_renders_in_headless_chromium(tmp_path):
    from PIL import Image
    regrade_diff(grade_all_folder(tmp_path / "old", OLD), grade_all_folder(tmp_path / "new", NEW),
                 tmp_path / "report")
    shot = tmp_path / "shot.png"
    subprocess.run([find_chromium(), *CHROMIUM_FLAGS, "--disable-quic", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1000,800", (tmp_path / "report" / "regrade.html").as_uri()],
                   capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape == (800, 1000, 3)
    ink = (image.sum(axis=2) < 300).mean()             # dark text and rules
    assert 0.005 < ink < 0.5, ink
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    red = (r > 150) & (g < 80) & (b < 80)               # the loss's bar and figure
    green = (g > 90) & (r < 80) & (b < 80)              # the gain's
    grey = (abs(r - 153) < 6) & (abs(g - 153) < 6) & (abs(b - 153) < 6)   # the unchanged bar
    assert red.sum() > 500 and green.sum() > 500 and grey.sum() > 500, \
        (red.sum(), green.sum(), grey.sum())
