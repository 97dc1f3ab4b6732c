"""The guard against answers by delegation (course_utils.checks.guard and .delegation)."""

import fnmatch
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils import checks, models, ops
from course_utils.checks.delegation import BLOCKED
from course_utils.checks.guard import BlockedCall, _import_path, guarded, suspicious_names
from course_utils.grading import find_exercises, read_notebook

ROOT = Path(__file__).resolve().parent.parent
ALL_OPS = torch._C._dispatch_get_all_op_names()
EXERCISE_NAMES = [
    e.name
    for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
    for e in find_exercises(read_notebook(p))
]


def verdict(check, answer, capsys) -> str:
    check(answer)
    return capsys.readouterr().out.strip()


def test_every_exercise_has_an_entry_and_every_entry_resolves():
    assert sorted(BLOCKED) == sorted(EXERCISE_NAMES)
    for name, spec in BLOCKED.items():
        assert spec.message and spec.allowed, name
        for path in spec.functions:
            if path.split(".")[0] in ("torchmetrics", "sklearn", "pycocotools"):
                continue  # optional packages: blocked when installed
            _import_path(path)  # raises for a typo or a renamed function
        for op in spec.ops:  # a pattern must match at least one op that exists
            assert any(fnmatch.fnmatchcase(n, op) for n in ALL_OPS), op


class TorchvisionBlock(torchvision.models.resnet.BasicBlock):
    def __init__(self, c_in, c_out, stride):
        down = None
        if stride != 1 or c_in != c_out:
            down = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )
        super().__init__(c_in, c_out, stride, down)


class HandsOffItsForward(nn.Module):  # its own layers, the course's forward
    def __init__(self, c_in, c_skip, c_out):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2)
        self.conv = models.double_conv(c_skip + c_out, c_out)

    def forward(self, x, skip):
        return models.UNetUp.forward(self, x, skip)


DELEGATING = [
    (checks.check_conv1x1, lambda x, w, b=None: F.conv2d(x, w, b), "aten::convolution"),
    (
        checks.check_conv1x1,  # a kernel below the usual op: the pattern aten::*conv* has it
        lambda x, w, b=None: torch.ops.aten._slow_conv2d_forward(x, w, [1, 1], b, [1, 1], [0, 0]),
        "aten::_slow_conv2d_forward",
    ),
    (
        checks.check_conv1x1,  # a linear layer reaches only addmm: caught as the C function
        lambda x, w, b=None: F.linear(x.movedim(1, -1), w[:, :, 0, 0], b).movedim(-1, 1),
        "torch.nn.functional.linear",
    ),
    (checks.check_global_avg_pool, lambda x: nn.AdaptiveAvgPool2d(1)(x).flatten(1), "pooling"),
    (checks.check_dropout, lambda x, p, training: F.dropout(x, p, training), "dropout"),
    (checks.check_box_iou, torchvision.ops.box_iou, "torchvision.ops.boxes"),
    (checks.check_nms, torchvision.ops.nms, "torchvision::nms"),
    (
        checks.check_roi_align,
        lambda *a: torchvision.ops.roi_align(*a),
        "torchvision::roi_align",
    ),
    (checks.check_basic_block, TorchvisionBlock, "torchvision.models.resnet.BasicBlock"),
    (checks.check_mask_iou, ops.mask_iou, "course_utils.ops.masks.mask_iou"),
    (checks.check_unet_up, HandsOffItsForward, "course_utils.models.segmentation.UNetUp"),
]


@pytest.mark.parametrize(
    "check, answer, named", DELEGATING, ids=lambda v: getattr(v, "__name__", None)
)
def test_delegating_answers_are_blocked_and_told_what_they_called(check, answer, named, capsys):
    line = verdict(check, answer, capsys)
    assert "raised BlockedCall" in line and "(it called" in line and named in line, line


def test_an_answer_that_catches_the_block_is_still_blocked():
    def sneaky(x, weight, bias=None):
        try:
            return F.conv2d(x, weight, bias)
        except BlockedCall:
            return torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x)

    x, w = torch.randn(1, 3, 4, 4), torch.randn(2, 3, 1, 1)
    with pytest.raises(BlockedCall, match="aten::convolution"), guarded("conv1x1"):
        sneaky(x, w)


def test_switching_the_guard_off_is_seen():
    x, w = torch.randn(1, 3, 4, 4), torch.randn(2, 3, 1, 1)
    with pytest.raises(BlockedCall, match="switched off this guard"), guarded("global_avg_pool"):
        sys.setprofile(None)
        x.mean((2, 3))
    with guarded("conv1x1"):  # honest work inside the guard is untouched
        torch.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)


def test_the_source_scan_is_empty_for_every_reference_answer():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in source:
                assert suspicious_names(source) == [], (path.name, source[:80])


@pytest.mark.parametrize(
    "source, found",
    [
        ("import sys\nsys.setprofile(None)", ".setprofile"),
        ("import subprocess", "import subprocess (processes)"),
        ("from ctypes import CDLL", "import ctypes (a foreign function interface)"),
        ("import os\nos.fork()", ".fork"),
        ("exec('x = 1')", "exec()"),
        ("import sys\nm = sys.modules['course_utils.checks.guard']", "sys.modules"),
        ("checks.core.report = print", "checks.core (the checks)"),
        ("from course_utils.grading import serve", "import course_utils.grading (the grader)"),
        ("f = lambda: g.f_back", ".f_back"),
        ("torch._C._set_dispatch_mode(None)", "._C"),
    ],
)
def test_the_source_scan_names_what_an_answer_reaches_for(source, found):
    assert found in suspicious_names(source)


def test_honest_code_is_not_flagged():
    honest = "model.eval()\nfor m in self.modules():\n    pass\nx = getattr(coder, 'encode')\n"
    assert suspicious_names(honest) == []
