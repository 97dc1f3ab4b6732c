"""The repository's own promises: pinned stack, the README's commands, CI running them."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```", README, re.S)
    assert match, f"README has a bash block after <!-- {marker} -->"
    return match.group(1)


def test_the_two_commands():
    lab, test = readme_block("open-command"), readme_block("test-command")
    install = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    assert lab.startswith(install) and lab.endswith("jupyter lab notebooks/")
    assert test.startswith(install) and test.endswith(".venv/bin/python -m pytest")
    assert "\n" not in lab and "\n" not in test


def test_ci_runs_exactly_the_readme_test_command():
    out = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-command"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == readme_block("test-command")


def test_requirements_pin_the_tested_pair():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.14.1" in lines and "torchvision==0.29.1" in lines and "-e ." in lines
    pinned = [line for line in lines if line and not line.startswith(("#", "-e"))]
    assert all("==" in line for line in pinned), "every requirement is pinned"


def test_pyproject_gives_ranges_not_pins():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"dependencies = \[(.*?)\]", text, re.S).group(1)
    assert '"torch>=' in deps and '"torchvision>=' in deps and "==" not in deps


def test_ruff_check_and_format_are_clean():
    """course_utils, tests, benchmarks and the notebooks' code (ruff reads .ipynb); see
    pyproject.toml for the rules and the few that notebooks relax."""
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, f"ruff {' '.join(args)}:\n{done.stdout}{done.stderr}"
