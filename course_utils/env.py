"""Environment set-up shared by every notebook's setup cell (all notebooks).

``FAST`` is true when no CUDA GPU is present: notebooks then pick data sizes and
training budgets that run in seconds on a 2-core laptop CPU. Override it with the
environment variable ``COURSE_FAST=0`` (full mode) or ``COURSE_FAST=1`` before the
kernel starts.
"""

from __future__ import annotations

import importlib.util
import os
import random

import numpy as np
import torch
import torchvision

__all__ = [
    "FAST",
    "IN_COLAB",
    "fast_mode",
    "in_colab",
    "pick_device",
    "seed_everything",
    "setup",
    "synchronize",
]


def in_colab() -> bool:
    """True when running inside a Google Colab runtime."""
    if "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):
        return False


def fast_mode() -> bool:
    """Read the FAST flag: ``COURSE_FAST`` if set (``0``/``1``), else "no CUDA GPU"."""
    value = os.environ.get("COURSE_FAST")
    if value is None or value.strip() == "":
        return not torch.cuda.is_available()
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"COURSE_FAST must be 0 or 1 (or true/false), got {value!r}")


FAST: bool = fast_mode()
#: Resolution of the notebooks' inline figures (PNG), set by :func:`setup`.
FIGURE_DPI = 72
IN_COLAB: bool = in_colab()


def pick_device() -> torch.device:
    """The best available device: ``cuda``, then ``mps`` (Apple), then ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until the accelerator has finished the work queued so far; nothing on a CPU.

    CUDA (and MPS) run kernels asynchronously: a call returns as soon as the work is queued,
    so a clock read right after it measures almost nothing. Time a region as
    ``synchronize(device); start = time.perf_counter(); ...; synchronize(device)`` and then
    read the clock. ``device=None``: CUDA, if this process uses it (MPS only when named).
    """
    kind = None if device is None else torch.device(device).type
    if kind in (None, "cuda") and torch.cuda.is_initialized():
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random number generators (all devices)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _modest_figures() -> None:
    """PNG figures at a modest resolution, so that executed notebooks stay small."""
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = FIGURE_DPI
    matplotlib.rcParams["savefig.dpi"] = FIGURE_DPI


def setup(seed: int = 0, verbose: bool = True) -> torch.device:
    """Prepare a notebook: seed everything, speed up the CPU, pick and report the device.

    Also sets matplotlib's figure resolution to :data:`FIGURE_DPI` (notebooks stay small).
    Turns on ``torch.set_flush_denormal(True)``: tiny (denormal) floats that appear
    late in training made one identical detection run 8x slower on a 2-core CPU.

    Prints one line, for example
    ``device: cpu | mode: FAST | torch 2.14.1 | torchvision 0.29.1``,
    and returns the ``torch.device`` to use.
    """
    seed_everything(seed)
    torch.set_flush_denormal(True)
    _modest_figures()
    device = pick_device()
    if verbose:
        mode = "FAST" if FAST else "full"
        where = " | Colab" if IN_COLAB else ""
        print(
            f"device: {device.type} | mode: {mode} | torch {torch.__version__.split('+')[0]}"
            f" | torchvision {torchvision.__version__.split('+')[0]}{where}"
        )
    return device
