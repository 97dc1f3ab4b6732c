"""Checks for the exercises of notebook 05 (semantic segmentation).

The metrics are checked against torchmetrics (an independent implementation) on random label
maps, and on small hand-made cases whose answers are worked out in the comments; the losses
against ``torch.nn.functional``; the U-Net decoder step against :class:`models.UNetUp`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..models.segmentation import UNetUp
from .core import (
    Case,
    case_generator,
    compare_modules,
    compare_tensors,
    randomize_batch_norms,
    report,
    run_cases,
)

__all__ = [
    "check_confusion_matrix",
    "check_mean_iou",
    "check_sigmoid_cross_entropy",
    "check_softmax_cross_entropy",
    "check_unet_up",
]


def _random_maps(g: torch.Generator, shape, num_classes: int, drop=(), ignore=None):
    """Random (pred, target) label maps; classes in ``drop`` never appear in either."""
    pred = torch.randint(0, num_classes, shape, generator=g)
    target = torch.randint(0, num_classes, shape, generator=g)
    for c in drop:
        pred[pred == c] = 0
        target[target == c] = 0
    if ignore is not None:
        target[torch.rand(shape, generator=g) < 0.2] = ignore
    return pred, target


# The hand-made 2x3 maps of the metric checks (0 = background):
#   target [[0, 0, 1],     pred [[0, 0, 1],
#           [0, 2, 2]]           [0, 1, 1]]
# class 0: TP 3, FP 0, FN 0 -> IoU 1; class 1: TP 1, FP 2, FN 0 -> IoU 1/3;
# class 2: TP 0, FP 0, FN 2 -> IoU 0 (never predicted); class 3: absent from both (left out).
_T = torch.tensor([[0, 0, 1], [0, 2, 2]])
_P = torch.tensor([[0, 0, 1], [0, 1, 1]])


def check_confusion_matrix(fn: Callable) -> None:
    """Exercise: ``confusion_matrix(pred, target, num_classes, ignore_index=None)``.

    ``cm[t, p]`` counts positions of true class t predicted as p; compared with torchmetrics'
    ``multiclass_confusion_matrix``.
    """
    from torchmetrics.functional import classification as tm  # slow import: only when checking

    g = case_generator(505)
    cases: list[Case] = [
        (
            "the hand-made 2x3 maps, 4 classes (class 3 absent: a row and column of zeros)",
            (_P, _T, 4),
            torch.tensor([[3, 0, 0, 0], [0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]]),
        ),
        (
            "1-d labels, the last class predicted but never true",
            (torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 0]), 3),
            torch.tensor([[1, 0, 1], [0, 1, 1], [0, 0, 0]]),
        ),
    ]
    for desc, shape, c, drop, ignore in [
        ("a batch of 2 label maps 5x6, 3 classes", (2, 5, 6), 3, (), None),
        ("label maps 7x4, 6 classes, classes 2 and 5 absent", (3, 7, 4), 6, (2, 5), None),
        ("ignore_index=255: those target pixels are not counted", (2, 6, 6), 4, (), 255),
        ("ignore_index=0: background pixels are not counted", (2, 6, 6), 4, (), 0),
    ]:
        pred, target = _random_maps(g, shape, c, drop, ignore if ignore == 255 else None)
        expected = tm.multiclass_confusion_matrix(pred, target, c, ignore_index=ignore)
        args = (pred, target, c) if ignore is None else (pred, target, c, ignore)
        cases.append((desc, args, expected))
    report(run_cases("confusion_matrix", fn, cases, compare_tensors))


def _compare_float(got: Any, expected: float) -> str | None:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            return f"expected one number, got a tensor of shape {tuple(got.shape)}"
        got = got.item()
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"expected a number, got {type(got).__name__}"
    if got != got:
        return "got NaN: a class absent from both maps must be left out of the mean"
    if abs(got - expected) > 1e-6:
        return f"expected {expected:.6f}, got {got:.6f}"
    return None


def check_mean_iou(fn: Callable) -> None:
    """Exercise: ``mean_iou(pred, target, num_classes, ignore_index=None)`` -> float.

    Hand-made cases (worked out above) and random maps compared with torchmetrics'
    ``multiclass_jaccard_index`` (macro average, which also leaves absent classes out).
    """
    from torchmetrics.functional import classification as tm  # slow import: only when checking

    g = case_generator(606)
    ignored = _T.clone()
    ignored[1, 1] = 255  # one of class 2's pixels becomes "unlabelled"
    cases: list[Case] = [
        ("a perfect prediction", (_T, _T, 3), 1.0),
        ("the hand-made maps: class 2 never predicted (IoU 0)", (_P, _T, 3), (1 + 1 / 3 + 0) / 3),
        ("the same with a 4th class absent from both (left out)", (_P, _T, 4), (1 + 1 / 3) / 3),
        (
            "a class predicted but never true (IoU 0, counted)",
            (torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]), 3),
            (1 + 0.5 + 0) / 3,
        ),
        # the ignored pixel was a false positive of class 1: class 1's IoU becomes 1/2
        ("ignore_index=255 on one target pixel", (_P, ignored, 3, 255), (1 + 1 / 2 + 0) / 3),
    ]
    for desc, shape, c, drop, ignore in [
        ("random label maps 2x8x8, 4 classes", (2, 8, 8), 4, (), None),
        ("random label maps 3x5x7, 6 classes, classes 1 and 4 absent", (3, 5, 7), 6, (1, 4), None),
        ("random label maps 2x6x6, 3 classes, ignore_index=255", (2, 6, 6), 3, (), 255),
    ]:
        pred, target = _random_maps(g, shape, c, drop, ignore)
        expected = tm.multiclass_jaccard_index(
            pred, target, c, average="macro", ignore_index=ignore
        )
        args = (pred, target, c) if ignore is None else (pred, target, c, ignore)
        cases.append((desc, args, expected.item()))
    report(run_cases("mean_iou", fn, cases, _compare_float))


def _loss_cases(seed: int, reference: Callable) -> list[Case]:
    g = case_generator(seed)
    cases = []
    for desc, shape, scale in [
        ("logits (2, 3, 4, 5): 3 classes, 4x5 maps", (2, 3, 4, 5), 1.0),
        ("logits (4, 6): one label per sample, as in classification", (4, 6), 1.0),
        ("logits (1, 2, 3, 3): 2 classes", (1, 2, 3, 3), 3.0),
        ("large logits (up to about 1000): needs a numerically stable formula", (2, 4, 3, 3), 400),
    ]:
        logits = torch.randn(shape, generator=g) * scale
        target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
        cases.append((desc, (logits, target), reference(logits, target)))
    return cases


def _compare_scalar(got: Any, expected: torch.Tensor) -> str | None:
    if isinstance(got, torch.Tensor) and got.dim() != 0:
        return f"expected a scalar (the mean), got a tensor of shape {tuple(got.shape)}"
    if isinstance(got, torch.Tensor) and not torch.isfinite(got):
        return f"got {got.item()}: exp() overflowed; use the stable form of the formula"
    return compare_tensors(got, expected, atol=1e-4, rtol=1e-5)


def check_softmax_cross_entropy(fn: Callable) -> None:
    """Exercise: ``softmax_cross_entropy(logits, target)`` equals ``F.cross_entropy``."""
    cases = _loss_cases(707, F.cross_entropy)
    report(run_cases("softmax_cross_entropy", fn, cases, _compare_scalar))


def _bce_on_onehot(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
    return F.binary_cross_entropy_with_logits(logits, onehot)


def check_sigmoid_cross_entropy(fn: Callable) -> None:
    """Exercise: ``sigmoid_cross_entropy(logits, target)`` equals
    ``F.binary_cross_entropy_with_logits`` against the one-hot target."""
    cases = _loss_cases(808, _bce_on_onehot)
    report(run_cases("sigmoid_cross_entropy", fn, cases, _compare_scalar))


def check_unet_up(cls: Callable) -> None:
    """Exercise: ``UNetUp(c_in, c_skip, c_out)`` equals :class:`models.UNetUp` given its weights."""
    g = case_generator(909)
    cases: list[Case] = []
    for desc, (c_in, c_skip, c_out, h, w) in [
        ("32 -> 16 channels with a 16-channel skip, 4x4 -> 8x8", (32, 16, 16, 4, 4)),
        ("64 -> 32 channels with a 32-channel skip, 3x5 -> 6x10", (64, 32, 32, 3, 5)),
        ("16 -> 8 channels with a 4-channel skip (widths differ)", (16, 4, 8, 5, 5)),
    ]:
        reference = UNetUp(c_in, c_skip, c_out)
        with torch.no_grad():
            reference.up.bias.copy_(torch.randn(c_out, generator=g))
        reference = randomize_batch_norms(reference, seed=c_in + 10 * c_skip)
        x = torch.randn(2, c_in, h, w, generator=g)
        skip = torch.randn(2, c_skip, 2 * h, 2 * w, generator=g)
        cases.append((desc, (c_in, c_skip, c_out), (reference, (x, skip))))
    report(run_cases("UNetUp", cls, cases, compare_modules))
