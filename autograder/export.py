"""Collect a submission's written answers, each under its question, into one HTML document (and PDF).

    python -m autograder export-written SUBMISSION.ipynb -o answers.html [--pdf answers.pdf]

An answer is a markdown cell the solution marks as an nbgrader solution cell
(``metadata.nbgrader.solution``); its question is the markdown cell just before it. Student
notebooks keep that metadata, so this works on submissions. For graders, each answer is followed
by its points, the rubric and the model answer from the homework's solution notebook (the
solution's answer cell with the same grade id: the model answer, then a paragraph starting
``**Rubric``, inside its ``<!-- BEGIN/END SOLUTION -->`` region, which release strips from the
student notebook); ``rubrics=False`` leaves them out. Markdown and LaTeX are rendered by
nbconvert's HTML exporter (MathJax). A PDF is printed with headless chromium when one is installed;
otherwise the PDF is skipped with a message.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


@dataclass
class WrittenAnswer:
    question: str          # the markdown cell before the answer (heading and prompt)
    answer: str            # the answer cell's markdown
    heading: str           # the question's first heading line, without the #s
    cell: int              # the answer's cell number (1-based)


def _is_answer(cell) -> bool:
    return cell.cell_type == "markdown" and bool(cell.metadata.get("nbgrader", {}).get("solution"))


def _heading(markdown: str) -> str:
    for line in markdown.splitlines():
        if line.lstrip().startswith("#"):
            return line.lstrip().lstrip("#").strip()
    return (markdown.strip().splitlines() or ["(untitled question)"])[0][:80]


def written_answers(notebook) -> list[WrittenAnswer]:
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(notebook, as_version=4)
    answers = []
    for index, cell in enumerate(nb.cells):
        if not _is_answer(cell):
            continue
        before = nb.cells[index - 1] if index else None
        question = before.source if before is not None and before.cell_type == "markdown" else ""
        answers.append(WrittenAnswer(question, cell.source, _heading(question) if question
                                     else f"Answer in cell {index + 1}", index + 1))
    return answers


@dataclass
class GradingKey:
    points: float
    rubric: str            # markdown, starting with the **Rubric (N points).** line
    model_answer: str      # markdown


RUBRIC_HEAD = "**Rubric"
_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->(.*?)<!-- END SOLUTION -->", re.S)


def grading_keys(solution) -> dict[str, GradingKey]:
    """Points, rubric and model answer of each written answer of a solution, by grade id."""
    nb = solution if isinstance(solution, nbformat.NotebookNode) else nbformat.read(solution, as_version=4)
    keys = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        region = _SOLUTION.search(cell.source) if _is_answer(cell) else None
        if region is None:
            continue
        model, _, rubric = region.group(1).partition(RUBRIC_HEAD)
        keys[meta.get("grade_id", cell.get("id"))] = GradingKey(
            meta.get("points", 0), (RUBRIC_HEAD + rubric).strip() if rubric else "", model.strip())
    return keys


def solution_for(nb: nbformat.NotebookNode):
    """The solution notebook whose written answers share the most grade ids with ``nb``."""
    from autograder import homeworks
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells if _is_answer(c)}
    best, shared = None, 0
    for homework in homeworks.HOMEWORKS.values():
        solution = nbformat.read(homework.solution, as_version=4)
        overlap = len(ids & {c.metadata.get("nbgrader", {}).get("grade_id")
                             for c in solution.cells if _is_answer(c)})
        if overlap > shared:
            best, shared = solution, overlap
    return best


def _key_cell(key: GradingKey) -> nbformat.NotebookNode:
    model = (f"\n\n<details><summary>Model answer</summary>\n\n{key.model_answer}\n\n</details>"
             if key.model_answer else "")
    return nbformat.v4.new_markdown_cell(
        f"<div class=\"tml-rubric\">\n\n**For graders: {key.points:g} points.** "
        f"{key.rubric or '(no rubric)'}{model}\n\n</div>")


def answers_notebook(source: str | Path, rubrics: bool = True) -> nbformat.NotebookNode:
    """A notebook of only the questions and answers, with a title: what the HTML shows; with
    ``rubrics``, each answer is followed by its points, rubric and model answer."""
    nb = nbformat.read(source, as_version=4)
    answers = written_answers(nb)
    solution = solution_for(nb) if rubrics else None
    keys = grading_keys(solution) if solution is not None else {}
    grade_ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells if _is_answer(c)]
    cells = [nbformat.v4.new_markdown_cell(
        f"# Written answers — {Path(source).name}\n\n{len(answers)} answers, each below its question.")]
    for a, grade_id in zip(answers, grade_ids):
        cells.append(nbformat.v4.new_markdown_cell(a.question or f"### {a.heading}"))
        cells.append(nbformat.v4.new_markdown_cell(
            "<div class=\"tml-answer\">\n\n" + (a.answer.strip() or "*(no answer)*") + "\n\n</div>"))
        if grade_id in keys:
            cells.append(_key_cell(keys[grade_id]))
    out = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": nb.metadata.get("kernelspec", {})})
    return out


STYLE = """
<style>
.tml-answer { border-left: 4px solid #2a7ae2; padding: 0.2em 1em; margin: 0.5em 0 2em;
              background: #f5f9ff; }
.tml-rubric { border-left: 4px solid #c77c02; padding: 0.2em 1em; margin: -1.5em 0 2em;
              background: #fff8ec; font-size: 0.95em; }
</style>
"""


def to_html(source: str | Path, rubrics: bool = True) -> str:
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(answers_notebook(source, rubrics))
    return body.replace("</head>", STYLE + "</head>", 1)


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, timeout: float = 120) -> tuple[bool, str]:
    browser = find_chromium()
    if browser is None:
        return False, "PDF skipped: no chromium found (apt-get install chromium to enable it)."
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--no-pdf-header-footer", "--virtual-time-budget=10000",
                               f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    if pdf.is_file() and pdf.stat().st_size > 0:
        return True, ""
    return False, f"PDF skipped: chromium failed ({done.returncode}): {done.stderr.strip()[-300:]}"


def export_written(submission: str | Path, output: str | Path | None = None,
                   pdf: str | Path | None = None, rubrics: bool = True) \
        -> tuple[Path, Path | None, str]:
    """Write the HTML (and the PDF when chromium is present); returns (html, pdf or None, message)."""
    submission = Path(submission)
    html = Path(output) if output else submission.with_name(submission.stem + "_answers.html")
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(to_html(submission, rubrics), encoding="utf-8")
    pdf = Path(pdf) if pdf else html.with_suffix(".pdf")
    made, message = print_pdf(html, pdf)
    return html, (pdf if made else None), message
