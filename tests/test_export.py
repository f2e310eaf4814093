"""export-written: every written question, with its answer, in one HTML page (and a PDF)."""
from __future__ import annotations

import html
import re
import subprocess
import sys

import nbformat
import pytest
from conftest import REPO

from autograder import homeworks
from autograder.export import CHROMIUM_FLAGS, export_written, find_chromium, written_answers


def text_of(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def answered(homework_id, path):
    """The student notebook with a distinct answer typed into each answer cell."""
    nb = nbformat.read(homeworks.get(homework_id).student, as_version=4)
    n = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            n += 1
            cell.source = f"**Your answer:**\n\nStudent answer number {n} is *here*."
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_every_question_and_answer_in_order(homework_id, tmp_path):
    questions = written_answers(homeworks.get(homework_id).solution)
    assert questions and all("(written)" in q.heading or "Written" in q.heading for q in questions)
    page, pdf, message = export_written(answered(homework_id, tmp_path / "sub.ipynb"),
                                        tmp_path / "answers.html")
    text = text_of(page.read_text())
    positions = []
    for n, question in enumerate(questions, 1):
        heading = text_of(question.heading)
        assert heading in text, heading
        positions += [text.index(heading), text.index(f"Student answer number {n} is here")]
    assert positions == sorted(positions)              # each answer right after its question
    assert pdf is not None or "PDF skipped" in message


def test_cli(tmp_path):
    hw = homeworks.get("hw3")
    done = subprocess.run([sys.executable, "-m", "autograder", "export-written", str(hw.solution),
                           "-o", str(tmp_path / "a.html")], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and (tmp_path / "a.html").is_file()


@pytest.mark.skipif(find_chromium() is None, reason="no chromium: apt-get install chromium "
                                                     "to render the page in a real browser")
def test_renders_in_headless_chromium(tmp_path):
    hw = homeworks.get("hw1")
    page, pdf, message = export_written(hw.solution, tmp_path / "answers.html")
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF"), message
    browser = find_chromium()
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*common, "--window-size=1200,3000", f"--screenshot={tmp_path / 'shot.png'}",
                    page.as_uri()], capture_output=True, timeout=120)
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run([*common, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    rendered = text_of(dom)
    for question in written_answers(hw.solution):
        assert text_of(question.heading) in rendered, question.heading


@pytest.mark.parametrize("homework_id", ["hw2", "hw5"])
def test_graders_see_points_rubric_and_model_answer(homework_id, tmp_path):
    """Each answer is followed by its points and rubric from the solution (found by grade id,
    whatever the file is called); --no-rubrics leaves them out; the student notebook has none."""
    from autograder.export import grading_keys
    keys = grading_keys(homeworks.get(homework_id).solution)
    assert keys and all(key.rubric.startswith("**Rubric") for key in keys.values())
    submission = answered(homework_id, tmp_path / "renamed.ipynb")
    page, _, _ = export_written(submission, tmp_path / "answers.html")
    text = text_of(page.read_text())
    assert text.count("For graders:") == len(keys)
    words = lambda markdown: re.sub(r"[^a-z0-9]+", " ", markdown.lower())   # noqa: E731
    for key in keys.values():       # the rubric's first criterion, as rendered words
        assert words(key.rubric.splitlines()[1])[:60] in words(text)
    bare, _, _ = export_written(submission, tmp_path / "bare.html", rubrics=False)
    assert "For graders:" not in text_of(bare.read_text())
    assert "Rubric" not in homeworks.get(homework_id).student.read_text()
