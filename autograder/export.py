"""Collect a submission's written answers, each under its question, into one HTML document (and PDF).

    python -m autograder export-written SUBMISSION.ipynb -o answers.html [--pdf answers.pdf]

An answer is a markdown cell the solution marks as an nbgrader solution cell
(``metadata.nbgrader.solution``); its question is the markdown cell just before it. Student
notebooks keep that metadata, so this works on submissions. Markdown and LaTeX are rendered by
nbconvert's HTML exporter (MathJax). A PDF is printed with headless chromium when one is installed;
otherwise the PDF is skipped with a message.
"""
from __future__ import annotations

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


def answers_notebook(source: str | Path) -> nbformat.NotebookNode:
    """A notebook of only the questions and answers, with a title: what the HTML shows."""
    nb = nbformat.read(source, as_version=4)
    answers = written_answers(nb)
    cells = [nbformat.v4.new_markdown_cell(
        f"# Written answers — {Path(source).name}\n\n{len(answers)} answers, each below its question.")]
    for a in answers:
        cells.append(nbformat.v4.new_markdown_cell(a.question or f"### {a.heading}"))
        cells.append(nbformat.v4.new_markdown_cell(
            "<div class=\"tml-answer\">\n\n" + (a.answer.strip() or "*(no answer)*") + "\n\n</div>"))
    out = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": nb.metadata.get("kernelspec", {})})
    return out


STYLE = """
<style>
.tml-answer { border-left: 4px solid #2a7ae2; padding: 0.2em 1em; margin: 0.5em 0 2em;
              background: #f5f9ff; }
</style>
"""


def to_html(source: str | Path) -> str:
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(answers_notebook(source))
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
                   pdf: str | Path | None = None) -> tuple[Path, Path | None, str]:
    """Write the HTML (and the PDF when chromium is present); returns (html, pdf or None, message)."""
    submission = Path(submission)
    html = Path(output) if output else submission.with_name(submission.stem + "_answers.html")
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(to_html(submission), encoding="utf-8")
    pdf = Path(pdf) if pdf else html.with_suffix(".pdf")
    made, message = print_pdf(html, pdf)
    return html, (pdf if made else None), message
