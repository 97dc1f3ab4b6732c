import random

import numpy as np
import pytest
import torch

from course_utils import env


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("0", False), ("true", True), ("OFF", False), (" yes ", True)]
)
def test_course_fast_variable_overrides(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_FAST", value)
    assert env.fast_mode() is expected


def test_fast_defaults_to_no_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert env.fast_mode() is (not torch.cuda.is_available())


def test_bad_course_fast_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST must be 0 or 1"):
        env.fast_mode()


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("COLAB_GPU", raising=False)
    assert env.in_colab() is False  # no google.colab here
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-20260101")
    assert env.in_colab() is True


def test_setup_seeds_reports_and_returns_the_device(capsys):
    device = env.setup(seed=3)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    env.setup(seed=3, verbose=False)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    assert isinstance(device, torch.device) and device == env.pick_device()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"device: {device.type} | mode: ")
    assert "torch " in lines[0] and "torchvision " in lines[0]


def test_setup_flushes_denormals():
    env.setup(verbose=False)
    tiny = torch.tensor([1e-30], dtype=torch.float32) * 1e-9  # would be a denormal float32
    assert tiny.item() == 0.0


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        env.seed_everything(seed)
