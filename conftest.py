"""Repository-wide pytest set-up (the unit tests' own fixtures live in tests/conftest.py)."""

import os


def pytest_configure(config):
    # nbval opens the sanitize file relative to the working directory; anchor it at the
    # repository root so that `pytest` also works when started from a subfolder.
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not os.path.isabs(path):
        config.option.nbval_sanitize_with = str(config.rootpath / path)

    # `pytest -n N` (pyproject's default) runs N workers at once: share the cores between them
    # (and the kernels and graders they start), or N processes each use every core and fight.
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads
        import torch

        torch.set_num_threads(int(threads))


# Roughly how long each slow file takes inside the test command (seconds, measured on a 2-core
# CPU; the table in the README). Only an ordering hint: the longest files start first.
EXPECTED_SECONDS = {
    "test_colab.py": 1500,
    "05_semantic_segmentation.ipynb": 173,
    "test_grading.py": 206,
    "test_grading_attacks.py": 95,
    "03_alexnet.ipynb": 145,
    "06_object_detection.ipynb": 140,
    "08_pose_estimation.ipynb": 137,
    "04_resnet.ipynb": 77,
    "07_instance_segmentation.ipynb": 62,
    "02_global_average_pooling.ipynb": 36,
    "test_browser.py": 30,
}


def pytest_collection_modifyitems(config, items):
    """Start the longest files first, so that with several workers the suite does not end
    waiting for one slow file (pyproject turns off xdist's own reordering, by test count)."""
    items.sort(key=lambda item: -EXPECTED_SECONDS.get(item.path.name, 0))  # stable within a file
    # nbval waits at most 5 s (hard-coded) between two output messages once a cell's reply has
    # come. The kernel sends outputs from a separate thread, so a cell's last outputs can come
    # after its reply; on a loaded 2-core machine that gap once exceeded 5 s and failed a cell
    # that had run correctly (CI, notebook 04). Cells still time out after --nbval-cell-timeout.
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = max(item.output_timeout, 60)


_seconds_per_file: dict[str, float] = {}
_colab: dict[str, str] = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _seconds_per_file[path] = _seconds_per_file.get(path, 0.0) + report.duration
    if report.when == "call" and path.endswith("test_colab.py") and "[" in report.nodeid:
        seconds = dict(report.user_properties).get("colab_seconds", "?")
        outcome = "ok" if report.passed else report.outcome.upper()
        _colab[report.nodeid.split("[", 1)[1].rstrip("]")] = f"{outcome:7s} {seconds:>5} s"


def pytest_terminal_summary(terminalreporter):
    """Seconds per test file and notebook (set-up, calls and tear-down; with several workers
    they overlap, so they add up to more than the wall time): the README's timing table."""
    if _colab:
        terminalreporter.section("the notebooks on the simulated Colab (tests/colab)")
        for name, line in _colab.items():
            terminalreporter.write_line(f"{line}  {name}")
    if not _seconds_per_file:
        return
    terminalreporter.section("seconds per file")
    for path, seconds in sorted(_seconds_per_file.items(), key=lambda kv: -kv[1]):
        if seconds >= 1:
            terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
