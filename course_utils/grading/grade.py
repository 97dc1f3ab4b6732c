"""``grade``: run a student's exercise cells inside the reference notebook under nbval.

The grading copy is the reference notebook with the student's exercise cells copied in: never
the student's other cells, never their stored outputs (editing an output gains nothing). nbval
executes it in a subprocess, in a temporary folder, with a time limit per cell and in all, and
compares the check cells' output with the reference. The submission is only ever read.

A cell that hangs or kills the kernel stops nbval for the rest of the notebook; the grader then
fails that exercise, replaces it by its stub and runs the notebook again, so the other exercises
are still graded.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .exercises import Exercise, NotebookError, find_exercises, read_notebook, stub_source

__all__ = ["ExerciseResult", "Report", "find_reference", "grade_folder", "grade_submission"]

CHECKS_LOG_VARIABLE = "COURSE_CHECKS_LOG"  # course_utils.checks appends its verdicts there
_ANSI = re.compile(r"\x1b\[[0-9;]*m|#x1B\[[0-9;]*m")


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
        lines = [f"{self.submission} (reference: {self.reference or 'none'})"]
        if self.status != "graded":
            lines.append(f"  could not be graded: {self.error}")
            return "\n".join(lines)
        width = max([len(r.name) for r in self.exercises] + [8])
        lines.append(f"  {'#':>2}  {'exercise':<{width}}  {'result':<6}  message")
        for r in self.exercises:
            result = "passed" if r.passed else "FAILED"
            lines.append(f"  {r.number:>2}  {r.name:<{width}}  {result:<6}  {r.message}")
        lines.append(f"  score: {self.score}/{self.total}  (graded in {self.seconds:.1f} s)")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def default_notebooks_dir() -> Path:
    """``./notebooks`` if it exists, else the notebooks folder of the course repository."""
    here = Path.cwd() / "notebooks"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "notebooks"


def find_reference(submission: Path, notebooks_dir: Path) -> Path:
    """The reference notebook a submission answers, from its file name.

    ``01_1x1_convolutions.ipynb``, ``alice-01_1x1_convolutions.ipynb`` and ``01_alice.ipynb``
    all find ``01_1x1_convolutions.ipynb``.
    """
    references = sorted(notebooks_dir.glob("*.ipynb"))
    stem = submission.stem
    by_name = [r for r in references if r.stem in stem]
    if len(by_name) == 1:
        return by_name[0]
    numbers = set(re.findall(r"(?<!\d)(\d\d)(?!\d)", stem))
    by_number = [r for r in references if r.stem[:2] in numbers]
    if len(by_number) == 1:
        return by_number[0]
    raise NotebookError(
        f"cannot tell which notebook {submission.name} answers (looked in {notebooks_dir}); "
        "name the file after it or pass --reference"
    )


def _shown(path: Path) -> str:
    """A path relative to the working folder when it lies below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


# ---------------------------------------------------------------- matching the student's cells


def _lines(source: str) -> set[str]:
    return {line.strip() for line in source.splitlines()}


def match_exercises(
    reference: nbformat.NotebookNode, exercises: list[Exercise], submission: nbformat.NotebookNode
) -> tuple[dict[int, str], dict[int, str], list[str]]:
    """Find each exercise's cell in the submission.

    Returns (sources by exercise number, failure reasons by exercise number, notes). A cell is
    found by the exercise's first code line (its ``def`` line), else by a ``def`` of the same
    function name, else by the reference cell's id (Jupyter keeps cell ids).
    """
    cells = [(i, c) for i, c in enumerate(submission.cells) if c.cell_type == "code"]
    sources: dict[int, str] = {}
    failures: dict[int, str] = {}
    notes: list[str] = []
    positions: dict[int, int] = {}
    for ex in exercises:
        if not any(c.source.strip() == ex.check_source.strip() for _, c in cells):
            notes.append(
                f"the check cell of exercise {ex.number} ({ex.name}) was edited or deleted; "
                "the reference check cell was used"
            )
        found = [i for i, c in cells if ex.signature and ex.signature in _lines(c.source)]
        if not found and ex.name.isidentifier():  # the signature was changed
            defines = re.compile(rf"^(?:def|class)\s+{ex.name}\s*[(:]", re.M)
            found = [i for i, c in cells if defines.search(c.source)]
        if not found:  # no def line at all: the cell Jupyter kept the reference's id for
            ref_id = reference.cells[ex.cell].get("id")
            found = [i for i, c in cells if ref_id and c.get("id") == ref_id]
        if len(found) > 1:
            failures[ex.number] = (
                f"exercise {ex.number} appears in {len(found)} cells "
                f"(cells {', '.join(map(str, found))}); keep exactly one"
            )
            continue
        if not found:
            failures[ex.number] = (
                f"exercise cell not found (deleted?): no code cell has the line '{ex.signature}'"
            )
            continue
        positions[ex.number] = found[0]
        sources[ex.number] = submission.cells[found[0]].source
    order = [positions[k] for k in sorted(positions)]
    if order != sorted(order):
        notes.append(
            "exercise cells are not in the reference order; each was graded by its own check"
        )
    return sources, failures, notes


# ---------------------------------------------------------------- running nbval


@dataclass
class _Cell:
    status: str  # passed, failed, skipped
    message: str = ""

    @property
    def stopped_the_notebook(self) -> bool:
        """A timeout or a dead kernel: nbval skips every later cell."""
        return self.status == "failed" and ("timed out" in self.message or "kernel" in self.message)


def _summary(text: str) -> str:
    """The informative line of an nbval failure message."""
    text = _ANSI.sub("", text)
    if "Timeout of" in text and "Failed to interrupt kernel" in text:
        return "the kernel died or stopped responding"
    timeout = re.search(r"Timeout of (\d+) seconds exceeded", text)
    if timeout:
        return f"timed out after {timeout.group(1)} s"
    if "Kernel died" in text or "DeadKernelError" in text:
        return "the kernel died"
    errors = re.findall(r"^(\w*(?:Error|Exception|Interrupt)\b.*)$", text, re.M)
    if errors:
        return errors[-1].strip()
    for line in text.splitlines():
        if line.strip() and "Notebook cell execution failed" not in line:
            return line.strip()[:200]
    return "failed"


def _run_nbval(nb, workdir: Path, cell_timeout: int, seconds_left: float, sanitize: Path | None):
    """Run nbval on ``nb``; returns ({code cell index: _Cell}, check verdict lines).

    Raises TimeoutError when the run needs more than ``seconds_left``.
    """
    notebook = workdir / "grading.ipynb"
    notebook.write_text(nbformat.writes(nb), encoding="utf-8")
    (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    report, log = workdir / "report.xml", workdir / "checks.log"
    for stale in (report, log):
        stale.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(notebook),
        "-c",
        str(workdir / "pytest.ini"),
        "--rootdir",
        str(workdir),
        "-p",
        "no:cacheprovider",
        "-q",
        "--nbval-lax",
        "--nbval-current-env",
        f"--nbval-cell-timeout={cell_timeout}",
        f"--junitxml={report}",
    ]
    if sanitize is not None and sanitize.is_file():
        command.append(f"--nbval-sanitize-with={sanitize}")
    env = dict(os.environ, **{CHECKS_LOG_VARIABLE: str(log), "MPLBACKEND": "Agg"})
    with open(workdir / "nbval.log", "w") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            process.wait(timeout=seconds_left)
        except subprocess.TimeoutExpired as expired:
            os.killpg(process.pid, signal.SIGKILL)  # pytest and the kernel it started
            process.wait()
            raise TimeoutError("out of time") from expired
    if not report.is_file():
        tail = (workdir / "nbval.log").read_text(errors="replace")[-500:]
        raise RuntimeError(f"nbval did not run: {_ANSI.sub('', tail).strip()}")
    cells: dict[int, _Cell] = {}
    for case in ET.parse(report).iter("testcase"):
        match = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        if not match:
            continue
        outcome = _Cell("passed")
        for child in case:
            text = (child.text or "") + "\n" + (child.get("message") or "")
            if child.tag in ("failure", "error"):
                outcome = _Cell("failed", _summary(text))
            elif child.tag == "skipped":
                outcome = _Cell("skipped", _ANSI.sub("", child.get("message") or ""))
        cells[int(match.group(1))] = outcome
    verdicts = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    return cells, verdicts


def _grading_copy(reference, exercises, sources, exercises_only: bool):
    """The notebook to run and, per exercise, the code-cell indices of its cell and check."""
    nb = copy.deepcopy(reference)
    for ex in exercises:
        nb.cells[ex.cell].source = sources[ex.number]
    keep = range(len(nb.cells))
    if exercises_only:
        graded = {ex.cell for ex in exercises} | {ex.check for ex in exercises}
        setup = next((i for i, c in enumerate(nb.cells) if "env.setup(" in c.source), 0)
        keep = [
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (i <= setup or i in graded)
        ]
    nb.cells = [nb.cells[i] for i in keep]
    code_index = {}
    for i in keep:
        if reference.cells[i].cell_type == "code":
            code_index[i] = len(code_index)
    where = {ex.number: (code_index[ex.cell], code_index[ex.check]) for ex in exercises}
    return nb, where


# ---------------------------------------------------------------- grading


@dataclass
class _Runner:
    """Runs grading copies of one reference until no exercise hangs or kills the kernel."""

    reference: nbformat.NotebookNode
    exercises: list[Exercise]
    cell_timeout: int
    deadline: float  # time.perf_counter() value
    sanitize: Path | None
    exercises_only: bool

    def until_settled(self, sources: dict[int, str], failures: dict[int, str]):
        """Grade; an exercise that stops the notebook is failed, stubbed and the run repeated.

        Updates ``failures``; returns (cell positions by exercise, cell outcomes, check verdicts,
        the code cell where the last run stopped or None).
        """
        stubs = {
            ex.number: stub_source(self.reference.cells[ex.cell].source, ex)
            for ex in self.exercises
        }
        sources = {**sources, **{n: stubs[n] for n in failures}}
        with tempfile.TemporaryDirectory(prefix="course-grading-") as tmp:
            while True:
                nb, where = _grading_copy(
                    self.reference, self.exercises, sources, self.exercises_only
                )
                seconds_left = self.deadline - time.perf_counter()
                if seconds_left <= 0:
                    raise TimeoutError("out of time")
                cells, verdicts = _run_nbval(
                    nb, Path(tmp), self.cell_timeout, seconds_left, self.sanitize
                )
                stopped = next(
                    (i for i, c in sorted(cells.items()) if c.stopped_the_notebook), None
                )
                culprit = next(
                    (n for n, cs in where.items() if stopped in cs and n not in failures), None
                )
                if culprit is None:
                    return where, cells, verdicts, stopped
                failures[culprit] = (
                    f"{cells[stopped].message} (the other exercises were graded without it)"
                )
                sources[culprit] = stubs[culprit]


def grade_submission(
    submission: str | Path,
    reference: str | Path | None = None,
    *,
    notebooks_dir: str | Path | None = None,
    cell_timeout: int = 300,
    total_timeout: float = 1800,
    exercises_only: bool = False,
) -> Report:
    """Grade one submitted notebook; never raises for a bad submission (see ``Report.status``).

    Args:
        submission: the student's .ipynb (only read, never written).
        reference: the reference notebook; by default found from the submission's file name
            in ``notebooks_dir`` (default: ``./notebooks`` or the course's own).
        cell_timeout: seconds any one cell may run.
        total_timeout: seconds the whole grading of this submission may take.
        exercises_only: run only the setup, exercise and check cells (faster; fine when the
            exercises need nothing from the cells between them, as in this course).
    """
    start = time.perf_counter()
    submission = Path(submission)
    report = Report(submission=submission.name)
    try:
        notebooks = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
        ref_path = Path(reference) if reference else find_reference(submission, notebooks)
        report.reference = _shown(ref_path)
        ref_nb = read_notebook(ref_path)
        exercises = find_exercises(ref_nb)
        if not exercises:
            raise NotebookError(f"the reference {ref_path.name} has no exercises")
        student = read_notebook(submission)
        sources, failures, report.notes = match_exercises(ref_nb, exercises, student)
        sanitize = ref_path.resolve().parent.parent / "data" / "nbval_sanitize.cfg"
        run = _Runner(
            ref_nb, exercises, cell_timeout, start + total_timeout, sanitize, exercises_only
        )
        try:
            where, cells, verdicts, stopped = run.until_settled(sources, failures)
        except TimeoutError as error:
            limit = f"{total_timeout:.0f} s"
            raise TimeoutError(f"grading took longer than the total limit of {limit}") from error
        for ex in exercises:
            report.exercises.append(_result(ex, where[ex.number], cells, verdicts, failures))
        if stopped is not None and not any(stopped in cs for cs in where.values()):
            report.notes.append(
                f"the notebook stopped at code cell {stopped}: {cells[stopped].message}"
            )
    except (NotebookError, TimeoutError, RuntimeError, OSError) as error:
        report.status, report.error = "error", str(error)
    report.seconds = time.perf_counter() - start
    return report


def _result(ex: Exercise, where: tuple[int, int], cells, verdicts, failures) -> ExerciseResult:
    if ex.number in failures:
        return ExerciseResult(ex.number, ex.name, False, failures[ex.number])
    cell, check = (cells.get(i, _Cell("skipped", "not run")) for i in where)
    said = [line for line in verdicts if line.startswith(f"{ex.name}:")]
    if check.status == "passed":
        return ExerciseResult(ex.number, ex.name, True, said[-1] if said else "passed")
    if cell.status == "failed":
        message = f"the exercise cell failed: {cell.message}"
    elif said:
        message = said[-1]
    elif check.status == "skipped":
        message = f"not run ({check.message or 'the notebook stopped before it'})"
    else:
        message = f"the check cell failed: {check.message}"
    return ExerciseResult(ex.number, ex.name, False, message)


def grade_folder(folder: str | Path, jobs: int = 1, **options) -> list[Report]:
    """Grade every ``.ipynb`` in ``folder`` (not recursive); one bad file never stops the rest.

    ``jobs`` submissions are graded at a time (each in its own kernel); the reports come back
    in file-name order either way. ``options`` are :func:`grade_submission`'s.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    paths = sorted(Path(folder).glob("*.ipynb"))
    if jobs == 1:
        return [grade_submission(path, **options) for path in paths]
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # the work runs in subprocesses
        return list(pool.map(lambda path: grade_submission(path, **options), paths))
