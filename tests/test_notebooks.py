"""The notebooks follow the course conventions (README, "Notebook conventions").

nbval executes the notebooks themselves (see pyproject.toml); these tests read the committed files.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
LECTURE_ORDER = [
    "01_1x1_convolutions",
    "02_global_average_pooling",
    "03_alexnet",
    "04_resnet",
    "05_semantic_segmentation",
    "06_object_detection",
    "07_instance_segmentation",
    "08_pose_estimation",
]
MARKERS = ("NBVAL_CHECK_OUTPUT", "NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION")


def course_repo() -> str:
    match = re.search(r'COURSE_REPO = "(https://github\.com/([\w.-]+/[\w.-]+))"', README)
    assert match, "the README documents the COURSE_REPO constant"
    return match.group(1)


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell) -> str:
    return "".join(cell["source"])


def printed(cell) -> str:
    """Everything a code cell printed (stream outputs; JSON stores them as lists of lines)."""
    return "".join("".join(o.get("text", "")) for o in cell["outputs"])


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_notebooks_are_the_lecture_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert names, "no notebooks found"
    assert names == LECTURE_ORDER[: len(names)]


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def notebook(request):
    return request.param, load(request.param)


def test_first_cell_title_badge_and_goals(notebook):
    path, nb = notebook
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown"
    text = source(first)
    number = path.stem[:2]
    assert text.startswith(f"# {number} · ")
    repo = course_repo().removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name}"
    assert badge in text
    assert "What you will learn" in text and "*Follows the lecture section" in text


def test_second_cell_is_the_setup(notebook):
    _, nb = notebook
    setup = nb["cells"][1]
    assert setup["cell_type"] == "code"
    text = source(setup)
    assert f'COURSE_REPO = "{course_repo()}"' in text
    assert 'if "google.colab" in sys.modules:' in text
    assert "env.setup(" in text


def test_executed_top_to_bottom_without_errors_and_small(notebook):
    path, nb = notebook
    cells = code_cells(nb)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    for c in cells:
        for out in c["outputs"]:
            assert out["output_type"] != "error", source(c)[:80]
            assert "image/svg+xml" not in out.get("data", {}), "figures must be PNG"
    assert path.stat().st_size < 2_000_000
    setup_output = printed(cells[0])
    assert "mode: FAST" in setup_output and "device: cpu" in setup_output, (
        "commit FAST-mode CPU runs"
    )


def test_markers_are_comments_alone_on_their_line(notebook):
    _, nb = notebook
    for c in code_cells(nb):
        assert not set(c.get("metadata", {}).get("tags", [])) & set(MARKERS), (
            "use comments, not tags"
        )
        for line in source(c).splitlines():
            if any(m in line for m in MARKERS):
                assert line.strip() in {f"# {m}" for m in MARKERS}, line


def test_every_exercise_is_followed_by_its_check(notebook):
    _, nb = notebook
    cells = nb["cells"]
    exercises = 0
    for i, c in enumerate(cells):
        text = source(c)
        if c["cell_type"] != "code" or "### BEGIN SOLUTION" not in text:
            continue
        exercises += 1
        assert text.count("### BEGIN SOLUTION") == text.count("### END SOLUTION") >= 1
        check = cells[i + 1]
        lines = source(check).splitlines()
        assert check["cell_type"] == "code" and lines[0] == "# NBVAL_CHECK_OUTPUT"
        assert any(line.startswith("checks.check_") for line in lines[1:])
        line = printed(check).strip()
        assert re.fullmatch(r"\w+: correct on \d+ cases", line), line
    assert exercises >= 1


def test_no_download_outside_skipped_cells(notebook):
    _, nb = notebook
    for c in code_cells(nb):
        text = source(c)
        if "# NBVAL_SKIP" in text or 'if "google.colab" in sys.modules' in text:
            continue
        assert "urlopen" not in text and "requests." not in text and "download=True" not in text
        assert "show_on_photos(" not in text, "pretrained models only in # NBVAL_SKIP cells"
        for weights in re.findall(r"weights=([\w.\"']+)", text):
            assert weights == "None", f"pretrained weights outside a # NBVAL_SKIP cell: {weights}"


def test_readme_lists_every_notebook_with_its_badge():
    repo = course_repo().removeprefix("https://github.com/")
    for path in NOTEBOOKS:
        badge = f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{path.name}"
        assert badge in README, path.name


def test_later_cells_use_the_course_utils_twin_not_the_answer(notebook):
    """One failed exercise must not break the rest: no other cell calls the student's function."""
    _, nb = notebook
    cells = nb["cells"]
    for i, c in enumerate(cells):
        match = re.search(r"^(?:def|class) (\w+)[(:]", source(c), re.M)
        if c["cell_type"] != "code" or "### BEGIN SOLUTION" not in source(c) or not match:
            continue
        call = re.compile(rf"(?<![\w.]){match.group(1)}\(")
        for j, other in enumerate(cells):
            if other["cell_type"] == "code" and j not in (i, i + 1):
                assert not call.search(source(other)), (
                    f"cell {j} calls the answer {match.group(1)}()"
                )


PRETRAINED = {"04": "classification", "06": "detection", "07": "instance", "08": "keypoints"}


@pytest.mark.parametrize("number", list(PRETRAINED))
def test_a_pretrained_model_on_photos_when_asked(number):
    """The optional real-photo cell: skipped by the tests, downloads only on Colab, and (run
    offline when the notebook was committed) printed one line."""
    (path,) = [p for p in NOTEBOOKS if p.name.startswith(number)]
    cells = [c for c in code_cells(load(path)) if "show_on_photos(" in source(c)]
    assert len(cells) == 1
    text = source(cells[0])
    assert text.startswith("# NBVAL_SKIP\n")
    assert f'show_on_photos("{PRETRAINED[number]}", download=env.in_colab())' in text
    assert printed(cells[0]).count("\n") <= 1  # offline: one line; with the weights: a figure
