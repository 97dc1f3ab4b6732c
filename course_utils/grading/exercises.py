"""Finding the exercises of a notebook and making their student stubs.

An exercise is a code cell whose answer sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` lines (one region, or several: a class may have one per method), directly
followed by its check cell (first line ``# NBVAL_CHECK_OUTPUT``, then a call of
``checks.check_<name>(...)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["Exercise", "NotebookError", "find_exercises", "read_notebook", "stub_source"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_MARKER = "# NBVAL_CHECK_OUTPUT"
_REGION = re.compile(
    r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|\Z)", re.S | re.M
)
_DEF = re.compile(r"^(?:def|class)\s+(\w+)\s*[(:]", re.M)  # a top-level function or class


class NotebookError(ValueError):
    """A notebook that cannot be read, or whose exercises do not follow the conventions."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a reference notebook."""

    number: int  # 1..N, in notebook order
    name: str  # the function or class the student writes (or "exercise N")
    cell: int  # index of the exercise cell in nb.cells
    check: int  # index of its check cell (cell + 1)
    signature: str  # the first line of the cell that is not a comment ("def conv1x1(...):")
    check_source: str  # the check cell's source, as the reference has it


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook file; any problem becomes a NotebookError that says what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"cannot read {path.name}: {error}") from error
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:  # JSON errors, unknown nbformat versions, ...
        raise NotebookError(f"{path.name} is not a valid notebook: {error}") from error
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path.name} is not a valid notebook: it has no list of cells")
    for cell in nb.cells:
        if not isinstance(cell.get("source"), str) or "cell_type" not in cell:
            raise NotebookError(f"{path.name} is not a valid notebook: a cell has no source")
    return nb


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    return ""


def find_exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The exercises of a reference notebook, checked against the conventions."""
    exercises: list[Exercise] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or BEGIN not in cell.source:
            continue
        regions = len(_REGION.findall(cell.source))
        if not (regions == cell.source.count(BEGIN) == cell.source.count(END)):
            raise NotebookError(
                f"cell {i}: every {BEGIN} line needs its own {END} line after it "
                "(each on a line of its own, regions not nested)"
            )
        nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        if nxt is None or nxt.cell_type != "code" or not nxt.source.startswith(CHECK_MARKER):
            raise NotebookError(
                f"cell {i}: an exercise must be followed by a '{CHECK_MARKER}' cell"
            )
        match = _DEF.search(cell.source)
        number = len(exercises) + 1
        exercises.append(
            Exercise(
                number=number,
                name=match.group(1) if match else f"exercise {number}",
                cell=i,
                check=i + 1,
                signature=_first_code_line(cell.source),
                check_source=nxt.source,
            )
        )
    return exercises


def stub_source(source: str, exercise: Exercise) -> str:
    """The student's version of an exercise cell: each solution region becomes a raise.

    The lines around the regions (signatures, docstrings, comments) are kept; each raise takes
    the indentation of its ``### BEGIN SOLUTION`` line.
    """
    what = f"implement {exercise.name}()" if exercise.name.isidentifier() else "write your answer"

    def replace(match: re.Match) -> str:
        indent = match.group(1)
        message = f"Exercise {exercise.number}: {what} (see the instructions above)"
        return f'{indent}raise NotImplementedError("{message}")' + match.group(2)

    return _REGION.sub(replace, source)
