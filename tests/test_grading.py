"""Release and grading, end to end: the grader really runs the submissions in its sandbox
(README, "Exercises and grading"). Each grading starts a sandboxed process (about 5 s), so the
submissions are graded once per module (fixtures). The attacks are in test_grading_attacks.py.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import (
    NotebookError,
    find_exercises,
    find_reference,
    grade_folder,
    grade_submission,
    read_notebook,
    release_folder,
    release_notebook,
    stub_source,
)
from course_utils.grading.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = ROOT / "exercises"
WITH_EXERCISES = [p for p in sorted(NOTEBOOKS.glob("*.ipynb")) if find_exercises(read_notebook(p))]

# A plausible wrong answer for the first exercise of each notebook (a whole exercise cell).
WRONG_FIRST = {
    "01_1x1_convolutions": "def conv1x1(x, weight, bias=None):\n"
    "    return torch.einsum('oc,nchw->nohw', weight[:, :, 0, 0], x)  # forgot the bias\n",
    "02_global_average_pooling": "def global_avg_pool(x):\n"
    "    return x.sum(dim=(2, 3))  # a sum, not a mean\n",
    "03_alexnet": "def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):\n"
    "    return (size + 2 * padding - kernel_size) // stride + 1  # ignores the dilation\n",
    "04_resnet": "def stack_of_3x3(n, channels):\n"
    "    return 3 * n, n * 9 * channels * channels  # 3 more pixels per layer: too many\n",
    "05_semantic_segmentation": "def confusion_matrix(pred, target, num_classes, "
    "ignore_index=None):\n"
    "    counts = torch.bincount(pred.reshape(-1) * num_classes + target.reshape(-1),\n"
    "                            minlength=num_classes**2)  # cm[p, t]: transposed\n"
    "    return counts.reshape(num_classes, num_classes)\n",
    "06_object_detection": "def box_iou(boxes1, boxes2):\n"
    "    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])\n"
    "    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])\n"
    "    inter = (rb - lt).prod(dim=2)  # no clamp: boxes far apart get a positive overlap\n"
    "    area1 = (boxes1[:, 2:] - boxes1[:, :2]).prod(1)\n"
    "    area2 = (boxes2[:, 2:] - boxes2[:, :2]).prod(1)\n"
    "    return inter / (area1[:, None] + area2[None, :] - inter)\n",
    "07_instance_segmentation": "def mask_iou(masks1, masks2):\n"
    "    a, b = masks1.flatten(1).float(), masks2.flatten(1).float()\n"
    "    return (a @ b.T) / (a.sum(1)[:, None] + b.sum(1)[None, :]).clamp(min=1)  # no - inter\n",
    "08_pose_estimation": "def keypoints_to_heatmap(keypoints, rois, heatmap_size):\n"
    "    m = heatmap_size\n"
    "    x1, y1, x2, y2 = (rois[:, i, None] for i in range(4))\n"
    "    col = ((keypoints[..., 0] - x1) * m / (x2 - x1)).floor().long()\n"
    "    row = ((keypoints[..., 1] - y1) * m / (y2 - y1)).floor().long()\n"
    "    valid = (col >= 0) & (col < m) & (row >= 0) & (row < m) & (keypoints[..., 2] > 0)\n"
    "    return torch.where(valid, col * m + row, 0), valid  # rows and columns swapped\n",
}


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def write(nb, path: Path) -> Path:
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def solved(name: str):
    """The released notebook with every exercise answered as the reference does."""
    reference, released = read_notebook(NOTEBOOKS / name), read_notebook(EXERCISES / name)
    for ex in find_exercises(reference):
        released.cells[ex.cell].source = reference.cells[ex.cell].source
    return released


# ---------------------------------------------------------------- release


def test_committed_exercises_are_up_to_date(tmp_path):
    written = release_folder(NOTEBOOKS, tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    for path in written:
        assert path.read_text(encoding="utf-8") == (EXERCISES / path.name).read_text(
            encoding="utf-8"
        ), (
            f"exercises/{path.name} is out of date: run "
            "python -m course_utils.grading release notebooks exercises"
        )


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_release_replaces_answers_and_keeps_the_rest(path):
    reference = read_notebook(path)
    released = release_notebook(reference, path.name)
    exercises = find_exercises(reference)
    checks = {e.check for e in exercises}
    assert len(released.cells) == len(reference.cells)
    for i, (ref, rel) in enumerate(zip(reference.cells, released.cells, strict=True)):
        ex = next((e for e in exercises if e.cell == i), None)
        if ex is None:
            if i > 0 and (i < exercises[0].cell or ref.cell_type == "markdown" or i in checks):
                assert rel == ref  # text, figures before the exercises, check cells' lines
            elif i > 0:  # a code cell after the first exercise: its source, no outputs
                assert rel.source == ref.source
                assert rel.outputs == [] and rel.execution_count is None
            continue
        assert (
            "### BEGIN SOLUTION" not in rel.source
            and rel.outputs == []
            and rel.execution_count is None
        )
        assert (
            f'raise NotImplementedError("Exercise {ex.number}: implement {ex.name}()' in rel.source
        )
        assert ex.signature in rel.source  # the signature and docstring stay
    assert f"/blob/main/exercises/{path.name}" in released.cells[0].source
    assert "Exercise version" in released.cells[0].source


def test_release_never_overwrites_what_it_did_not_write(tmp_path):
    student_work = tmp_path / "01_1x1_convolutions.ipynb"
    student_work.write_text(nbformat.writes(solved("01_1x1_convolutions.ipynb")), encoding="utf-8")
    before = student_work.read_bytes()
    with pytest.raises(NotebookError, match="not an unedited release"):
        release_folder(NOTEBOOKS, tmp_path)
    assert student_work.read_bytes() == before
    with pytest.raises(NotebookError, match="must differ"):
        release_folder(NOTEBOOKS, NOTEBOOKS)
    assert main(["release", str(NOTEBOOKS), str(tmp_path)]) == 2


def test_find_reference_from_file_names():
    for name in ["01_1x1_convolutions.ipynb", "alice-01_1x1_convolutions.ipynb", "01_alice.ipynb"]:
        assert find_reference(Path(name), NOTEBOOKS).name == "01_1x1_convolutions.ipynb"
    with pytest.raises(NotebookError, match="pass --reference"):
        find_reference(Path("homework.ipynb"), NOTEBOOKS)


def test_bad_reference_notebooks_are_clear_errors():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "def f():\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION"
        )
    ]
    with pytest.raises(NotebookError, match="must be followed by a '# NBVAL_CHECK_OUTPUT' cell"):
        find_exercises(nb)
    nb.cells = [nbformat.v4.new_code_cell("### END SOLUTION\n### BEGIN SOLUTION\n")]
    with pytest.raises(NotebookError, match="needs its own ### END SOLUTION line after it"):
        find_exercises(nb)


def test_a_class_exercise_with_one_region_per_method():
    source = (
        "class Block(nn.Module):\n"
        "    def __init__(self, c):\n"
        "        super().__init__()\n"
        "        ### BEGIN SOLUTION\n"
        "        self.conv = nn.Conv2d(c, c, 3)\n"
        "        ### END SOLUTION\n"
        "\n"
        "    def forward(self, x):\n"
        "        ### BEGIN SOLUTION\n"
        "        return self.conv(x)\n"
        "        ### END SOLUTION\n"
    )
    nb = nbformat.v4.new_notebook()
    check = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nchecks.check_block(Block)")
    nb.cells = [nbformat.v4.new_code_cell(source), check]
    (ex,) = find_exercises(nb)
    assert ex.name == "Block" and ex.signature == "class Block(nn.Module):"
    stub = stub_source(source, ex)
    assert stub.count('raise NotImplementedError("Exercise 1: implement Block()') == 2
    assert "        super().__init__()\n        raise" in stub
    assert "    def forward(self, x):\n        raise" in stub
    compile(stub, "stub", "exec")


# ---------------------------------------------------------------- grading every notebook


@pytest.fixture(scope="module", params=WITH_EXERCISES, ids=lambda p: p.stem)
def graded(request, tmp_path_factory):
    """Two submissions of one notebook, graded once: the reference answers, and
    a mixed one whose first answer is wrong (with a faked stored output: its check cell shows
    the reference's "correct on N cases" line), whose second is the released stub, and whose
    other answers are the reference's. (Two kernels per notebook, not three: every released
    stub is shown to fail its check in tests/test_checks.py; here the grader's path for one.)
    """
    path = request.param
    folder = tmp_path_factory.mktemp(path.stem)
    reference = read_notebook(path)
    first, second, *_ = find_exercises(reference)

    write(solved(path.name), folder / f"solved-{path.name}")
    mixed = solved(path.name)
    mixed.cells[first.cell].source = WRONG_FIRST[path.stem]
    mixed.cells[first.cell].outputs = []
    mixed.cells[first.check].outputs = reference.cells[first.check].outputs  # "correct on N cases"
    mixed.cells[second.cell] = read_notebook(EXERCISES / path.name).cells[second.cell]  # the stub
    last = find_exercises(reference)[-1]
    if last.name == "BoxCoder":  # an honest variant: the coder as an nn.Module (its methods
        # then run on the grader's stand-in for a module)
        source = mixed.cells[last.cell].source.replace(
            "class BoxCoder:", "class BoxCoder(torch.nn.Module):"
        )
        source = source.replace(
            "        self.weights = weights",
            "        super().__init__()\n        self.weights = weights",
        )
        assert "torch.nn.Module" in source and "super().__init__()" in source
        mixed.cells[last.cell].source = source
    write(mixed, folder / f"mixed-{path.name}")

    before = digest(folder)
    reports = {
        # one at a time: the suite's other worker is running a notebook on the other core
        r.submission.split("-")[0]: r
        for r in grade_folder(folder, jobs=1, hidden_seed=1234)
    }
    assert digest(folder) == before, "the grader must never write to a submission"
    return path, reports, len(find_exercises(reference))


def test_a_released_stub_grades_zero(graded):
    _, reports, n = graded
    r = reports["mixed"]
    assert (r.status, r.total, r.exit_code) == ("graded", n, 1)
    assert not r.exercises[1].passed and "not implemented yet" in r.exercises[1].message


def test_reference_answers_grade_full_marks(graded):
    _, reports, n = graded
    r = reports["solved"]
    assert (r.score, r.total, r.exit_code, r.notes) == (n, n, 0, [])
    assert all(
        re.fullmatch(rf"{e.name}: correct on \d+ cases and \d+ hidden cases", e.message)
        or e.message.endswith("(it has no hidden cases)")
        for e in r.exercises
    )


def test_one_wrong_answer_fails_exactly_that_exercise_whatever_its_stored_output(graded):
    _, reports, n = graded
    r = reports["mixed"]
    assert [e.passed for e in r.exercises] == [False, False] + [True] * (n - 2)
    assert "wrong on case" in r.exercises[0].message and r.score == n - 2


# ---------------------------------------------------------------- what students do to notebooks


@pytest.fixture(scope="module")
def mischief(tmp_path_factory):
    """Submissions of notebook 01 that hang, kill the kernel, lose or duplicate cells..."""
    name = "01_1x1_convolutions.ipynb"
    ex1, ex2, *_ = find_exercises(read_notebook(NOTEBOOKS / name))
    folder = tmp_path_factory.mktemp("mischief")

    def variant(label, change):
        nb = solved(name)
        change(nb)
        write(nb, folder / f"{label}-{name}")

    def hang(nb):
        # a hang that sleeps rather than spins, so that it does not take a core from the other tests
        sleeps = "import time\n\ndef conv1x1(x, weight, bias=None):\n    while True:\n"
        nb.cells[ex1.cell].source = sleeps + "        time.sleep(0.5)\n"

    def die(nb):
        nb.cells[ex2.cell].source = "import os\n\ndef conv2d_cost(*args):\n    os._exit(1)\n"

    def delete(nb):
        del nb.cells[ex2.cell]

    def duplicate(nb):
        nb.cells.insert(ex1.cell, nbformat.v4.new_code_cell(nb.cells[ex1.cell].source))

    def reorder(nb):
        a, b = nb.cells[ex1.cell], nb.cells[ex2.cell]
        nb.cells[ex1.cell], nb.cells[ex2.cell] = (
            nbformat.v4.new_code_cell(b.source),
            nbformat.v4.new_code_cell(a.source),
        )

    def edit_check(nb):  # a wrong answer, and a check cell that just prints the expected line
        nb.cells[ex1.cell].source = WRONG_FIRST["01_1x1_convolutions"]
        nb.cells[ex1.check].source = '# NBVAL_CHECK_OUTPUT\nprint("conv1x1: correct on 5 cases")'

    for label, change in [
        ("hang", hang),
        ("die", die),
        ("delete", delete),
        ("duplicate", duplicate),
        ("reorder", reorder),
        ("editcheck", edit_check),
    ]:
        variant(label, change)
    (folder / f"malformed-{name}").write_text('{"cells": [', encoding="utf-8")
    (folder / f"wrongformat-{name}").write_text(json.dumps({"cells": "nope"}), encoding="utf-8")

    before = digest(folder)
    old_tempdir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("grader-temp"))
    try:  # two at a time: each in its own grader process, which finds TMPDIR
        reports = {
            r.submission.split("-")[0]: r for r in grade_folder(folder, jobs=2, cell_timeout=20)
        }
        leftovers = list(Path(tempfile.tempdir).iterdir())
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = old_env
    assert digest(folder) == before, "the grader must never write to a submission"
    assert leftovers == [], "the grader cleans up its sandboxes' folders"
    return reports


def verdicts(report):
    return [e.passed for e in report.exercises]


# Notebook 01's exercises after the first two, which the mischief leaves alone.
REST = [True] * (len(find_exercises(read_notebook(NOTEBOOKS / "01_1x1_convolutions.ipynb"))) - 2)


def test_a_hanging_answer_fails_only_its_exercise(mischief):
    r = mischief["hang"]
    assert verdicts(r) == [False, True, *REST]
    assert r.exercises[0].message.endswith("timed out after 20 s"), r.exercises[0].message


def test_an_answer_that_ends_its_process_fails_only_its_exercise(mischief):
    r = mischief["die"]
    assert verdicts(r) == [True, False, *REST]
    assert "the answer's process exited with status 1" in r.exercises[1].message


def test_deleted_and_duplicated_cells_are_reported(mischief):
    assert verdicts(mischief["delete"]) == [True, False, *REST]
    assert "exercise cell not found (deleted?)" in mischief["delete"].exercises[1].message
    assert verdicts(mischief["duplicate"]) == [False, True, *REST]
    assert "appears in 2 cells" in mischief["duplicate"].exercises[0].message


def test_reordered_cells_are_graded_and_noted(mischief):
    r = mischief["reorder"]
    assert verdicts(r) == [True, True, *REST]
    assert any("not in the reference order" in note for note in r.notes)


def test_an_edited_check_cell_is_noted_and_not_used(mischief):
    r = mischief["editcheck"]
    assert verdicts(r) == [False, True, *REST]
    assert any("check cell of exercise 1 (conv1x1) was edited" in note for note in r.notes)


def test_malformed_files_cannot_be_graded_and_the_rest_still_is(mischief):
    for label in ("malformed", "wrongformat"):
        r = mischief[label]
        assert r.status == "error" and r.exit_code == 2 and "not a valid notebook" in r.error
    assert sum(r.status == "graded" for r in mischief.values()) == 6


def test_the_fallback_sandbox_still_grades(tmp_path):
    # where Linux namespaces are missing, the grader runs the answer in a plain process with
    # resource limits, and says so in the report
    script = (
        "import sys; from course_utils.grading import grade_submission; "
        "r = grade_submission(sys.argv[1], hidden_seed=5); "
        "print(r.score, r.total, r.sandbox)"
    )
    submission = write(solved("01_1x1_convolutions.ipynb"), tmp_path / "01_1x1_convolutions.ipynb")
    env = dict(os.environ, COURSE_GRADING_SANDBOX="process")
    done = subprocess.run(
        [sys.executable, "-c", script, str(submission)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    score, total, sandbox = done.stdout.strip().split(" ", 2)
    assert score == total == "4" and sandbox.startswith("process (COURSE_GRADING_SANDBOX"), done


def test_submissions_and_gradebooks_in_the_course_root_are_hidden_but_grading_works(tmp_path):
    # the README's own example grades from the course root (where .venv and course_utils
    # live): hiding that folder must not hide what the sandbox needs
    submission = write(solved("01_1x1_convolutions.ipynb"), tmp_path / "01_1x1_convolutions.ipynb")
    r = grade_submission(submission, hidden_seed=9, hide=(ROOT,))
    assert (r.status, r.score, r.total) == ("graded", 4, 4), r.table()


def test_the_total_time_limit(tmp_path):
    submission = write(solved("01_1x1_convolutions.ipynb"), tmp_path / "01_1x1_convolutions.ipynb")
    r = grade_submission(submission, total_timeout=2)
    assert r.status == "error" and "total limit of 2 s" in r.error and r.exit_code == 2


# ---------------------------------------------------------------- the command line


def test_command_line_outputs_and_exit_codes(tmp_path, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    write(
        read_notebook(EXERCISES / "01_1x1_convolutions.ipynb"),
        folder / "bob-01_1x1_convolutions.ipynb",
    )
    (folder / "eve-01_1x1_convolutions.ipynb").write_text("not a notebook", encoding="utf-8")
    out_csv, out_json = tmp_path / "grades.csv", tmp_path / "grades.json"

    assert (
        main(
            [
                "grade",
                str(folder),
                "--csv",
                str(out_csv),
                "--json",
                str(out_json),
            ]
        )
        == 2
    )
    printed = capsys.readouterr().out
    n = len(find_exercises(read_notebook(NOTEBOOKS / "01_1x1_convolutions.ipynb")))
    assert f"score: 0/{n}" in printed and "could not be graded" in printed
    rows = out_csv.read_text().splitlines()
    assert rows[0] == "submission,notebook,status,score,total,failed,reason" and len(rows) == 3
    assert rows[1].startswith(
        f"bob-01_1x1_convolutions.ipynb,01_1x1_convolutions.ipynb,graded,0,{n},"
    )
    data = json.loads(out_json.read_text())
    assert [d["score"] for d in data] == [0, 0] and data[0]["grader"] == "course_utils.grading"

    # the grader overwrites its own gradebooks, never someone else's file
    assert (
        main(["grade", str(folder / "eve-01_1x1_convolutions.ipynb"), "--csv", str(out_csv)]) == 2
    )
    foreign = tmp_path / "notes.csv"
    foreign.write_text("my own notes\n")
    assert main(["grade", str(folder), "--csv", str(foreign)]) == 2
    assert foreign.read_text() == "my own notes\n"
    assert "not written by the grader" in capsys.readouterr().err
    assert main(["grade", str(tmp_path / "missing.ipynb")]) == 2


def test_readme_lists_every_exercise_notebook_with_its_badge():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in EXERCISES.glob("*.ipynb"):
        assert f"blob/main/exercises/{path.name})" in readme, path.name
        assert f"(exercises/{path.name})" in readme, path.name


def test_jobs_must_be_a_positive_int(tmp_path, capsys):
    with pytest.raises(ValueError, match="jobs must be a positive int, got 0"):
        grade_folder(tmp_path, jobs=0)
    with pytest.raises(SystemExit):
        main(["grade", str(tmp_path), "--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_statistics_count_failures_by_kind():
    from course_utils.grading.report import ExerciseResult, Report, statistics, statistics_csv

    def report(name, passed, message):
        r = Report(submission=name, reference="notebooks/01_1x1_convolutions.ipynb")
        r.exercises = [ExerciseResult(1, "conv1x1", passed, message)]
        return r

    reports = [
        report("a", True, "conv1x1: correct on 5 cases and 5 hidden cases"),
        report("b", False, 'conv1x1: wrong on case "bias=None": largest difference 4.51'),
        report("c", False, 'conv1x1: wrong on case "1 image": largest difference 0.7'),
        report("d", False, "conv1x1: not implemented yet (it raises NotImplementedError)"),
        Report(submission="e", status="error", error="not a valid notebook"),
    ]
    (row,) = statistics(reports)
    assert (row["submissions"], row["passed"], round(row["pass_rate"], 2)) == (4, 1, 0.25)
    assert row["failures"][0] == ('conv1x1: wrong on case "...": largest difference #', 2)
    assert (
        statistics_csv([row])
        .splitlines()[1]
        .startswith("01_1x1_convolutions.ipynb,1,conv1x1,4,1,0.250,")
    )
