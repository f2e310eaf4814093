"""What a regrade changes: which students' totals move, by how much, through which checks.

    python -m autograder regrade-diff OLD_DIR NEW_DIR -o REPORT_DIR
    python -m autograder grade-all hw1 SUBMISSIONS_DIR -o NEW_DIR --compare OLD_DIR

OLD_DIR and NEW_DIR are each a ``grade-all`` output folder (``students/<id>/results.json``) or a
Gradescope export (its ``submission_metadata.yml`` holds every submission's results.json under
``:results:``), so a local regrade compares with what students saw on Gradescope. Students are
matched by id (the export's folder name, as ``grade-all`` names them); checks by their test
function's id where both sides record one, else by name. REPORT_DIR gets ``regrade.csv`` (one row
per student) and ``regrade.html`` (one static page: the changes, a histogram of them, each
changed student's checks).
"""
from __future__ import annotations

import csv
import html
import io
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.batch import _metadata_raw, _safe_id, export_root, write_atomically


class NotAResultsFolder(ValueError):
    """The path holds neither grade-all's output nor a Gradescope export with results."""


def _unsymbol(value):
    """Gradescope's YAML keys are Ruby symbols (``:score``); results.json's keys are plain."""
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _unsymbol(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsymbol(v) for v in value]
    return value


def read_results(path: str | Path) -> dict[str, dict]:
    """student id -> results.json, from a grade-all output folder or a Gradescope export."""
    path = Path(path)
    if (path / "students").is_dir():
        found = {}
        for results in sorted((path / "students").glob("*/results.json")):
            try:
                found[results.parent.name] = json.loads(results.read_text())
            except ValueError as error:
                raise NotAResultsFolder(f"{results} is not valid JSON: {error}") from None
        return found
    if path.is_dir():
        raw = _metadata_raw(export_root(path))
        found = {_safe_id(str(folder)): _unsymbol(info["results"])
                 for folder, info in ((f, _unsymbol(i)) for f, i in raw.items())
                 if isinstance(info, dict) and isinstance(info.get("results"), dict)}
        if found:
            return found
    raise NotAResultsFolder(f"{path} holds no results: give a grade-all output folder (with "
                            "students/) or a Gradescope export whose submission_metadata.yml has "
                            "each submission's :results:")


def _tests(results: dict, by_id: bool) -> dict[str, tuple[str, float, float]]:
    """key -> (name, score, max_score) of each test."""
    out = {}
    for test in results.get("tests", []):
        key = (test.get("extra_data") or {}).get("id") if by_id else test.get("name", "")
        out[key] = (test.get("name", key), float(test.get("score", 0.0)),
                    float(test.get("max_score", 0.0)))
    return out


def _has_ids(classes: list[dict[str, dict]]) -> bool:
    return all((t.get("extra_data") or {}).get("id")
               for results in classes for r in results.values() for t in r.get("tests", []))


@dataclass
class Change:
    student: str
    old: float | None                      # total before (None: the student is only in NEW)
    new: float | None                      # total after (None: only in OLD)
    checks: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    error: str = ""                        # grade-all could not grade the student on a side

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else round(self.new - self.old, 6)


def compare(old: dict[str, dict], new: dict[str, dict]) -> list[Change]:
    """Every student in either class, with the checks whose score differs."""
    by_id = _has_ids([old, new])
    changes = []
    for student in sorted(set(old) | set(new)):
        before, after = old.get(student), new.get(student)
        change = Change(student, None if before is None else float(before.get("score", 0.0)),
                        None if after is None else float(after.get("score", 0.0)))
        change.error = "; ".join(str(r.get("extra_data", {}).get("batch_error", ""))
                                 for r in (before, after) if r and r.get("extra_data", {}).get("batch_error"))
        if before is not None and after is not None:
            a, b = _tests(before, by_id), _tests(after, by_id)
            for key in [*a, *(k for k in b if k not in a)]:
                old_score = a[key][1] if key in a else None
                new_score = b[key][1] if key in b else None
                if old_score != new_score:
                    change.checks.append(((b.get(key) or a[key])[0], old_score, new_score))
        changes.append(change)
    return changes


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _signed(value: float) -> str:
    return f"{value:+g}" if value else "0"


def write_csv(changes: list[Change]) -> str:
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(["student", "old_total", "new_total", "change", "changed_checks", "error"])
    for c in changes:
        writer.writerow([c.student, _fmt(c.old).replace("—", ""), _fmt(c.new).replace("—", ""),
                         "" if c.delta is None else f"{c.delta:g}",
                         "; ".join(f"{name}: {_fmt(a)} -> {_fmt(b)}" for name, a, b in c.checks),
                         c.error])
    return handle.getvalue()


def histogram_svg(deltas: list[float], width: int = 640, height: int = 220) -> str:
    """Bars of how many students' totals changed by each amount (0 in grey, losses red, gains
    green), as inline SVG: the page needs nothing from the network."""
    counts = sorted(Counter(round(d, 3) for d in deltas).items())
    if not counts:
        return "<p>No student is in both folders.</p>"
    top, pad, base = max(n for _, n in counts), 30, height - 40
    step = (width - 2 * pad) / len(counts)
    bars = []
    for i, (value, n) in enumerate(counts):
        h = (base - 20) * n / top
        x = pad + i * step
        colour = "#999999" if value == 0 else ("#c62828" if value < 0 else "#2e7d32")
        label = _signed(value)
        bars.append(f'<rect x="{x + step * 0.1:.1f}" y="{base - h:.1f}" width="{step * 0.8:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>{n} student(s): {label}</title></rect>'
                    f'<text x="{x + step / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle" '
                    f'font-size="12">{n}</text>'
                    f'<text x="{x + step / 2:.1f}" y="{base + 16:.1f}" text-anchor="middle" '
                    f'font-size="12">{label}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="histogram of the changes in total">'
            f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#333"/>'
            + "".join(bars) +
            f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" font-size="12">'
            'change in total (points)</text></svg>')


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.down { color: #c62828; font-weight: bold; } .up { color: #2e7d32; font-weight: bold; }
ul { margin: 0; padding-left: 1.2em; }
"""


def write_html(changes: list[Change], old_label: str, new_label: str) -> str:
    both = [c for c in changes if c.delta is not None]
    moved = sorted((c for c in both if c.delta), key=lambda c: (c.delta, c.student))
    only = [c for c in changes if c.delta is None]
    per_check: dict[str, list[float]] = {}
    for c in both:
        for name, a, b in c.checks:
            per_check.setdefault(name, []).append((b or 0.0) - (a or 0.0))
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Regrade: "
             f"{e(old_label)} → {e(new_label)}</title><style>{STYLE}</style></head><body>",
             f"<h1>Regrade: {e(old_label)} → {e(new_label)}</h1>",
             f"<p>{len(both)} students in both: <b>{len(moved)}</b> change total "
             f"({sum(c.delta > 0 for c in moved)} up, {sum(c.delta < 0 for c in moved)} down"
             + (f", mean change {statistics.mean(c.delta for c in both):+.2f}" if both else "")
             + f"); {len(only)} in only one of them.</p>",
             "<h2>Histogram of the changes</h2>", histogram_svg([c.delta for c in both])]
    parts += ["<h2>Students whose total changes</h2>"]
    if moved:
        parts.append("<table><tr><th>student</th><th>old</th><th>new</th><th>change</th>"
                     "<th>checks that changed (old → new)</th></tr>")
        for c in moved:
            checks = "".join(f"<li>{e(name)}: {_fmt(a)} → {_fmt(b)}</li>" for name, a, b in c.checks)
            parts.append(f"<tr><td>{e(c.student)}</td><td class='n'>{c.old:g}</td>"
                         f"<td class='n'>{c.new:g}</td><td class='n {'down' if c.delta < 0 else 'up'}'>"
                         f"{_signed(c.delta)}</td><td><ul>{checks}</ul></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None: every total is unchanged.</p>")
    if per_check:
        parts += ["<h2>Checks that changed</h2><table><tr><th>check</th><th>students</th>"
                  "<th>total change</th></tr>"]
        for name, values in sorted(per_check.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            parts.append(f"<tr><td>{e(name)}</td><td class='n'>{len(values)}</td>"
                         f"<td class='n'>{_signed(round(sum(values), 6))}</td></tr>")
        parts.append("</table>")
    if only:
        parts += ["<h2>In only one folder</h2><ul>"]
        parts += [f"<li>{e(c.student)}: only in {e(old_label if c.new is None else new_label)}</li>"
                  for c in only]
        parts.append("</ul>")
    same_checks = [c for c in both if c.checks and not c.delta]
    if same_checks:
        parts.append(f"<p>{len(same_checks)} student(s) keep their total while some checks "
                     "changed (see regrade.csv).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def regrade_diff(old_dir: str | Path, new_dir: str | Path, out: str | Path) -> list[Change]:
    """Compare two grading runs; writes ``out``/regrade.csv and regrade.html."""
    changes = compare(read_results(old_dir), read_results(new_dir))
    out = Path(out)
    write_atomically(out / "regrade.csv", write_csv(changes))
    write_atomically(out / "regrade.html", write_html(changes, str(old_dir), str(new_dir)))
    return changes
