"""Which reference notebook a submission answers: found from the submission's file name."""

from __future__ import annotations

import re
from pathlib import Path

from .exercises import NotebookError

__all__ = ["default_notebooks_dir", "find_reference"]


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
