"""A corpus of attacks on the grader, each shown to earn nothing and to harm nothing.

Every attack is what a determined student could hand in for notebook 01: an exercise cell that
patches, prints, forges, delegates, hard-codes, snoops, writes, kills, forks, hogs or phones
home. Several attacks share a submission (one per exercise slot), so each submission also shows
that an attack in one cell does not leak into the grading of the others. The whole folder is
graded once, two submissions at a time (``--jobs 2``), from the command line, with a CSV and a
JSON gradebook, while a listener waits on 127.0.0.1 and a secret sits in the grader's
environment. Then, per attack: no credit, and the failure message says how it was caught;
and for the whole run: course files, submissions and gradebooks unchanged, no process left, no
connection made, the secret in no report.

Linux only (namespaces); elsewhere the grader's fallback is not a sandbox and this is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import find_exercises, read_notebook
from course_utils.grading.sandbox import isolation

ROOT = Path(__file__).resolve().parent.parent
NAME = "01_1x1_convolutions.ipynb"
REFERENCE = read_notebook(ROOT / "notebooks" / NAME)
RELEASED = read_notebook(ROOT / "exercises" / NAME)
SLOTS = find_exercises(REFERENCE)  # conv1x1, conv2d_cost, inception_3a_macs, Inception
SECRET = "grader-secret-7f3a9c"
MARKER = "918273"  # a leftover `sleep 918273` would be a process the sandbox let escape

pytestmark = pytest.mark.skipif(
    isolation()[0] != "namespaces",
    reason=f"the sandbox needs Linux namespaces: {isolation()[1]}",
)


def src(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


WRONG = {  # a wrong answer per slot, for the attacks that only try to fool the check
    1: "def conv1x1(x, weight, bias=None):\n"
    "    return torch.zeros(x.shape[0], weight.shape[0], *x.shape[2:])\n",
    2: "def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):\n    return 1, 1\n",
    3: "def inception_3a_macs():\n    return 1.0, 1.0\n",
    4: "class Inception(nn.Module):\n    def __init__(self, *args):\n        super().__init__()\n\n"
    "    def forward(self, x):\n        return x\n",
}

# label: (slot, exercise cell source, what the failure message must contain)
ATTACKS: dict[str, tuple[int, str, str]] = {
    # -- fooling the check in the student's own process: it is not where the verdict is made
    "rebind the check": (
        1,
        src("""
            c = checks  # a name the source scan does not read as the checks
            c.check_conv1x1 = lambda fn: print("conv1x1: correct on 5 cases")
            """)
        + WRONG[1],
        "conv1x1: wrong on case",
    ),
    "patch run_cases, report and compare_tensors": (
        2,
        src("""
            c = checks
            core = c.core
            core.run_cases = lambda name, *a, **k: f"{name}: correct on 5 cases"
            core.report = lambda line: print("conv2d_cost: correct on 5 cases")
            core.compare_tensors = lambda *a, **k: None
            """)
        + WRONG[2],
        "conv2d_cost: wrong on case",
    ),
    "patch torch.allclose and torch.equal": (
        3,
        src("""
            torch.allclose = lambda *a, **k: True
            torch.equal = lambda *a, **k: True
            torch.Tensor.__eq__ = lambda *a, **k: True
            """)
        + WRONG[3],
        "inception_3a_macs: wrong",
    ),
    "patch print and sys.stdout": (
        4,
        src("""
            import io
            import sys
            sys.stdout = io.StringIO()
            print = lambda *a, **k: None  # noqa: A001
            """)
        + WRONG[4],
        "the reference has 163,696 parameters, yours 0",
    ),
    "print the passing line and write it to the verdict log": (
        1,
        src("""
            import os
            print("conv1x1: correct on 5 cases")
            for log in (os.environ.get("COURSE_CHECKS_LOG"), "checks.log", "/tmp/checks.log"):
                if log:
                    with open(log, "a") as f:
                        f.write("conv1x1: correct on 5 cases\\n")
            """)
        + WRONG[1],
        "conv1x1: wrong on case",
    ),
    "hide the error from IPython": (
        2,
        src("""
            get_ipython().showtraceback = lambda *a, **k: None
            def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
                raise ValueError("hidden?")
            """),
        "conv2d_cost: raised ValueError on case",
    ),
    "read the expected value from the checker's frames": (
        3,
        src("""
            import sys as s
            from operator import attrgetter as get
            def inception_3a_macs():
                frame = get("_get" + "frame")(s)(0)
                while frame is not None:
                    names = get("f_" + "locals")(frame)
                    for key in ("expected", "truth", "reference"):
                        if key in names:
                            return names[key]
                    frame = get("f_" + "back")(frame)
                return 1.0, 1.0
            """),
        "inception_3a_macs: wrong",  # in the sandbox no frame holds the answer
    ),
    "a tensor subclass whose comparisons always succeed": (
        1,
        src("""
            class Liar(torch.Tensor):
                def __eq__(self, other):
                    return True
                @classmethod
                def __torch_function__(cls, func, types, args=(), kwargs=None):
                    if func in (torch.allclose, torch.equal):
                        return True
                    return super().__torch_function__(func, types, args, kwargs or {})
            def conv1x1(x, weight, bias=None):
                return torch.zeros(x.shape[0], weight.shape[0], *x.shape[2:]).as_subclass(Liar)
            """),
        "values differ from the library's",
    ),
    "read the reference notebook from the course's folder": (
        2,
        src("""
            import json, pathlib, runpy, course_utils
            def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
                raise NotImplementedError
            root = pathlib.Path(course_utils.__file__).resolve().parents[1]
            for folder in ("notebooks", "exercises", "."):
                for path in (root / folder).glob("*.ipynb") if (root / folder).is_dir() else []:
                    for cell in json.loads(path.read_text())["cells"]:
                        code = "".join(cell["source"])
                        if "def conv2d_cost" in code and "BEGIN SOLUTION" in code:
                            pathlib.Path("answer.py").write_text(code)
                            conv2d_cost = runpy.run_path("answer.py")["conv2d_cost"]
            """),
        "conv2d_cost: not implemented yet",
    ),
    "copy a classmate's submission": (
        3,
        src("""
            import json, pathlib, runpy
            def inception_3a_macs():
                raise NotImplementedError
            for path in pathlib.Path("@@SUBMISSIONS@@").glob("*.ipynb"):
                for cell in json.loads(path.read_text())["cells"]:
                    if "def inception_3a_macs" in "".join(cell["source"]):
                        pathlib.Path("copy.py").write_text("".join(cell["source"]))
                        inception_3a_macs = runpy.run_path("copy.py")["inception_3a_macs"]
            """),
        "inception_3a_macs: not implemented yet",
    ),
    "edit the checks, the reference notebook and site-packages": (
        4,
        src("""
            import pathlib, course_utils
            root = pathlib.Path(course_utils.__file__).resolve().parents[1]
            targets = [root / "course_utils" / ("che" + "cks") / "core.py",
                       root / "notebooks" / "@@NAME@@",
                       pathlib.Path(torch.__file__)]
            for target in targets:
                try:
                    with open(target, "a") as f:
                        f.write("\\n# pwned\\n")
                except OSError:
                    pass
            """)
        + WRONG[4],
        "the reference has 163,696 parameters, yours 0",
    ),
    # -- delegating: the guard in the sandbox sees the call, whatever its name
    "answer with the course's twin": (
        1,
        src("""
            from course_utils.ops import conv1x1 as twin
            def conv1x1(x, weight, bias=None):
                return twin(x, weight, bias)
            """),
        "BlockedCall",
    ),
    "count with the course's own cost function": (
        2,
        src("""
            from course_utils import cost
            def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
                return cost.conv2d_cost(c_in, c_out, k, out_h, out_w, bias)
            """),
        "(it called course_utils.cost)",
    ),
    "measure with a FLOP counter": (
        3,
        src("""
            from torch.utils.flop_counter import FlopCounterMode
            def inception_3a_macs():
                block = models.Inception(192, 64, 96, 128, 16, 32, 32, reduce=False)
                with FlopCounterMode(display=False) as counter:
                    block(torch.zeros(1, 192, 28, 28))
                naive = counter.get_total_flops() / 2e6
                return naive, naive / 2
            """),
        "BlockedCall",
    ),
    "subclass the course's Inception": (
        4,
        src("""
            class Inception(models.Inception):
                pass
            """),
        "(it called course_utils.models.classification.Inception)",
    ),
    "answer with F.conv2d under another name": (
        1,
        src("""
            from operator import attrgetter
            def conv1x1(x, weight, bias=None):
                return attrgetter("conv" + "2d")(torch)(x, weight, bias)
            """),
        "aten::convolution)",
    ),
    "hard-code the visible cases": (
        1,
        src("""
            _table = {}
            _g = torch.Generator().manual_seed(101)
            for _n, _ci, _co, _h, _w, _b in [(1, 3, 2, 4, 4, True), (2, 5, 7, 3, 6, True),
                                               (2, 4, 3, 5, 5, False), (3, 16, 4, 1, 1, True),
                                               (2, 6, 6, 5, 5, True)]:
                _x = torch.randn(_n, _ci, _h, _w, generator=_g)
                _wt = torch.randn(_co, _ci, 1, 1, generator=_g)
                _bias = torch.randn(_co, generator=_g) if _b else None
                _y = torch.einsum("oc,nchw->nohw", _wt[:, :, 0, 0], _x)  # the visible answers,
                _y = _y if _bias is None else _y + _bias[None, :, None, None]  # as if pasted in
                _table[round(float(_x.sum()), 4)] = _y
            def conv1x1(x, weight, bias=None):
                key = round(float(x.sum()), 4)
                return _table.get(key, torch.zeros(x.shape[0], weight.shape[0], *x.shape[2:]))
            """),
        "wrong on a hidden case",
    ),
    # -- harming the instructor, the class, or the machine
    "overwrite classmates' submissions and the gradebooks": (
        2,
        src("""
            import pathlib
            for target in list(pathlib.Path("@@SUBMISSIONS@@").glob("*.ipynb")) + [
                pathlib.Path("@@GRADES@@.csv"), pathlib.Path("@@GRADES@@.json")]:
                try:
                    target.write_text("{}")
                except OSError:
                    pass
            """)
        + WRONG[2],
        "conv2d_cost: wrong on case",
    ),
    "open a network connection": (
        3,
        src("""
            from http import client
            def inception_3a_macs():
                page = client.HTTPConnection("127.0.0.1", @@PORT@@, timeout=3)
                page.request("GET", "/the-answers")
                return 1.0, 1.0
            """),
        "inception_3a_macs: raised",
    ),
    "read the grader's environment": (
        4,
        src("""
            import os
            seen = dict(os.environ)
            try:
                seen["pid 1"] = open("/proc/1/environ").read()
            except OSError:
                pass
            class Inception(nn.Module):
                def __init__(self, *args):
                    raise ValueError(repr(seen))
            """),
        "Inception: raised ValueError",
    ),
    "hold 8 GB of memory": (
        2,
        src("""
            def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
                hog = torch.ones(2**31, dtype=torch.float32)
                return c_out * (c_in * k * k + bias), c_out * c_in * k * k * out_h * out_w
            """),
        "conv2d_cost: raised",
    ),
    "write 1 GB to disk": (
        3,
        src("""
            def inception_3a_macs():
                block = b"x" * 2**20
                with open("big.bin", "wb") as f:
                    for _ in range(1024):
                        f.write(block)
                return 1.0, 1.0
            """),
        "inception_3a_macs: raised",
    ),
    "kill the grader, its parent and every process it can": (
        4,
        src("""
            import os
            from operator import attrgetter
            for pid in (@@GRADER_PID@@, os.getppid(), -1):
                try:
                    attrgetter("ki" + "ll")(os)(pid, 9)
                except OSError:
                    pass
            """)
        + WRONG[4],
        "the reference has 163,696 parameters, yours 0",
    ),
    "a fork bomb": (
        1,
        src("""
            import os
            from operator import attrgetter
            def conv1x1(x, weight, bias=None):
                while True:
                    attrgetter("fo" + "rk")(os)()
            """),
        "conv1x1: raised",
    ),
    "leave processes running, in a new session": (
        2,
        src("""
            import os
            from operator import attrgetter
            fork, setsid = attrgetter("fo" + "rk")(os), attrgetter("set" + "sid")(os)
            if fork() == 0:
                setsid()
                if fork() == 0:
                    attrgetter("ex" + "ecvp")(os)("sleep", ["sleep", "@@MARKER@@"])
                os._exit(0)
            """)
        + WRONG[2],
        "a new process (the guard does not follow it)",  # and the sandbox still ends them
    ),
    "switch off the guard, then delegate": (
        3,
        src("""
            import sys
            def inception_3a_macs():
                sys.setprofile(None)
                from course_utils.cost import torch_flops
                block = models.Inception(192, 64, 96, 128, 16, 32, 32, reduce=False)
                naive = torch_flops(block, torch.zeros(1, 192, 28, 28)) / 2e6
                return naive, naive / 2
            """),
        ".setprofile",
    ),
    "switch off the guard by another name, then delegate": (
        4,
        src("""
            import sys
            from operator import attrgetter
            class Inception(models.Inception):
                def __init__(self, *args):
                    attrgetter("setpro" + "file")(sys)(None)
                    super().__init__(*args)
            """),
        "BlockedCall",
    ),
    "forge the grader's replies on every open descriptor": (
        1,
        src("""
            import json, os, struct
            fake = json.dumps({"ok": None}).encode()
            for fd in range(3, 64):
                try:
                    os.write(fd, struct.pack(">Q", len(fake)) + fake)
                except OSError:
                    pass
            """)
        + WRONG[1],
        "broke the protocol",
    ),
}

ATTACKS.update(  # found by a red-team review of the grader itself
    {
        "a convolution kernel below the usual op": (
            1,
            src("""
                def conv1x1(x, weight, bias=None):
                    return torch.ops.aten._slow_conv2d_forward(
                        x, weight, [1, 1], bias, [1, 1], [0, 0]
                    )
                """),
            "aten::_slow_conv2d_forward",
        ),
        "delegate while the grader reads the result": (
            2,
            src("""
                import numpy as np
                from course_utils import cost
                def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
                    class Later(np.float64):
                        def item(self):
                            return cost.conv2d_cost(c_in, c_out, k, out_h, out_w, bias)
                    return Later(0.0)
                """),
            "expected a pair",  # read as a plain float: its item() never runs
        ),
        "switch the guard off and on again by computed names": (
            3,
            src("""
                import sys
                from course_utils import cost
                def inception_3a_macs():
                    get, put = getattr(sys, "getpro" + "file"), getattr(sys, "setpro" + "file")
                    watch = get()
                    put(None)
                    try:
                        return cost.conv2d_cost(192, 64, 1, 28, 28)[1] / 1e6, 1.0
                    finally:
                        put(watch)
                """),
            "computed name",
        ),
        "replace the sandbox's guard": (
            4,
            src("""
                import sys
                from operator import attrgetter
                found = attrgetter("mod" + "ules")(sys)
                found["course_utils.grading.serve"].guarded = found["contextlib"].nullcontext
                found["course_utils.checks.guard"].guarded = found["contextlib"].nullcontext
                class Inception(models.Inception):
                    pass
                """),
            "(it called course_utils.models.classification.Inception)",
        ),
    }
)

ATTACKS.update(  # found by a second red-team review
    {
        "delegate in another thread": (
            1,
            src("""
                import asyncio
                def conv1x1(x, weight, bias=None):
                    conv = torch.nn.functional.conv2d
                    return asyncio.run(asyncio.to_thread(conv, x, weight, bias))
                """),
            "import asyncio (threads)",
        ),
        "empty the guard's tables through the package": (
            2,
            src("""
                import functools, course_utils
                functools.reduce(getattr, ("che" + "cks", "gu" + "ard"), course_utils)._resolve = (
                    lambda exercise: None
                )
                from course_utils import cost as _cost
                def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
                    return _cost.conv2d_cost(c_in, c_out, k, out_h, out_w, bias)
                """),
            "._resolve (the course's checks or grader)",
        ),
        "measure when the cell runs, answer with constants": (
            3,
            src("""
                from course_utils.cost import torch_flops
                _x, _a = torch.zeros(1, 192, 28, 28), (192, 64, 96, 128, 16, 32, 32)
                _naive = torch_flops(models.Inception(*_a, reduce=False), _x)
                _reduced = torch_flops(models.Inception(*_a, reduce=True), _x)
                def inception_3a_macs():
                    return _naive / 2e6, _reduced / 2e6
                """),
            "the exercise cell failed: BlockedCall",
        ),
        "switch the guard off and back on around the call": (
            4,
            src("""
                import sys
                from operator import attrgetter
                _sp = attrgetter("setpro" + "file")(sys)
                _gp = attrgetter("getpro" + "file")(sys)
                class Inception(models.Inception):
                    def __init__(self, *args):
                        w = _gp()
                        _sp(None)
                        try:
                            super().__init__(*args)
                        finally:
                            _sp(w)
                """),
            "sys.setprofile (it would switch off this guard)",
        ),
    }
)

# label: {slot: attack label}; slots not named keep the reference answer
SUBMISSIONS = {
    "patches": {
        1: "rebind the check",
        2: "patch run_cases, report and compare_tensors",
        3: "patch torch.allclose and torch.equal",
        4: "patch print and sys.stdout",
    },
    "forgeries": {
        1: "print the passing line and write it to the verdict log",
        2: "hide the error from IPython",
        3: "read the expected value from the checker's frames",
        4: "edit the checks, the reference notebook and site-packages",
    },
    "snooping": {
        1: "a tensor subclass whose comparisons always succeed",
        2: "read the reference notebook from the course's folder",
        3: "copy a classmate's submission",
        4: "read the grader's environment",
    },
    "delegation": {
        1: "answer with the course's twin",
        2: "count with the course's own cost function",
        3: "measure with a FLOP counter",
        4: "subclass the course's Inception",
    },
    "aliases": {
        1: "answer with F.conv2d under another name",
        2: "overwrite classmates' submissions and the gradebooks",
        3: "open a network connection",
        4: "kill the grader, its parent and every process it can",
    },
    "resources": {
        1: "hard-code the visible cases",
        2: "hold 8 GB of memory",
        3: "write 1 GB to disk",
    },
    "processes": {
        1: "a fork bomb",
        2: "leave processes running, in a new session",
        3: "switch off the guard, then delegate",
        4: "switch off the guard by another name, then delegate",
    },
    "protocol": {1: "forge the grader's replies on every open descriptor"},
    "redteam2": {
        1: "delegate in another thread",
        2: "empty the guard's tables through the package",
        3: "measure when the cell runs, answer with constants",
        4: "switch the guard off and back on around the call",
    },
    "redteam": {
        1: "a convolution kernel below the usual op",
        2: "delegate while the grader reads the result",
        3: "switch the guard off and on again by computed names",
        4: "replace the sandbox's guard",
    },
}

HONEST_WITH_PRINTS = src("""
    import time
    import warnings
    def conv1x1(x, weight, bias=None):
        print("debug: x", tuple(x.shape), "weight", tuple(weight.shape))
        warnings.warn("just checking")
        time.sleep(0.05)  # a little slower than the reference
        out = torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x)
        return out if bias is None else out + bias[None, :, None, None]
    """)


HONEST_NUMPY_COST = src("""
    import numpy as np
    def conv2d_cost(c_in, c_out, k, out_h, out_w, bias=True):
        per_output = np.prod([c_in, k, k])  # numpy integers: the notebook's check accepts them
        return c_out * (per_output + bias), c_out * per_output * np.int64(out_h * out_w)
    """)


def digest(paths) -> dict[str, str]:
    out = {}
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftover_processes() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if MARKER in cmdline and "pytest" not in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    out = tmp_path_factory.mktemp("gradebooks")
    grades = out / "grades"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections: list[bytes] = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            connections.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()

    def fill(text: str) -> str:
        for key, value in {
            "@@SUBMISSIONS@@": str(folder),
            "@@GRADES@@": str(grades),
            "@@PORT@@": str(port),
            "@@GRADER_PID@@": str(os.getpid()),
            "@@MARKER@@": MARKER,
            "@@NAME@@": NAME,
        }.items():
            text = text.replace(key, value)
        return text

    def solved():
        nb = read_notebook(ROOT / "exercises" / NAME)
        for ex in SLOTS:
            nb.cells[ex.cell].source = REFERENCE.cells[ex.cell].source
        return nb

    for label, slots in SUBMISSIONS.items():
        nb = solved()
        for slot, attack in slots.items():
            nb.cells[SLOTS[slot - 1].cell].source = fill(ATTACKS[attack][1])
        (folder / f"attack-{label}-{NAME}").write_text(nbformat.writes(nb), encoding="utf-8")
    (folder / f"control-reference-{NAME}").write_text(nbformat.writes(solved()), encoding="utf-8")
    (folder / f"control-released-{NAME}").write_text(nbformat.writes(RELEASED), encoding="utf-8")
    honest = solved()
    honest.cells[SLOTS[0].cell].source = HONEST_WITH_PRINTS
    honest.cells[SLOTS[1].cell].source = HONEST_NUMPY_COST
    honest.cells[SLOTS[3].cell].source = REFERENCE.cells[SLOTS[3].cell].source.replace(
        "super().__init__()", "super(self.__class__, self).__init__()"
    )
    assert "super(self.__class__, self)" in honest.cells[SLOTS[3].cell].source
    (folder / f"control-prints-{NAME}").write_text(nbformat.writes(honest), encoding="utf-8")
    # a name a spreadsheet would run as a formula, with a terminal escape in it
    evil = folder / f"=cmd|' \x1b[31mred-{NAME}"
    evil.write_text(nbformat.writes(RELEASED), encoding="utf-8")

    protected = [ROOT / "course_utils", ROOT / "notebooks", ROOT / "exercises", folder]
    protected.append(Path(__import__("torch").__file__))
    before = digest(protected)
    env = dict(os.environ, COURSE_TEST_SECRET=SECRET)
    command = [
        sys.executable,
        "-m",
        "course_utils.grading",
        "grade",
        str(folder),
        "--reference",
        str(ROOT / "notebooks" / NAME),
        "--jobs",
        "2",
        "--cell-timeout",
        "20",
        "--csv",
        f"{grades}.csv",
        "--json",
        f"{grades}.json",
        "--hidden-seed",
        "20261202",
        "--stats",
        str(out / "stats"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    stop.set()
    thread.join()
    listener.close()
    after = digest(protected)
    assert Path(f"{grades}.json").is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    reports = json.loads(Path(f"{grades}.json").read_text())
    by_label = {r["submission"].split(f"-{NAME}")[0]: r for r in reports}
    return {
        "done": done,
        "reports": by_label,
        "changed": sorted(k for k in before if before[k] != after.get(k)),
        "connections": connections,
        "leftovers": leftover_processes(),
        "csv": Path(f"{grades}.csv").read_text(),
        "out": out,
    }


def results(corpus, label):
    return {e["number"]: e for e in corpus["reports"][f"attack-{label}"]["exercises"]}


@pytest.mark.parametrize(
    "label, slot, attack",
    [(lab, slot, att) for lab, slots in SUBMISSIONS.items() for slot, att in slots.items()],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_every_attack_earns_nothing_and_says_how_it_was_caught(corpus, label, slot, attack):
    result = results(corpus, label)[slot]
    assert not result["passed"], result
    assert ATTACKS[attack][2] in result["message"], result["message"]


def test_an_attack_does_not_leak_into_the_other_exercises(corpus):
    for label, slots in SUBMISSIONS.items():
        for number, result in results(corpus, label).items():
            assert result["passed"] == (number not in slots), (label, result)


def test_the_controls(corpus):
    reports = corpus["reports"]
    assert [e["passed"] for e in reports["control-reference"]["exercises"]] == [True] * 4
    assert [e["passed"] for e in reports["control-released"]["exercises"]] == [False] * 4
    # prints, warns, sleeps; numpy integers; super(self.__class__, self)
    prints = reports["control-prints"]["exercises"]
    assert [e["passed"] for e in prints] == [True] * 4, prints
    assert "correct on 5 cases and 5 hidden cases" in prints[0]["message"]


def test_no_harm(corpus):
    assert corpus["done"].returncode == 1, corpus["done"].stderr[-2000:]  # graded, not all passed
    assert corpus["changed"] == [], "files the sandbox must not change were changed"
    assert corpus["connections"] == [], "a submission reached the network"
    assert corpus["leftovers"] == [], "processes outlived their grading"
    everything = json.dumps(corpus["reports"]) + corpus["done"].stdout + corpus["csv"]
    assert SECRET not in everything, "the grader's environment reached a submission"


def test_reports_are_safe_to_read(corpus):
    printed = corpus["done"].stdout
    assert "\x1b" not in printed and "\\x1b[31mred" in printed
    rows = corpus["csv"].splitlines()
    assert rows[0] == "submission,notebook,status,score,total,failed,reason"
    evil = next(r for r in rows if "red-" in r)
    assert evil.startswith("'=cmd|") or evil.startswith("\"'=cmd|"), evil
    assert len(rows) == 1 + len(SUBMISSIONS) + 4


def test_instructor_statistics(corpus):
    stats = (corpus["out"] / "stats.csv").read_text().splitlines()
    assert stats[0] == "notebook,exercise,name,submissions,passed,pass_rate,failures"
    assert len(stats) == 1 + len(SLOTS)
    assert (corpus["out"] / "stats.png").stat().st_size > 10_000
    assert "most frequent failures" in corpus["done"].stdout
