"""Evaluation metrics, from scratch (classification here; segmentation and detection follow).

Used from notebook 02 on. ``confusion_matrix`` follows DESIGN.md's contract and serves the
segmentation metrics of notebook 05 (``mean_accuracy``, ``mean_iou``) as well.
"""

from __future__ import annotations

import torch

__all__ = ["accuracy", "confusion_matrix"]


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> torch.Tensor:
    """Count (true class, predicted class) pairs.

    Args:
        pred, target: integer labels of the same shape (any shape: a batch of class labels
            or of label maps), values in ``0..num_classes-1``.
        num_classes: C.
        ignore_index: target value whose positions are not counted (for example 255 for
            "unlabelled" pixels).

    Returns:
        (C, C) int64 tensor ``cm`` with ``cm[t, p]`` = number of positions of true class t
        predicted as p (rows: truth, columns: prediction).
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError("pred and target must be tensors")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    if pred.is_floating_point() or target.is_floating_point():
        raise ValueError("pred and target must hold integer class labels (take argmax of scores)")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    for name, t in (("pred", pred), ("target", target)):
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(
                f"{name} labels must be in 0..{num_classes - 1}, "
                f"found {int(t.min())}..{int(t.max())}"
            )
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu()


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of positions where ``pred == target`` (pixel accuracy for label maps)."""
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    if target.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return (pred == target).float().mean().item()
