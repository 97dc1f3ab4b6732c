"""``grade``: a submission's exercises run in a sandbox; the verdicts are computed here.

For each exercise the grader finds the student's cell (never their stored outputs: see
:mod:`course_utils.grading.matching`, and :mod:`course_utils.grading.references` for the
reference notebook), runs the reference's setup cell and the student's exercise cells in a
sandbox (see :mod:`course_utils.grading.sandbox`: no course files, no other submissions, no
network, limits, nothing left running; :mod:`course_utils.grading.session` starts it again
without a cell that kills it), and then runs the exercise's check, from
``course_utils.checks``, in its own process on a stand-in for the student's function
(:mod:`course_utils.grading.remote`): the check's inputs are made here, sent to the sandbox as
data, the answer's outputs come back as data, and the comparison with the library's result
happens here. Each check runs twice: on the notebook's cases, and on hidden cases drawn with the
instructor's seed. Nothing the student's code prints, patches or writes can change a verdict;
the submission is only ever read.
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
from .matching import match_exercises
from .references import default_notebooks_dir, find_reference
from .remote import Link
from .report import ExerciseResult, Report
from .sandbox import Limits, SandboxError, isolation
from .session import Session

__all__ = ["grade_folder", "grade_submission"]

_CHECK_CALL = re.compile(r"^checks\.(check_\w+)\((\w+)\)\s*$", re.M)


def _shown(path: Path) -> str:
    """A path relative to the working folder when it lies below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


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
