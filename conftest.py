"""Repository-wide pytest set-up (the unit tests' own fixtures live in tests/conftest.py)."""

import os


def pytest_configure(config):
    # nbval opens the sanitize file relative to the working directory; anchor it at the
    # repository root so that `pytest` also works when started from a subfolder.
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not os.path.isabs(path):
        config.option.nbval_sanitize_with = str(config.rootpath / path)
