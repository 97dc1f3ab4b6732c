"""The contract between the exercise checks and the grader, in one torch-free place.

A check prints ONE verdict line per call. The line that means "passed" is built and recognised
here, so the checks (``course_utils.checks``), the grader (``course_utils.grading``) and the
tests all agree on it. The sandbox protocol's limits live here too.
"""

from __future__ import annotations

import re

__all__ = [
    "HIDDEN_CASE",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "REMOTE_VALUE_AND_GRADIENT",
    "is_passed",
    "passed_cases",
    "passed_line",
]

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 2**20  # one message between the grader and a sandbox, at most
# A callable with this attribute computes value_and_gradient itself (the grader's proxies for
# an answer that runs in a sandbox: the gradient must be taken where the answer runs).
REMOTE_VALUE_AND_GRADIENT = "__course_value_and_gradient__"
HIDDEN_CASE = "a hidden case"  # how a verdict names a case drawn with the instructor's seed

_PASSED = re.compile(r"(?P<name>[\w ]+): correct on (?P<n>\d+) cases")


def passed_line(name: str, cases: int) -> str:
    """The verdict line of an answer that is right on every case."""
    return f"{name}: correct on {cases} cases"


def passed_cases(line: str, name: str | None = None) -> int | None:
    """The number of cases a "passed" verdict line counts (for ``name``, when given), else
    None."""
    match = _PASSED.fullmatch(line.strip())
    if not match or (name is not None and match.group("name") != name):
        return None
    return int(match.group("n"))


def is_passed(line: str, name: str | None = None) -> bool:
    """Whether a verdict line says "passed" (for ``name``, when given)."""
    return passed_cases(line, name) is not None
