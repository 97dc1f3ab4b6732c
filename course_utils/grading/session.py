"""The sandboxed session a submission's exercise cells run in, while the grader checks them."""

from __future__ import annotations

import time

from .sandbox import Sandbox, SandboxError

__all__ = ["Session"]


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
