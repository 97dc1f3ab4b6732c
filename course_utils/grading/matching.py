"""Finding each exercise's cell in a submission, by its ``def`` line, its function's name or
its cell id, whatever the student moved, renamed or deleted around it."""

from __future__ import annotations

import re

import nbformat

from .exercises import Exercise

__all__ = ["match_exercises"]


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
