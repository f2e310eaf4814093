"""Outcomes of a grading run, as Gradescope's results.json and as a table for people."""
from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

# Hidden checks are "after_published" (students see them once grades are published). Set
# $TML_HIDDEN_VISIBILITY to "hidden" (never shown) or "after_due_date" to change that.
HIDDEN_VISIBILITY_ENV = "TML_HIDDEN_VISIBILITY"
HIDDEN_VISIBILITIES = ("after_published", "after_due_date", "hidden")


def hidden_visibility() -> str:
    chosen = os.environ.get(HIDDEN_VISIBILITY_ENV, "").strip() or "after_published"
    if chosen not in HIDDEN_VISIBILITIES:     # a typo must not cost a student their grade
        print(f"warning: ignoring ${HIDDEN_VISIBILITY_ENV}={chosen!r}; use one of "
              f"{HIDDEN_VISIBILITIES}", file=sys.stderr)
        return "after_published"
    return chosen


@dataclass
class TestResult:
    number: str
    name: str
    score: float
    max_score: float
    output: str
    visibility: str = "visible"
    id: str = ""                 # the check's test function: stable while its wording changes

    @property
    def status(self) -> str:
        return "passed" if self.score >= self.max_score else "failed"


@dataclass
class GradingResult:
    homework: str
    tests: list[TestResult] = field(default_factory=list)
    execution_time: float = 0.0
    notes: list[str] = field(default_factory=list)      # e.g. cells that could not be used
    internal_errors: list[str] = field(default_factory=list)
    sandbox: list[str] = field(default_factory=list)    # what confined the student's code
    usage: dict[str, dict[str, float]] = field(default_factory=dict)  # test → child cpu_s, wall_s
    leaderboard: list[dict] = field(default_factory=list)  # Gradescope's {name, value, order}
    extra_data: dict = field(default_factory=dict)      # results.json's, e.g. the run's memory

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 6)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 6)

    def to_gradescope(self, leaderboard: bool = False) -> dict:
        """Gradescope's results.json; with ``leaderboard``, its leaderboard array too (the
        figures the checks measured, in docs/leaderboards.md's format)."""
        hidden = hidden_visibility()
        summary = [f"{self.homework}: {self.score:g} / {self.max_score:g} points "
                   f"(graded in {self.execution_time:.1f} s)."] + self.notes + (
                      ["Sandbox: " + "; ".join(self.sandbox)] if self.sandbox else [])
        results = {
            "score": self.score,
            "execution_time": round(self.execution_time, 3),
            "output": "\n".join(summary),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [{"name": f"{t.number} {t.name}", "number": t.number, "score": round(t.score, 6),
                       "max_score": t.max_score, "status": t.status, "output": t.output,
                       "visibility": hidden if t.visibility == "after_published" else t.visibility,
                       "extra_data": {"id": t.id}}
                      for t in self.tests],
            **({"extra_data": self.extra_data} if self.extra_data else {}),
        }
        if leaderboard:
            results["leaderboard"] = list(self.leaderboard)
        return results

    def write_json(self, path: str | Path, leaderboard: bool = False) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_gradescope(leaderboard), indent=2, allow_nan=False))
        tmp.replace(path)

    def table(self, width: int | None = None) -> str:
        width = width or max(100, min(160, shutil.get_terminal_size((120, 20)).columns))
        name_width = min(52, max(len(f"{t.number} {t.name}") for t in self.tests) if self.tests else 10)
        message_width = max(30, width - name_width - 20)
        lines = [f"{'test':<{name_width}}  {'points':>6}  {'max':>4}  message",
                 "-" * width]
        for t in self.tests:
            label = f"{t.number} {t.name}"
            label = label if len(label) <= name_width else label[:name_width - 1] + "…"
            hidden = "" if t.visibility == "visible" else " [hidden]"
            first, *rest = (t.output or ("ok" if t.status == "passed" else "")).splitlines() or [""]
            wrapped = textwrap.wrap(first + hidden, message_width) or [""]
            lines.append(f"{label:<{name_width}}  {t.score:>6.2f}  {t.max_score:>4g}  {wrapped[0]}")
            lines += [" " * (name_width + 16) + more for more in wrapped[1:]]
        lines += ["-" * width, f"{'total':<{name_width}}  {self.score:>6.2f}  {self.max_score:>4g}  "
                  f"graded in {self.execution_time:.1f} s"]
        lines += self.notes
        return "\n".join(lines)
