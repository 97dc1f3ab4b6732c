"""Greedy matching of detections to ground truth, shared by every AP and by PCK.

Device: the IoU matrix is moved to the CPU first (a loop over detections); results are on the CPU.
"""

from __future__ import annotations

import torch

__all__ = ["greedy_assignment", "match_detections"]


def match_detections(iou: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy matching of one image's detections of one class, given in decreasing score.

    Args:
        iou: (D, G) IoU of every detection with every ground-truth object.
        iou_threshold: the smallest IoU that counts as a match (the lecture writes "> 0.5",
            COCO ">= 0.5": they differ only at exactly 0.5).

    Returns:
        (D,) bool: True for a true positive. Each detection takes the unclaimed object it
        overlaps most (if that IoU reaches the threshold); claimed objects are out of reach,
        so a duplicate detection is a false positive.
    """
    return greedy_assignment(iou, iou_threshold) >= 0


def greedy_assignment(iou: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """:func:`match_detections`' matching, returning which object each detection took.

    Returns:
        (D,) int64: the index of the ground-truth object matched by each detection, -1 for none.
    """
    iou = iou.cpu()
    num_det, num_gt = iou.shape
    assigned = torch.full((num_det,), -1, dtype=torch.int64, device=iou.device)
    if num_gt == 0:
        return assigned
    claimed = torch.zeros(num_gt, dtype=torch.bool, device=iou.device)
    for d in range(num_det):  # sequential by nature: each match changes what is left
        candidates = iou[d].masked_fill(claimed, -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= iou_threshold:
            assigned[d] = best
            claimed[best] = True
    return assigned
