"""The sandboxed side of grading: ``python -m course_utils.grading.worker CONFIG``.

It runs the student's exercise cells and, on the grader's requests, calls what they defined on
the inputs the grader sends, returning plain data (see :mod:`course_utils.grading.wire`). It
decides no verdict: the grader compares what comes back with the reference in its own process.

Started by :mod:`course_utils.grading.sandbox` as the first process of new namespaces (Linux),
it first makes its own world: a new root holding only the system, Python, its packages and
``course_utils`` (read-only), a small writable ``/tmp``, no network; then it gives up root (or
its user namespace's root), sets its resource limits, points its output at a file and serves.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import traceback
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no resource limits (the grader refuses to run there)
    resource = None

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # the syscall's number
_FLAG_NAMES = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": 1024,
    "nodiratime": 2048,
    "relatime": 1 << 21,
}

_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = ""):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _mount_flags() -> dict[str, int]:
    """Each mount point's flags that a read-only remount must keep (they may be locked)."""
    flags = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        flags[point] = sum(_FLAG_NAMES.get(o, 0) for o in fields[5].split(","))
    return flags


def _flags_of(path: str, flags: dict[str, int]) -> int:
    """The flags of the mount that holds ``path`` (the longest mount point above it)."""
    best = max((p for p in flags if path == p or path.startswith(p.rstrip("/") + "/")), key=len)
    return flags[best]


def _bind(path: str, root: str, flags: dict[str, int], recursive: bool = False) -> None:
    """Make ``path`` visible, read-only, at the same place under ``root``."""
    if not os.path.exists(path):
        return
    target = root + path
    if os.path.islink(path) and not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()
    _mount(path, target, None, MS_BIND | (MS_REC if recursive else 0))
    keep = _flags_of(path, flags) | MS_NOSUID | MS_NODEV
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)  # fails closed


def _needed_paths(config: dict) -> list[str]:
    """What the answer's process must see: the system, Python, its packages, course_utils."""
    import course_utils

    paths = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc"]
    paths += [sys.prefix, sys.base_prefix, sys.exec_prefix]
    hidden = [Path(p).resolve() for p in config.get("hide", [])]
    package = Path(course_utils.__file__).resolve().parent
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        if not p.is_dir():
            continue
        if package.parent == p or any(h == p or p in h.parents for h in hidden):
            continue  # a folder that holds course files or submissions: only the package
        paths.append(str(p))
    paths.append(str(package))
    out = []
    for p in dict.fromkeys(os.path.realpath(x) for x in paths):
        if not any(p.startswith(q.rstrip("/") + "/") for q in paths if q != p and q != "/"):
            out.append(p)
    links = [p for p in ("/bin", "/sbin", "/lib", "/lib32", "/lib64") if os.path.islink(p)]
    return links + out


def _make_world(config: dict) -> None:
    """Pivot into a new root that holds only what the answer needs (Linux namespaces)."""
    root = config["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=755")
    # the writable /tmp first: what is bound below it (a course or venv under /tmp) goes on top
    os.makedirs(root + "/tmp")
    size = config["limits"]["disk_bytes"]
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    flags = _mount_flags()
    needed = _needed_paths(config)
    for path in needed:
        _bind(path, root, flags)
    for hidden in config.get("hide", []):
        # only a hidden folder inside a bound one needs covering: a folder that holds bound
        # ones (the course's root, holding course_utils) shows nothing else of itself anyway
        inside = [p for p in needed if hidden != p and hidden.startswith(p.rstrip("/") + "/")]
        target = root + hidden
        if inside and os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0")
    os.makedirs(root + "/dev", exist_ok=True)
    _mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID, "size=64k,mode=755")
    for node in ("null", "zero", "full", "random", "urandom"):  # the only devices it gets
        Path(root + "/dev/" + node).touch()
        _mount("/dev/" + node, root + "/dev/" + node, None, MS_BIND)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, root + "/dev/" + name)
    os.makedirs(root + "/dev/shm")  # a tmpfs of its own, below
    _mount(None, root + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID, "size=64k,mode=755")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    size = config["limits"]["disk_bytes"]
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    os.makedirs(root + "/.old", exist_ok=True)
    number = _PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        os.chroot(root)  # enough once root is given up (uid mode); see _drop_privileges
        os.chdir("/")
        return
    _check(_libc.syscall(number, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount the old root")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16m,mode=755")


def _drop_privileges(config: dict) -> None:
    uid = config.get("uid")
    if os.geteuid() == 0 and uid is not None and not config.get("userns"):
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    elif config.get("userns"):
        # root of our user namespace: enter a nested one where we are nobody, with no
        # capabilities (so the mounts above cannot be undone)
        outer, outer_gid = os.getuid(), os.getgid()
        _check(_libc.unshare(CLONE_NEWUSER), "unshare a nested user namespace")
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/gid_map").write_text(f"1000 {outer_gid} 1")  # before uid_map
        Path("/proc/self/uid_map").write_text(f"1000 {outer} 1")
        os.setgid(1000)
        os.setuid(1000)
        _drop_capabilities()  # the uid did not change from 0 inside, so the kernel kept them


def _drop_capabilities() -> None:
    """Empty this process's capability sets (effective, permitted, inheritable, bounding)."""
    for cap in range(64):
        _libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (fails quietly past the last one)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(f, ctypes.c_uint32) for f in ("effective", "permitted", "inheritable")]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _set_limits(limits: dict) -> None:
    for name, value in (
        ("RLIMIT_AS", limits["memory_bytes"]),
        ("RLIMIT_CPU", limits["cpu_seconds"]),
        ("RLIMIT_FSIZE", limits["file_bytes"]),
        ("RLIMIT_NOFILE", 256),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NPROC", limits["processes"]),
    ):
        if resource is not None and hasattr(resource, name) and value is not None:
            try:
                resource.setrlimit(getattr(resource, name), (value, value))
            except (ValueError, OSError):
                pass


def _init(child: int) -> None:
    """PID 1 of the sandbox's namespace: reap every orphan until the worker ends, then end
    with its status (a signal as 128 + its number). When PID 1 ends, the kernel kills every
    process left in the namespace."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(3)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


def main() -> None:
    config = json.loads(sys.argv[1])
    into, out = os.dup(0), os.dup(1)  # the channel to the grader; the answer gets neither
    if config.get("namespaces"):
        _make_world(config)
        child = os.fork()  # the worker is not PID 1, so signals and limits act as usual
        if child:
            os.close(into)
            os.close(out)
            _init(child)
    _drop_privileges(config)
    if sys.platform.startswith("linux"):
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _set_limits(config["limits"])
    work = config.get("work", "/tmp/work")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    log = os.open("output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    from .serve import serve

    serve(into, out, config)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # the grader reads this from the channel's end and says it
        traceback.print_exc()
        sys.exit(3)
