"""Releasing exercise versions of the notebooks and grading submissions in a sandbox.

Command line (see the README, "Exercises and grading")::

    python -m course_utils.grading release notebooks/ exercises/
    python -m course_utils.grading grade SUBMISSION.ipynb [--reference notebooks/NN_x.ipynb]
    python -m course_utils.grading grade SUBMISSIONS_FOLDER/ --csv grades.csv
"""

from .exercises import Exercise, NotebookError, find_exercises, read_notebook, stub_source
from .grade import grade_folder, grade_submission
from .references import find_reference
from .release import release_folder, release_notebook
from .report import ExerciseResult, Report

__all__ = [
    "Exercise",
    "ExerciseResult",
    "NotebookError",
    "Report",
    "find_exercises",
    "find_reference",
    "grade_folder",
    "grade_submission",
    "read_notebook",
    "release_folder",
    "release_notebook",
    "stub_source",
]
