"""Metrics on integer labels and label maps, from scratch, checked against torchmetrics.

- classification (notebook 02 on): ``confusion_matrix``, ``accuracy``;
- semantic segmentation (notebook 05): ``mean_accuracy``, ``per_class_iou``, ``mean_iou`` as
  defined in the FCN paper, and ``boundary_iou``, which scores only the pixels near the
  contours, where coarse predictions go wrong.

``confusion_matrix(pred, target, num_classes, ignore_index=None)``, ``mean_accuracy`` and
``mean_iou`` (same arguments) take integer labels of any shape, the same for both (a batch of
class labels or of label maps; float scores raise ``ValueError``: take their argmax first), with
values in ``0..num_classes-1``; target positions equal to ``ignore_index`` are not scored. The
means are over classes of the per-class accuracy and IoU, as defined in the FCN paper: a class
absent from both prediction and target is left out of the mean (neither 0 nor 1), a class that
is predicted but absent from the target scores 0.

Device: the label maps may be on any device; they are moved to the CPU first
(``_scored_labels``, ``accuracy``, ``boundary_iou``); results are Python floats, or CPU tensors
(``confusion_matrix``, ``per_class_iou``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "accuracy",
    "boundary_iou",
    "confusion_matrix",
    "mean_accuracy",
    "mean_iou",
    "per_class_iou",
]


def _scored_labels(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two integer label maps; return their scored positions, flattened (int64), on the
    CPU (where every metric of this module computes)."""
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
    pred, target = pred.cpu().reshape(-1).long(), target.cpu().reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    for name, t in (("pred", pred), ("target", target)):
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(
                f"{name} labels must be in 0..{num_classes - 1}, "
                f"found {int(t.min())}..{int(t.max())}"
            )
    return pred, target


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
    pred, target = _scored_labels(pred, target, num_classes, ignore_index)
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of positions where ``pred == target`` (pixel accuracy for label maps)."""
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    if target.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return (pred.cpu() == target.cpu()).float().mean().item()


def _present(cm: torch.Tensor) -> torch.Tensor:
    """Classes that occur in the target or the prediction (a row or a column of cm is not 0)."""
    return (cm.sum(0) + cm.sum(1)) > 0


def per_class_iou(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> torch.Tensor:
    """IoU of every class, ``TP / (TP + FP + FN)``, over all positions together.

    Returns a (C,) float64 tensor; NaN for a class absent from both prediction and target
    (its IoU is 0/0: undefined, not 0 and not 1). Arguments as :func:`confusion_matrix`.
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index).double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp
    return torch.where(_present(cm), tp / union.clamp(min=1), torch.nan)


def mean_iou(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> float:
    """Mean over classes of the IoU (the FCN paper's "mean IU").

    Classes absent from both prediction and target are left out of the mean; a class that is
    predicted but absent from the target has IoU 0. Arguments as :func:`confusion_matrix`.
    With ``ignore_index`` outside ``0..C-1`` (255, say) this equals torchmetrics'
    ``multiclass_jaccard_index``; with an ``ignore_index`` that is a class label, torchmetrics
    also drops that class from the mean, while here only its target positions are skipped.
    """
    iou = per_class_iou(pred, target, num_classes, ignore_index)
    if torch.isnan(iou).all():
        raise ValueError("no position to score (every target position is ignored)")
    return iou.nanmean().item()


def mean_accuracy(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> float:
    """Mean over classes of the per-class accuracy ``TP / (number of target pixels of the class)``.

    Classes absent from both prediction and target are left out of the mean; a class that is
    predicted but absent from the target scores 0 (as in torchmetrics' macro accuracy).
    Arguments as :func:`confusion_matrix`.
    """
    cm = confusion_matrix(pred, target, num_classes, ignore_index).double()
    present = _present(cm)
    if not present.any():
        raise ValueError("no position to score (every target position is ignored)")
    acc = cm.diagonal() / cm.sum(1).clamp(min=1)
    return acc[present].mean().item()


def _inner_band(masks: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels of each mask within ``width`` pixels (chessboard distance) of its contour.

    masks: (N, K, H, W) bool. A mask minus its erosion by a (2w+1)x(2w+1) square; erosion is a
    max-pool of the complement. The image edge is not a contour (edge padding).
    """
    n, k, h, w = masks.shape
    outside = (~masks).float().reshape(n * k, 1, h, w)
    outside = F.pad(outside, (width,) * 4, mode="replicate")
    near_outside = F.max_pool2d(outside, 2 * width + 1, stride=1).reshape(n, k, h, w) > 0
    return masks & near_outside


def boundary_iou(
    pred: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    width: int = 2,
    ignore_index: int | None = None,
) -> float:
    """Mean over classes of the boundary IoU (Cheng et al., 2021) of integer label maps.

    For each class, compare only the pixels of the class within ``width`` pixels of its
    contour, in the prediction and in the target: IoU of those two thin bands, summed over
    all images. Interiors do not count, so a prediction with blurred or rounded edges scores
    low even when its mask IoU is high. Classes with no band pixels in either are left out.

    Args:
        pred, target: (H, W) or (N, H, W) integer label maps of the same shape.
        num_classes: C.
        width: band width in pixels (>= 1).
        ignore_index: target value whose pixels are not scored.
    """
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    _scored_labels(pred, target, num_classes, ignore_index)  # validates the label maps
    pred, target = pred.cpu(), target.cpu()
    if pred.dim() not in (2, 3):
        raise ValueError(f"expected (H, W) or (N, H, W) label maps, got shape {tuple(pred.shape)}")
    pred, target = pred.reshape(-1, *pred.shape[-2:]), target.reshape(-1, *target.shape[-2:])
    classes = torch.arange(num_classes, device=pred.device)[None, :, None, None]
    band_pred = _inner_band(pred[:, None] == classes, width)
    band_true = _inner_band(target[:, None] == classes, width)
    if ignore_index is not None:
        valid = (target != ignore_index)[:, None]
        band_pred, band_true = band_pred & valid, band_true & valid
    inter = (band_pred & band_true).sum((0, 2, 3)).double()
    union = (band_pred | band_true).sum((0, 2, 3)).double()
    scored = union > 0
    if not scored.any():
        raise ValueError("no contour to score: every map is a single class")
    return (inter[scored] / union[scored]).mean().item()
