"""Run the course the way a student meets it on Colab, on this machine.

A simulated Colab runtime: a virtual environment on Colab's Python with exactly the package
versions of Colab's runtime (``colab_versions.txt``, with where they come from), a stand-in
``google.colab`` module imported when the kernel starts (as Colab does), the environment variable
Colab sets, and an empty working folder. Nothing of the course is installed in it beforehand: each
notebook's own setup cell installs the course helpers with its real
``pip install git+COURSE_REPO``, which git's ``url.<base>.insteadOf`` redirects to a snapshot of
this working tree (so the tree under test is what gets installed, committed or not). Before each
notebook the runtime is reset to Colab's packages (whatever an earlier notebook installed is
uninstalled), as a fresh Colab runtime would be.

Each notebook then runs top to bottom in a kernel of that environment (nbclient, stopping at the
first error, as Colab's "Run all" does). Per notebook it reports the time, the first error if any,
whether the setup cell saw Colab, and whether Colab's own torch and torchvision were kept.

The environment is built once and cached (``~/.cache/course-colab-sim``, or
``$COURSE_COLAB_CACHE``); it needs Colab's Python (3.13: ``python3.13`` on the PATH, a pyenv
install, or ``$COURSE_COLAB_PYTHON``) and the package registry.

    .venv/bin/python tests/colab/simulate.py             all notebooks and exercise notebooks
    .venv/bin/python tests/colab/simulate.py notebooks/04_resnet.ipynb --out /tmp/colab
tests/test_colab.py runs the same thing inside the test suite, one test per notebook.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VERSIONS = HERE / "colab_versions.txt"
STANDIN = HERE / "standin"
COLAB_PYTHON = "3.13"
KERNEL_NAME = "colab-sim"
CHECKED = re.compile(r"^# NBVAL_CHECK_OUTPUT\s*$", re.MULTILINE)
#: The URL the notebooks' setup cells install from (a test checks that they all agree with it).
COURSE_REPO = "https://github.com/convnets-course/convnets-visual-recognition"


def notebooks() -> list[Path]:
    """Every course notebook, then every exercise notebook, in order."""
    return sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (ROOT / "exercises").glob("*.ipynb")
    )


def pinned_versions() -> dict[str, str]:
    """``{package: version}`` from colab_versions.txt."""
    pins = {}
    for line in VERSIONS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            if not version:
                raise ValueError(f"{VERSIONS}: expected 'package==version' lines, got {line!r}")
            pins[_normalise(name)] = version.strip()
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_python() -> str | None:
    """Colab's Python on this machine: $COURSE_COLAB_PYTHON, a pyenv install, or python3.13 on
    the PATH (the first that runs and is that version)."""
    if os.environ.get("COURSE_COLAB_PYTHON"):
        return os.environ["COURSE_COLAB_PYTHON"]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(
        glob.glob(f"{pyenv_root}/versions/{COLAB_PYTHON}*/bin/python{COLAB_PYTHON}"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", Path(path).parts[-3])],
        reverse=True,
    )
    on_path = shutil.which(f"python{COLAB_PYTHON}")  # may be a pyenv shim that refuses to run
    for candidate in [*candidates, *([on_path] if on_path else [])]:
        probe = subprocess.run(
            [candidate, "-c", "import sys, venv; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.startswith(COLAB_PYTHON + "."):
            return candidate
    return None


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


class Runtime:
    """The simulated runtime's virtual environment (built once, cached, reset per notebook)."""

    def __init__(self, python: str, cache: Path | None = None):
        self.python = python
        cache = Path(cache or os.environ.get("COURSE_COLAB_CACHE") or "~/.cache/course-colab-sim")
        key = hashlib.sha256(VERSIONS.read_bytes() + _standin_source()).hexdigest()[:12]
        self.cache = cache.expanduser()
        self.venv = self.cache / f"py{COLAB_PYTHON.replace('.', '')}-{key}"
        self.bin = self.venv / "bin"

    @property
    def ready(self) -> bool:
        return (self.venv / "colab-base.json").exists()

    def build(self, log=print) -> float:
        """Create the environment unless it is cached; returns the seconds spent."""
        if self.ready:
            return 0.0
        start = time.perf_counter()
        if self.venv.exists():
            shutil.rmtree(self.venv)  # a build that did not finish
        self.cache.mkdir(parents=True, exist_ok=True)
        log(f"building the simulated Colab runtime in {self.venv} (once; cached after)")
        version = _run([self.python, "-c", "import sys; print(sys.version.split()[0])"]).stdout
        if not version.startswith(COLAB_PYTHON + "."):
            raise RuntimeError(f"{self.python} is Python {version.strip()}, not {COLAB_PYTHON}")
        _run([self.python, "-m", "venv", str(self.venv)])
        _run([str(self.bin / "python"), "-m", "pip", "install", "-q", "-r", str(VERSIONS)])
        site = _run(
            [
                str(self.bin / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ]
        ).stdout.strip()
        shutil.copytree(STANDIN / "google", Path(site) / "google", dirs_exist_ok=True)
        (self.venv / "colab-base.json").write_text(json.dumps(self.packages(), indent=1))
        return time.perf_counter() - start

    def packages(self) -> dict[str, str]:
        """``{normalised name: version}`` of what is installed now."""
        listed = _run([str(self.bin / "python"), "-m", "pip", "list", "--format=json"]).stdout
        return {_normalise(p["name"]): p["version"] for p in json.loads(listed)}

    def reset(self) -> list[str]:
        """Uninstall what an earlier notebook installed (Colab's own packages stay as they are)."""
        base = json.loads((self.venv / "colab-base.json").read_text())
        now = self.packages()
        extra = sorted(name for name in now if name not in base)
        changed = sorted(name for name in base if name in now and now[name] != base[name])
        if changed:  # something replaced one of Colab's packages: rebuild from scratch
            shutil.rmtree(self.venv)
            self.build()
            return changed
        if extra:
            _run([str(self.bin / "python"), "-m", "pip", "uninstall", "-y", "-q", *extra])
        return extra


def _standin_source() -> bytes:
    return b"".join(path.read_bytes() for path in sorted(STANDIN.rglob("*.py")))


def snapshot_repository(dest: Path) -> Path:
    """A git repository holding this working tree as one commit (tracked and untracked files that
    git does not ignore): what ``pip install git+COURSE_REPO`` will install in the simulation."""
    listed = _run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"]).stdout
    dest.mkdir(parents=True)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "colab-sim",
        "GIT_AUTHOR_EMAIL": "colab-sim@localhost",
        "GIT_COMMITTER_NAME": "colab-sim",
        "GIT_COMMITTER_EMAIL": "colab-sim@localhost",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        _run(["git", "-C", str(dest), *args], env=env)
    return dest


@dataclass
class Result:
    notebook: str
    ok: bool
    seconds: float
    error: str = ""
    setup_line: str = ""
    saw_colab: bool = False
    kept: dict[str, str] = field(default_factory=dict)  # torch/torchvision after the run
    installed: list[str] = field(default_factory=list)  # what the setup cell added
    #: checked lines (# NBVAL_CHECK_OUTPUT) that differ from the committed ones: "cell N: ..."
    differences: list[str] = field(default_factory=list)


class Simulation:
    """The runtime and what a notebook's kernel needs (a kernel spec, git redirect, folders)."""

    def __init__(self, runtime: Runtime, workdir: Path):
        self.runtime = runtime
        self.workdir = workdir
        self.repo = snapshot_repository(workdir / "course-repo")
        kernels = workdir / "kernels" / KERNEL_NAME
        kernels.mkdir(parents=True)
        (kernels / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [
                        str(runtime.bin / "python"),
                        "-m",
                        "ipykernel_launcher",
                        "-f",
                        "{connection_file}",
                    ],
                    "display_name": "Python 3 (simulated Colab)",
                    "language": "python",
                }
            )
        )
        self.kernel_dirs = [str(workdir / "kernels")]
        startup = workdir / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-google-colab.py").write_text(
            "import google.colab  # as Colab's kernel does\n"
        )
        (workdir / "gitconfig").write_text(
            f'[url "file://{self.repo}"]\n\tinsteadOf = {COURSE_REPO}\n'
        )
        (workdir / "home").mkdir()

    def environment(self) -> dict[str, str]:
        env = {
            "PATH": f"{self.runtime.bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.workdir / "home"),
            "LANG": "C.UTF-8",
            "COLAB_RELEASE_TAG": "course-simulation",  # Colab sets it; env.in_colab reads it
            "IPYTHONDIR": str(self.workdir / "ipython"),
            "GIT_CONFIG_GLOBAL": str(self.workdir / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_CACHE_DIR": str(self.runtime.cache / "pip"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # ipykernel's debugger warns on Python 3.13
        }
        # the test suite's thread share, and an explicit FAST/full choice, pass through
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "COURSE_FAST", "PIP_INDEX_URL"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        return env

    def run(self, path: Path, timeout: int = 900, save: Path | None = None) -> Result:
        import nbformat
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError

        self.runtime.reset()
        content = self.workdir / "content"  # Colab's empty working folder, fresh per notebook
        shutil.rmtree(content, ignore_errors=True)
        content.mkdir()
        nb = nbformat.read(path, as_version=4)
        reference = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        manager = KernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=self.kernel_dirs),
        )
        client = NotebookClient(
            nb,
            km=manager,
            timeout=timeout,
            allow_errors=False,
            resources={"metadata": {"path": str(content)}},
        )
        error = ""
        start = time.perf_counter()
        try:
            client.execute(env=self.environment())
        except (CellExecutionError, CellTimeoutError) as exc:
            error = _first_error(nb, exc)
        except Exception as exc:  # the kernel died or did not start
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        if save is not None:
            (save / path.parent.name).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, save / path.parent.name / path.name)
        now = self.runtime.packages()
        base = json.loads((self.runtime.venv / "colab-base.json").read_text())
        setup_line = _setup_line(nb)
        return Result(
            notebook=f"{path.parent.name}/{path.name}",
            ok=not error,
            seconds=seconds,
            error=error,
            setup_line=setup_line,
            saw_colab="| Colab" in setup_line,
            kept={name: now.get(name, "missing") for name in ("torch", "torchvision")},
            installed=sorted(f"{n}=={v}" for n, v in now.items() if n not in base),
            differences=[] if error else checked_differences(reference, nb),
        )


def _sanitisers() -> list[tuple[re.Pattern, str]]:
    """The regexes of data/nbval_sanitize.cfg (what legitimately varies in checked lines)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "data" / "nbval_sanitize.cfg")
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def _checked_text(cell, sanitisers) -> str:
    text = "".join(
        str(o.get("text") or o.get("data", {}).get("text/plain", ""))
        for o in cell.get("outputs", [])
    )
    for pattern, replacement in sanitisers:
        text = pattern.sub(replacement, text)
    return text.strip()


def checked_differences(reference, executed) -> list[str]:
    """The checked cells of ``executed`` whose output differs from the same cell's (same source)
    in ``reference``, compared as nbval compares them (sanitised). For an exercise notebook the
    reference is the course notebook (the exercise version's stored outputs are cleared), and an
    exercise's own check is skipped (it says the exercise is not implemented yet: the point)."""
    sanitisers = _sanitisers()
    expected = {}
    for cell in reference.cells:
        if cell.cell_type == "code" and CHECKED.search(cell.source):
            expected.setdefault(cell.source, []).append(_checked_text(cell, sanitisers))
    differences = []
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code" or not CHECKED.search(cell.source):
            continue
        previous = executed.cells[index - 1].source if index else ""
        if 'raise NotImplementedError("Exercise' in previous:
            continue
        candidates = expected.get(cell.source, [])
        got = _checked_text(cell, sanitisers)
        if len(candidates) == 1 and candidates[0] != got:
            differences.append(f"cell {index}: expected {candidates[0]!r}, got {got!r}"[:600])
        elif not candidates:
            differences.append(f"cell {index}: no checked cell with this source in the reference")
    return differences


def _first_error(nb, exc) -> str:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index}: {output['ename']}: {output['evalue']}"[:2000]
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"


def _setup_line(nb) -> str:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("device:"):
                    return line
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: all of them")
    parser.add_argument("--out", type=Path, help="save the executed notebooks here")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    python = find_python()
    if python is None:
        print(f"no Python {COLAB_PYTHON} here (Colab's): set COURSE_COLAB_PYTHON", file=sys.stderr)
        return 2
    runtime = Runtime(python)
    built = runtime.build()
    how = f"built in {built:.0f} s" if built else "cached"
    print(f"simulated Colab runtime: {runtime.venv} ({how})")
    results = []
    with tempfile.TemporaryDirectory(prefix="colab-sim-") as tmp:
        simulation = Simulation(runtime, Path(tmp))
        for path in args.notebooks or notebooks():
            result = simulation.run(path.resolve(), args.timeout, args.out)
            results.append(result)
            status = "ok" if result.ok else "FAILED"
            print(
                f"{result.notebook:42s} {status:6s} {result.seconds:5.0f} s"
                f"  colab seen: {'yes' if result.saw_colab else 'NO'}"
                f"  kept torch {result.kept['torch']}, torchvision {result.kept['torchvision']}"
                f"  added {', '.join(result.installed) or 'nothing'}  {result.error}"
                + "".join(f"\n    checked line differs: {d}" for d in result.differences),
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
