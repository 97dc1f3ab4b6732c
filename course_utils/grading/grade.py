"""``grade``: a submission's exercises run in a sandbox; the verdicts are computed here.

For each exercise the grader finds the student's cell (never their stored outputs), runs the
reference's setup cell and the student's exercise cells in a sandbox (see
:mod:`course_utils.grading.sandbox`: no course files, no other submissions, no network, limits,
nothing left running), and then runs the exercise's check, from ``course_utils.checks``, in its
own process on a stand-in for the student's function (:mod:`course_utils.grading.remote`): the
check's inputs are made here, sent to the sandbox as data, the answer's outputs come back as
data, and the comparison with the library's result happens here. Each check runs twice: on the
notebook's cases, and on hidden cases drawn with the instructor's seed. Nothing the student's
code prints, patches or writes can change a verdict; the submission is only ever read.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import torch

from ..checks import core
from ..checks.guard import suspicious_names
from ..contract import passed_cases
from .exercises import Exercise, NotebookError, find_exercises, read_notebook, stub_source
from .remote import Link
from .report import ExerciseResult, Report
from .sandbox import Limits, Sandbox, SandboxError, isolation

__all__ = ["ExerciseResult", "Report", "find_reference", "grade_folder", "grade_submission"]

_CHECK_CALL = re.compile(r"^checks\.(check_\w+)\((\w+)\)\s*$", re.M)


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


# ---------------------------------------------------------------- the sandboxed session


class Session:
    """The submission's cells in a sandbox, restarted (without the culprit) when one kills it."""

    def __init__(
        self,
        setup: list[str],
        cells: dict[int, str],
        names: dict[int, str],
        hide,
        limits,
        timeout,
        deadline,
    ):
        self.setup, self.cells, self.names = setup, dict(cells), names
        self.hide, self.limits, self.timeout, self.deadline = hide, limits, timeout, deadline
        self.sandbox: Sandbox | None = None
        self.cell_errors: dict[int, str] = {}  # exercise -> what its cell raised
        self.killed: dict[int, str] = {}  # exercise -> how its cell ended the sandbox
        self.notes: list[str] = []
        self.limits_note = ""

    def seconds_left(self) -> float:
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("out of time")
        return left

    def request(self, message: dict, timeout: float) -> dict:
        self.ensure()
        return self.sandbox.request(message, min(timeout, self.seconds_left()))

    def ensure(self) -> None:
        """A live sandbox that has run the setup and every exercise cell not yet to blame."""
        while self.sandbox is None or not self.sandbox.alive:
            self.close()
            self.sandbox = Sandbox(hide=self.hide, limits=self.limits)
            try:  # before any of the student's code runs: the grader's problem, not theirs
                self.sandbox.start(timeout=min(180, self.seconds_left()))
            except SandboxError as error:
                raise RuntimeError(f"could not start the sandbox: {error}") from error
            self.limits_note = self.sandbox.cgroup_note
            for source in self.setup:
                reply = self.sandbox.request({"op": "exec", "source": source}, self.seconds_left())
                if "error" in reply:
                    error = reply["error"]
                    raise RuntimeError(f"the reference's setup cell failed in the sandbox: {error}")
            self.cell_errors = {}
            for number, source in self.cells.items():
                if number in self.killed:
                    continue
                try:
                    reply = self.sandbox.request(
                        {
                            "op": "exec",
                            "source": source,
                            "key": number,
                            "exercise": self.names.get(number, ""),
                        },
                        min(self.timeout, self.seconds_left()),
                    )
                except SandboxError as error:
                    self.killed[number] = f"running the exercise cell: {error}"
                    break  # start again without it
                if "error" in reply:
                    err = reply["error"]
                    self.cell_errors[number] = f"{err.get('type')}: {err.get('message')}"

    def close(self) -> None:
        if self.sandbox is not None:
            self.notes.extend(self.sandbox.close())
            self.sandbox = None


def _check_of(ex: Exercise):
    """The check function and the name it is given, from the reference's check cell."""
    from .. import checks

    found = _CHECK_CALL.findall(ex.check_source)
    if len(found) != 1 or not hasattr(checks, found[0][0]):
        raise NotebookError(
            f"the check cell of exercise {ex.number} must call one checks.check_<name>(<name>)"
        )
    return getattr(checks, found[0][0]), found[0][1]


def _verdict(check, answer, hidden_seed: int | None) -> str:
    """Run one check in this process on ``answer`` (a proxy); its verdict line."""
    seeded = core.hidden_cases(hidden_seed) if hidden_seed is not None else contextlib.nullcontext()
    with core.collecting_verdicts(guard_here=False) as lines, seeded, torch.random.fork_rng():
        torch.manual_seed(0)
        try:
            check(answer)
        except (SandboxError, TimeoutError) as error:
            lines.append(f"could not run the answer: {error}")
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # the check could not run on what came back
            lines.append(f"the check could not run the answer: {type(error).__name__}: {error}")
    return lines[-1] if lines else "the check said nothing"


def _grade_exercise(ex: Exercise, session: Session, hidden_seed: int, timeout: float):
    check, name = _check_of(ex)
    link = Link(session, ex.name, timeout)
    try:
        session.ensure()
        if ex.number in session.killed:
            return False, f"the exercise cell ended its process: {session.killed[ex.number]}"
        if ex.number in session.cell_errors:
            return False, f"the exercise cell failed: {session.cell_errors[ex.number]}"
        answer = link.value(link.ask({"op": "lookup", "name": name}))
    except NameError as error:
        return False, f"the exercise cell does not define it: {error}"
    except SandboxError as error:
        return False, f"could not run the answer: {error}"
    except Exception as error:  # whatever came back instead of the answer
        return False, f"could not look the answer up: {type(error).__name__}: {error}"
    visible = _verdict(check, answer, None)
    cases = passed_cases(visible, ex.name)
    if cases is None:
        return False, visible
    hidden = _verdict(check, answer, hidden_seed)
    extra = passed_cases(hidden, ex.name)
    if extra is None:
        return False, hidden
    hidden_part = f" and {extra} hidden cases" if extra else " (it has no hidden cases)"
    return True, f"{ex.name}: correct on {cases} cases{hidden_part}"


def _setup_sources(reference: nbformat.NotebookNode) -> list[str]:
    """The reference's code cells up to and including its setup cell (``env.setup(``)."""
    setup = next((i for i, c in enumerate(reference.cells) if "env.setup(" in c.source), None)
    if setup is None:
        raise NotebookError("the reference has no setup cell (one that calls env.setup())")
    return [c.source for c in reference.cells[: setup + 1] if c.cell_type == "code"]


def grade_submission(
    submission: str | Path,
    reference: str | Path | None = None,
    *,
    notebooks_dir: str | Path | None = None,
    cell_timeout: int = 120,
    total_timeout: float = 900,
    hidden_seed: int | None = None,
    hide: tuple[str | Path, ...] = (),
    limits: Limits | None = None,
) -> Report:
    """Grade one submitted notebook; never raises for a bad submission (see ``Report.status``).

    Args:
        submission: the student's .ipynb (only read, never written).
        reference: the reference notebook; by default found from the submission's file name
            in ``notebooks_dir`` (default: ``./notebooks`` or the course's own).
        cell_timeout: seconds an exercise cell, or one call of an answer, may run.
        total_timeout: seconds the whole grading of this submission may take.
        hidden_seed: the instructor's seed for the hidden cases (default: a random one, noted
            in the report).
        hide: more folders the sandbox must not see (the submissions' and the references'
            folders are always hidden; the grader hides the folders of its output files).
        limits: the sandbox's resource limits.
    """
    start = time.perf_counter()
    submission = Path(submission)
    report = Report(submission=submission.name)
    if hidden_seed is None:
        hidden_seed = secrets.randbelow(2**62)
    report.hidden_seed = hidden_seed
    session = None
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
        for ex in exercises:
            reaches = suspicious_names(sources.get(ex.number, ""))
            if reaches and ex.number not in failures:
                failures[ex.number] = (
                    f"the answer reaches for {', '.join(reaches)}; exercise answers may not "
                    "(see the README, Exercises and grading)"
                )
                # such a cell does not run at all (its stub does): it fails, and it cannot
                # tamper with what the other exercises run on
                sources[ex.number] = stub_source(ref_nb.cells[ex.cell].source, ex)
        folders = {ref_path.resolve().parent, submission.resolve().parent, notebooks.resolve()}
        folders |= {Path(h).resolve() for h in hide}
        mode, how = isolation()
        report.sandbox = f"{mode} ({how})"
        session = Session(
            _setup_sources(ref_nb),
            sources,
            {ex.number: ex.name for ex in exercises},
            sorted(str(f) for f in folders),
            limits or Limits(),
            cell_timeout,
            start + total_timeout,
        )
        for ex in exercises:
            if ex.number in failures:
                report.exercises.append(
                    ExerciseResult(ex.number, ex.name, False, failures[ex.number])
                )
                continue
            try:
                passed, message = _grade_exercise(ex, session, hidden_seed, cell_timeout)
            except SandboxError as error:
                passed, message = False, f"could not run the answer: {error}"
            message = message if len(message) <= 2000 else message[:1997] + "..."
            report.exercises.append(ExerciseResult(ex.number, ex.name, passed, message))
            session.seconds_left()  # TimeoutError once the total time is spent
    except TimeoutError as error:
        report.status = "error"
        report.error = f"grading took longer than the total limit of {total_timeout:.0f} s"
        del error
    except (NotebookError, RuntimeError, OSError) as error:
        report.status, report.error = "error", str(error)
    except Exception as error:  # never let one submission stop a folder
        report.status = "error"
        report.error = f"the grader failed on this submission: {type(error).__name__}: {error}"
    finally:
        if session is not None:
            session.close()
            report.notes.extend(session.notes)
            if session.limits_note:
                report.sandbox = f"{report.sandbox[:-1]}; {session.limits_note})"
    report.seconds = time.perf_counter() - start
    return report


def _grade_one(args: tuple[Path, dict]) -> Report:
    path, options = args
    return grade_submission(path, **options)


def grade_folder(folder: str | Path, jobs: int = 1, **options) -> list[Report]:
    """Grade every ``.ipynb`` in ``folder`` (not recursive); one bad file never stops the rest.

    ``jobs`` submissions are graded at a time, each by its own grader process (and sandbox);
    the reports come back in file-name order either way. ``options`` are
    :func:`grade_submission`'s; one ``hidden_seed`` is drawn for the whole folder.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    options.setdefault("hidden_seed", secrets.randbelow(2**62))
    paths = sorted(Path(folder).glob("*.ipynb"))
    if jobs == 1 or len(paths) < 2:
        return [grade_submission(path, **options) for path in paths]
    context = multiprocessing.get_context("spawn")
    reports: dict[Path, Report] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {p: pool.submit(_grade_one, (p, options)) for p in paths}
        for path, future in futures.items():
            with contextlib.suppress(Exception):  # a broken pool: graded again below
                reports[path] = future.result()
    for path in paths:  # what a dead grader process left undone: alone, in a fresh process
        if path not in reports:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as alone:
                try:
                    reports[path] = alone.submit(_grade_one, (path, options)).result()
                except Exception as error:
                    reports[path] = Report(
                        submission=path.name,
                        status="error",
                        error=f"the grader's process died on this submission: {error!r}",
                    )
    return [reports[p] for p in paths]
