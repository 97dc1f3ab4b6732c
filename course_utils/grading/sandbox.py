"""Starting, talking to and ending the sandboxed process a submission's code runs in.

On Linux, with ``unshare`` (util-linux) and namespaces available, each sandbox is the first
process of its own PID, mount, network, IPC and UTS namespaces (plus a user namespace when the
grader is not root):

- it sees a new root holding only the system's folders, Python and its packages, and the
  ``course_utils`` package, all read-only; the reference notebooks, the submissions, the grade
  files, the grader's home and temporary files are not there at all;
- it can write only a private ``/tmp`` (a size-limited tmpfs), and runs as an unprivileged
  user (a fresh uid when the grader is root; nobody in a nested user namespace otherwise);
- it has no network: its network namespace has no interface but a loopback that is down;
- resource limits cap its memory, CPU time, file size, open files and processes;
- its environment is a clean one (no variable of the grader's passes);
- when it ends, or the grader ends it, the kernel kills every process it started (they all
  live in its PID namespace), and with a fresh uid the grader checks that none is left.

Elsewhere (macOS, Windows, or a Linux that refuses namespaces) the sandbox falls back to a
separate process with the same resource limits where the platform has them, a clean
environment and a process group that is killed at the end, and says so: it then cannot hide
files or the network. Run the grader in a container (see the README) there.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .wire import WireError, read_message, write_message

__all__ = ["Limits", "Sandbox", "SandboxError", "isolation"]


@dataclass(frozen=True)
class Limits:
    """What one submission's process may use."""

    memory_bytes: int = 6 * 2**30  # address space per process: importing torch maps 3.5 GB
    total_memory_bytes: int = 6 * 2**30  # memory in use by all its processes (a cgroup)
    cpu_seconds: int = 900
    file_bytes: int = 64 * 2**20
    disk_bytes: int = 256 * 2**20  # the private /tmp
    processes: int = 64  # processes and threads of the sandbox's user


class SandboxError(RuntimeError):
    """The sandbox died, broke the protocol, or ran out of time; ``reason`` says which."""


_UNSHARE = ["--fork", "--pid", "--mount-proc", "--mount", "--net", "--ipc", "--uts", "--kill-child"]


@lru_cache(maxsize=1)
def isolation() -> tuple[str, str]:
    """("namespaces", how) when Linux namespaces work here, else ("process", why not).

    ``COURSE_GRADING_SANDBOX=process`` asks for the fallback (to try it, or where namespaces
    misbehave).
    """
    if os.environ.get("COURSE_GRADING_SANDBOX") == "process":
        return "process", "COURSE_GRADING_SANDBOX=process asked for it"
    if not sys.platform.startswith("linux"):
        return "process", f"{sys.platform} has no Linux namespaces"
    unshare = shutil.which("unshare")
    if unshare is None:
        return "process", "the unshare command (util-linux) is not installed"
    extra = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    try:
        probe = subprocess.run(
            [unshare, *extra, *_UNSHARE, "true"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return "process", f"unshare failed: {error}"
    if probe.returncode != 0:
        return "process", f"this system refuses namespaces: {probe.stderr.strip()[:200]}"
    how = "as root, dropping to a fresh uid" if os.geteuid() == 0 else "in a user namespace"
    return "namespaces", how


def _clean_environment(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp" if isolation()[0] == "namespaces" else home,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "COURSE_FAST": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }


def _kill(pids: list[int]) -> None:
    """SIGKILL each process, skipping those already gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _processes_of(uid: int) -> list[int]:
    """The processes of ``uid`` (Linux /proc), for the check that nothing is left."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) == uid:
                found.append(int(entry.name))
    return found


def _write_if_present(path: Path, value: str) -> bool:
    """Write a cgroup setting the kernel offers only with some features (swap accounting)."""
    if path.is_file():
        path.write_text(value)
        return True
    return False


def _has_swap() -> bool:
    try:
        return len(Path("/proc/swaps").read_text().splitlines()) > 1
    except OSError:
        return False


class _Cgroups:
    """Limits on a whole submission (all its processes together): memory and process count,
    in cgroups the grader creates below its own (Linux cgroup v1 or v2, when it may). Rlimits
    bound each process; these bound their sum."""

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, limits: Limits, name: str):
        self.dirs: list[Path] = []
        self.note = "a cgroup limits it as a whole"
        swap_held = False
        wanted = {"memory": limits.total_memory_bytes, "pids": limits.processes}
        try:
            mine = dict(
                (line.split(":", 2)[1], line.split(":", 2)[2])
                for line in Path("/proc/self/cgroup").read_text().splitlines()
            )
            if (self.ROOT / "cgroup.controllers").is_file():  # v2: one tree
                where = self.ROOT / mine.get("", "/").lstrip("/") / name
                where.mkdir()
                self.dirs.append(where)
                (where / "memory.max").write_text(str(wanted["memory"]))
                (where / "pids.max").write_text(str(wanted["pids"]))
                swap_held = _write_if_present(where / "memory.swap.max", "0")
            else:  # v1: a tree per controller
                for controller, value in wanted.items():
                    where = self.ROOT / controller / mine[controller].lstrip("/") / name
                    where.mkdir()
                    self.dirs.append(where)
                    limit = "memory.limit_in_bytes" if controller == "memory" else "pids.max"
                    (where / limit).write_text(str(value))
                    if controller == "memory":
                        # memory + swap held to the same total (the limit alone counts only
                        # RAM: with swap the pages move out instead of the process being
                        # killed); and the OOM killer on, which v1 children inherit from
                        # their parent
                        swap_held = _write_if_present(
                            where / "memory.memsw.limit_in_bytes", str(value)
                        )
                        (where / "memory.oom_control").write_text("0")
            if not swap_held and _has_swap():
                self.note = (
                    "a cgroup limits its memory as a whole, but not its swap (this kernel has "
                    "no swap accounting): past the limit it is swapped out, not killed"
                )
        except (OSError, KeyError, IndexError) as error:
            self.remove()
            self.dirs, self.note = [], f"no per-submission cgroup limits here ({error})"

    def enter(self) -> None:
        """In the child, before exec: move this process (and so its descendants) in."""
        for where in self.dirs:
            (where / "cgroup.procs").write_text(str(os.getpid()))

    def kill_all(self) -> None:
        for where in self.dirs:
            try:
                pids = [int(p) for p in (where / "cgroup.procs").read_text().split()]
            except OSError:
                continue
            _kill(pids)

    def remove(self) -> None:
        for where in reversed(self.dirs):
            for _ in range(50):
                try:
                    where.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still has processes that are dying
                    self.kill_all()
                    time.sleep(0.1)


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the grader dies, even by SIGKILL (unshare's
    --kill-child then takes the sandbox's namespace with it)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass
class Sandbox:
    """One sandboxed process; :meth:`request` talks to it, :meth:`close` ends it for good."""

    hide: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    process: subprocess.Popen | None = None
    mode: str = ""
    uid: int | None = None
    _tmp: tempfile.TemporaryDirectory | None = None
    _into: int = -1
    _out: int = -1
    _answered: set = field(default_factory=set)  # nonces of the requests already answered
    _cgroups: _Cgroups | None = None

    def start(self, timeout: float = 120) -> None:
        if os.name != "posix":
            raise SandboxError("grading needs Linux or macOS; on Windows, run it in WSL 2")
        mode, _ = isolation()
        self.mode = mode
        self._tmp = tempfile.TemporaryDirectory(prefix="course-sandbox-")
        base = Path(self._tmp.name)
        root, work = base / "root", base / "work"
        root.mkdir()
        work.mkdir()
        config = {
            "hide": [str(Path(h).resolve()) for h in self.hide],
            "limits": asdict(self.limits),
            "namespaces": mode == "namespaces",
            "root": str(root),
            "work": "/tmp/work" if mode == "namespaces" else str(work),
        }
        command = [sys.executable, "-I", "-m", "course_utils.grading.worker", json.dumps(config)]
        if mode == "namespaces":
            self._cgroups = _Cgroups(self.limits, base.name)
            if os.geteuid() == 0:
                self.uid = 200000 + secrets.randbelow(800000)
                config["uid"] = self.uid
            else:
                config["userns"] = True
            command[-1] = json.dumps(config)
            extra = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
            command = [shutil.which("unshare"), *extra, *_UNSHARE, *command]
        else:
            os.chmod(work, 0o700)
        into_r, into_w = os.pipe()
        out_r, out_w = os.pipe()
        env = _clean_environment("/tmp/work" if mode == "namespaces" else str(work))
        startup = open(base / "startup.log", "wb")  # noqa: SIM115 (closed below)
        self.process = subprocess.Popen(
            command,
            stdin=into_r,
            stdout=out_w,
            stderr=startup,
            env=env,
            cwd=str(work),
            start_new_session=True,
            # the worker sets its resource limits itself, in either mode, before student code
            preexec_fn=self._in_child if mode == "namespaces" else None,
        )
        os.close(into_r)
        os.close(out_w)
        startup.close()
        self._into, self._out = into_w, out_r
        try:
            hello = read_message(self._out, timeout)
        except (EOFError, TimeoutError, WireError, OSError) as error:
            said = (base / "startup.log").read_text(errors="replace").strip().splitlines()
            self.close()
            last = f" ({said[-1][:300]})" if said else ""
            raise SandboxError(f"the sandbox did not start: {error}{last}") from error
        if hello != {"ready": True, "id": None}:
            self.close()
            raise SandboxError("the sandbox did not start: it said something unexpected")

    @property
    def cgroup_note(self) -> str:
        """How the whole submission is limited, for the report."""
        if self._cgroups is None:
            return "per-process limits only"
        return self._cgroups.note

    def _in_child(self) -> None:
        """In the child, before exec (namespaces mode)."""
        if self._cgroups is not None:
            self._cgroups.enter()
        _die_with_parent()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def request(self, message: dict, timeout: float) -> dict:
        """Send one request and wait for its answer; SandboxError if none comes."""
        if not self.alive:
            raise SandboxError(self._death())
        nonce = secrets.token_hex(8)  # a reply must name its request: forged ones cannot
        deadline = time.monotonic() + timeout
        try:
            write_message(self._into, {**message, "id": nonce})
            reply = read_message(self._out, timeout)
            for _ in range(10_000):  # late replies to earlier requests (from forked copies)
                if not isinstance(reply, dict) or reply.get("id") not in self._answered:
                    break
                reply = read_message(self._out, max(0.0, deadline - time.monotonic()))
        except TimeoutError as error:
            self.close()
            raise SandboxError(f"timed out after {timeout:.0f} s") from error
        except (EOFError, BrokenPipeError, OSError) as error:
            time.sleep(0.2)
            raise SandboxError(self._death()) from error
        except WireError as error:
            self.close()
            raise SandboxError(f"the answer's process broke the protocol: {error}") from error
        if reply.pop("id", None) != nonce or len(reply) != 1 or not {"ok", "error"} & set(reply):
            self.close()
            raise SandboxError("the answer's process broke the protocol: an unexpected reply")
        self._answered.add(nonce)
        return reply

    def _death(self) -> str:
        if self.process is None:
            return "the sandbox was not started"
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()
            return "the answer's process stopped answering"
        self.close()
        if code is not None and code > 128 and self.mode == "namespaces":
            code = 128 - code  # the sandbox's PID 1 reports a signal as 128 + its number
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = {
                "SIGKILL": " (out of memory, or killed)",
                "SIGXCPU": " (over its CPU time limit)",
                "SIGXFSZ": " (wrote a file over its size limit)",
                "SIGSEGV": " (a crash)",
            }.get(name, "")
            return f"the answer's process died: {name}{hint}"
        if code is not None and code != 0:
            return f"the answer's process exited with status {code}"
        return "the answer's process ended"

    def close(self) -> list[str]:
        """End the sandbox and everything it started; returns what had to be cleaned up."""
        notes: list[str] = []
        for fd in (self._into, self._out):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._into = self._out = -1
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                notes.append("the sandbox did not end within 30 s of being killed")
        if self._cgroups is not None:
            self._cgroups.kill_all()
            self._cgroups.remove()
            self._cgroups = None
        if self.uid is not None:
            for _ in range(50):
                left = _processes_of(self.uid)
                if not left:
                    break
                _kill(left)
                time.sleep(0.1)
            else:
                notes.append(f"processes of uid {self.uid} were still running: {left[:5]}")
        if self._tmp is not None:
            try:
                self._tmp.cleanup()
            except OSError:
                pass
            self._tmp = None
        return notes

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
