"""Grades as reports: one submission's table, the CSV and JSON of a folder, and the per-exercise
statistics an instructor reads after grading a class.

Everything a student chose (a file name, an error message their code raised) is escaped before
it is shown: control characters and bidirectional overrides become visible ``\\x..`` escapes,
and a CSV cell that a spreadsheet would run as a formula (``= + - @``, tab, carriage return)
is prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["ExerciseResult", "Report", "csv_text", "safe", "statistics"]

CSV_HEADER = ["submission", "notebook", "status", "score", "total", "failed", "reason"]
STATS_HEADER = ["notebook", "exercise", "name", "submissions", "passed", "pass_rate", "failures"]


def safe(text: object, limit: int = 500) -> str:
    """``text`` with every control or format character escaped, cut to ``limit`` characters."""
    out = []
    for ch in str(text):
        if ch == " " or (unicodedata.category(ch)[0] not in "CZ"):
            out.append(ch)
        else:
            out.append(
                ch.encode("unicode_escape").decode("ascii") if ord(ch) > 31 else f"\\x{ord(ch):02x}"
            )
    result = "".join(out)
    return result if len(result) <= limit else result[: limit - 3] + "..."


def _cell(value: object) -> str:
    text = safe(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass
class ExerciseResult:
    number: int
    name: str
    passed: bool
    message: str


@dataclass
class Report:
    """The grade of one submission. ``status`` is "graded" or "error" (could not be graded)."""

    submission: str
    reference: str | None = None
    status: str = "graded"
    error: str | None = None
    exercises: list[ExerciseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sandbox: str = ""
    hidden_seed: int | None = None  # grade again with --hidden-seed to get the same cases

    @property
    def score(self) -> int:
        return sum(r.passed for r in self.exercises)

    @property
    def total(self) -> int:
        return len(self.exercises)

    @property
    def exit_code(self) -> int:
        if self.status != "graded":
            return 2
        return 0 if self.score == self.total else 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(score=self.score, total=self.total, grader="course_utils.grading")
        return data

    def table(self) -> str:
        lines = [f"{safe(self.submission)} (reference: {safe(self.reference or 'none')})"]
        if self.status != "graded":
            lines.append(f"  could not be graded: {safe(self.error)}")
            return "\n".join(lines)
        width = max([len(r.name) for r in self.exercises] + [8])
        lines.append(f"  {'#':>2}  {'exercise':<{width}}  {'result':<6}  message")
        for r in self.exercises:
            result = "passed" if r.passed else "FAILED"
            lines.append(f"  {r.number:>2}  {r.name:<{width}}  {result:<6}  {safe(r.message)}")
        lines.append(f"  score: {self.score}/{self.total}  (graded in {self.seconds:.1f} s)")
        lines.extend(f"  note: {safe(note)}" for note in self.notes)
        return "\n".join(lines)


def _csv(header: list[str], rows: list[list]) -> str:
    """CSV text whose cells are escaped and can never run as a spreadsheet formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def csv_text(reports: list[Report]) -> str:
    """One row per submission (the gradebook)."""
    rows = []
    for r in reports:
        failed = " ".join(e.name for e in r.exercises if not e.passed)
        notebook = Path(r.reference).name if r.reference else ""
        rows.append([r.submission, notebook, r.status, r.score, r.total, failed, r.error or ""])
    return _csv(CSV_HEADER, rows)


def _kind(message: str) -> str:
    """A failure message with its case-specific numbers and names taken out, for counting."""
    message = re.sub(r'"[^"]*"', '"..."', message)
    return re.sub(r"\b\d+(\.\d+)?(e-?\d+)?\b", "#", message)[:160]  # not inside names


def statistics(reports: list[Report], top: int = 3) -> list[dict]:
    """Per exercise of each notebook: submissions graded, passed, pass rate, and the most
    frequent failure messages (numbers and case names taken out)."""
    rows: dict[tuple[str, int], dict] = {}
    for r in reports:
        if r.status != "graded":
            continue
        notebook = Path(r.reference).name if r.reference else ""
        for e in r.exercises:
            row = rows.setdefault(
                (notebook, e.number),
                {
                    "notebook": notebook,
                    "exercise": e.number,
                    "name": e.name,
                    "submissions": 0,
                    "passed": 0,
                    "failures": Counter(),
                },
            )
            row["submissions"] += 1
            row["passed"] += e.passed
            if not e.passed:
                row["failures"][_kind(e.message)] += 1
    out = []
    for key in sorted(rows):
        row = rows[key]
        row["pass_rate"] = row["passed"] / row["submissions"]
        row["failures"] = row["failures"].most_common(top)
        out.append(row)
    return out


def statistics_table(rows: list[dict]) -> str:
    if not rows:
        return "no graded submissions"
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'notebook':<36} {'#':>2}  {'exercise':<{width}}  passed  most frequent failures"]
    for r in rows:
        passed = f"{r['passed']}/{r['submissions']}"
        failures = "; ".join(f"{n}x {safe(m, 80)}" for m, n in r["failures"]) or "-"
        lines.append(
            f"{r['notebook']:<36} {r['exercise']:>2}  {r['name']:<{width}}  {passed:>6}  {failures}"
        )
    return "\n".join(lines)


def statistics_csv(rows: list[dict]) -> str:
    """One row per exercise: pass rate and most frequent failures."""
    table = []
    for r in rows:
        failures = " | ".join(f"{n}x {m}" for m, n in r["failures"])
        table.append(
            [
                r["notebook"],
                r["exercise"],
                r["name"],
                r["submissions"],
                r["passed"],
                f"{r['pass_rate']:.3f}",
                failures,
            ]
        )
    return _csv(STATS_HEADER, table)


def score_figure(reports: list[Report], path: Path) -> None:
    """Bars of how many submissions got each score, per notebook (score as a percentage of
    the notebook's exercises, so notebooks with different numbers of exercises share an axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_notebook: dict[str, Counter] = {}
    totals: dict[str, int] = {}
    for r in reports:
        if r.status == "graded" and r.total:
            name = Path(r.reference).stem if r.reference else "?"
            by_notebook.setdefault(name, Counter())[round(100 * r.score / r.total)] += 1
            totals[name] = r.total
    names = sorted(by_notebook)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 8 / max(1, len(names))
    for k, name in enumerate(names):
        scores = sorted(by_notebook[name])
        offset = (k - (len(names) - 1) / 2) * width
        ax.bar(
            [x + offset for x in scores],
            [by_notebook[name][x] for x in scores],
            width=width,
            label=f"{name} ({totals[name]} exercises)",
        )
    ax.set_xlabel("score (% of the notebook's exercises passed)")
    ax.set_ylabel("submissions")
    ax.set_xlim(-8, 108)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ungraded = sum(r.status != "graded" for r in reports)
    ax.set_title(f"{len(reports) - ungraded} graded submissions ({ungraded} could not be graded)")
    if names:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": "course_utils.grading"})
    plt.close(fig)
