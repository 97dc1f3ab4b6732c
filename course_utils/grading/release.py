"""``release``: write the student versions of the course notebooks."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import nbformat

from .exercises import NotebookError, find_exercises, read_notebook, stub_source

__all__ = ["release_folder", "release_notebook"]

#: Metadata key of a notebook written by ``release``: where it came from, and a fingerprint of
#: its cells, so that a released file someone has since edited is never overwritten.
RELEASE_KEY = "course_release"
BANNER = (
    "> **Exercise version.** Each exercise cell raises `NotImplementedError` until you write "
    "your answer in it; the check cell after it prints `... correct on N cases` when the answer "
    "is right (the expected line is already shown under it). The other cells after the first "
    "exercise show no output until you run them: what they print and draw depends on your "
    "answers. Only the exercise cells are graded, so keep everything your answer needs inside "
    "them."
)


def release_notebook(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student version of reference notebook ``nb`` (named ``name``, e.g. ``01_x.ipynb``).

    Solution regions become ``raise NotImplementedError("Exercise N: ...")``, exercise cells
    lose their outputs, check cells keep their reference outputs (the line a correct answer
    prints). Every other code cell after the first exercise loses its outputs too: they were
    computed from the reference answers, so they would show a student results of code they
    have not written yet, and give away the answers to predict-then-run exercises. Text, and
    the cells before the first exercise, are kept. The "Open in Colab" badge points at the
    exercise version, and a banner says what to do.
    """
    exercises = find_exercises(nb)
    if not exercises:
        raise NotebookError(f"{name} has no exercises to release")
    out = copy.deepcopy(nb)
    checks = {ex.check for ex in exercises}
    for i, cell in enumerate(out.cells):
        if i > exercises[0].cell and cell.cell_type == "code" and i not in checks:
            cell.outputs = []
            cell.execution_count = None
    for ex in exercises:
        cell = out.cells[ex.cell]
        cell.source = stub_source(cell.source, ex)
        cell.outputs = []
        cell.execution_count = None
    first = out.cells[0]
    if first.cell_type == "markdown":
        first.source = first.source.replace(
            f"/blob/main/notebooks/{name}", f"/blob/main/exercises/{name}"
        )
        first.source = first.source.rstrip("\n") + "\n\n" + BANNER
    out.metadata[RELEASE_KEY] = {
        "released_from": f"notebooks/{name}",
        "exercises": len(exercises),
        "cells_sha256": _fingerprint(out),
    }
    return out


def _fingerprint(nb: nbformat.NotebookNode) -> str:
    cells = json.dumps(nb.cells, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(cells.encode("utf-8")).hexdigest()


def _is_unchanged_release(path: Path) -> bool:
    """True for a file that ``release`` wrote and nobody has edited since."""
    try:
        nb = read_notebook(path)
    except NotebookError:
        return False
    stamp = nb.metadata.get(RELEASE_KEY)
    return isinstance(stamp, dict) and stamp.get("cells_sha256") == _fingerprint(nb)


def release_folder(src: str | Path, out: str | Path) -> list[Path]:
    """Release every notebook with exercises in ``src`` into ``out``; returns the files written.

    Refuses to overwrite a file in ``out`` unless an earlier release wrote it and nobody has
    edited it since (so a student's work is never lost), and refuses ``out == src``.
    """
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise NotebookError(f"{src} is not a folder of notebooks")
    if out.resolve() == src.resolve():
        raise NotebookError("the output folder must differ from the source folder")
    plans = []
    for path in sorted(src.glob("*.ipynb")):
        nb = read_notebook(path)
        if not find_exercises(nb):
            continue
        target = out / path.name
        if target.exists() and not _is_unchanged_release(target):
            raise NotebookError(
                f"{target} exists and is not an unedited release (not written by release, or "
                "edited since); not overwriting it"
            )
        plans.append((target, release_notebook(nb, path.name)))
    out.mkdir(parents=True, exist_ok=True)
    for target, nb in plans:
        target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return [target for target, _ in plans]
