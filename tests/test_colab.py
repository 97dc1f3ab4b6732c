"""The course on a simulated Colab runtime (tests/colab/simulate.py): every notebook and every
exercise notebook runs top to bottom with Colab's Python and package versions, after installing
the course helpers through its own setup cell.

Skips, saying why, where Colab's Python (3.13) is not on this machine. The runtime's virtual
environment is built once (about 1.5 minutes and 4 GB of downloads) and cached in
~/.cache/course-colab-sim.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "colab"))
import simulate  # noqa: E402

PINS = simulate.pinned_versions()


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    python = simulate.find_python()
    if python is None:
        reason = (
            f"the Colab simulation needs Python {simulate.COLAB_PYTHON} (Colab's): none found on "
            "the PATH or under pyenv; set COURSE_COLAB_PYTHON to one"
        )
        if "colab" in os.environ.get("COURSE_REQUIRE", "").split(","):  # CI: fail, do not skip
            pytest.fail(f"COURSE_REQUIRE asks for the Colab simulation, but {reason}")
        pytest.skip(reason)
    runtime = simulate.Runtime(python)
    runtime.build()
    return simulate.Simulation(runtime, tmp_path_factory.mktemp("colab"))


def test_versions_file_lists_what_the_course_needs():
    """The simulated runtime pins torch and everything pyproject.toml names with a lower bound."""
    import tomllib

    project = tomllib.loads((simulate.ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = simulate._normalise(requirement.split(">=")[0].split(";")[0].strip())
        lower = requirement.split(">=")[1].split(",")[0].split(";")[0].strip()
        if name in PINS:  # Colab has it: the lower bound is Colab's version, so it is tested
            assert lower == PINS[name], f"{requirement}: Colab (tests/colab) has {PINS[name]}"


@pytest.mark.parametrize("path", simulate.notebooks(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_runs_on_colab(colab, path, record_property):
    result = colab.run(path)
    record_property("colab_seconds", round(result.seconds))
    assert result.ok, f"{result.notebook} stopped on the simulated Colab: {result.error}"
    assert result.saw_colab, f"the setup cell did not report Colab: {result.setup_line!r}"
    for name in ("torch", "torchvision"):
        assert result.kept[name] == PINS[name], (
            f"the install replaced Colab's {name}: {result.kept}"
        )
    assert any(item.startswith("course-utils==") for item in result.installed), result.installed
    # what nbval checks in the pinned stack holds with Colab's versions too
    assert not result.differences, "\n".join(result.differences)
