"""Keypoint metrics (notebook 08): PCK and the object keypoint similarity (OKS) behind COCO's
keypoint AP.

- PCK@alpha (percentage of correct keypoints): a labelled landmark is correct when the
  prediction lies within ``alpha * max(box width, box height)`` of it, the box being the
  person's ground-truth box (the bounding-box form of PCK, Yang & Ramanan 2013).
- OKS: COCO's soft version, ``mean_k exp(-d_k^2 / (2 s^2 kappa_k^2))`` over the labelled
  landmarks, where ``s^2`` is the object's area and ``kappa_k = 2 sigma_k`` how loosely
  landmark k is placed. COCO uses the segment's area; a stick figure's mask is mostly thin
  lines, so here the area is its box's. OKS plays IoU's role in the AP
  (``mean_average_precision(..., iou_type="keypoints")``).

Labelled means visibility > 0 (COCO's and torchvision's rule: hidden landmarks count).

Device: every function moves its tensor inputs to the CPU first; results are Python floats or
CPU tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..ops.boxes import box_area, box_iou
from .matching import greedy_assignment

__all__ = [
    "box_area",
    "left_right_swaps",
    "match_people",
    "object_keypoint_similarity",
    "pck",
    "within_radius",
]

_PRED_KEYS = ("boxes", "scores", "keypoints")
_TARGET_KEYS = ("boxes", "keypoints")


def _cpu(value) -> torch.Tensor:
    """A dict entry as a CPU tensor (where every metric computes)."""
    return torch.as_tensor(value).cpu()


def _check_keypoints(pred: torch.Tensor, target: torch.Tensor) -> None:
    if not isinstance(target, torch.Tensor) or target.dim() != 3 or target.shape[-1] != 3:
        raise ValueError("target keypoints must be a tensor (N, K, 3) of x, y, visibility")
    if not isinstance(pred, torch.Tensor) or pred.dim() != 3 or pred.shape[-1] < 2:
        raise ValueError("predicted keypoints must be a tensor (N, K, 2) or (N, K, 3)")
    if pred.shape[1] != target.shape[1]:
        raise ValueError(f"{pred.shape[1]} predicted landmarks for {target.shape[1]} targets")


def within_radius(
    pred: torch.Tensor, target: torch.Tensor, boxes: torch.Tensor, alpha: float = 0.1
) -> torch.Tensor:
    """(N, K) bool: each prediction lies within ``alpha * max(box width, box height)`` of its
    target landmark, labelled or not (NaN predictions are never within). PCK's rule."""
    pred, target, boxes = pred.cpu(), target.cpu(), boxes.cpu()
    size = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    distance = torch.linalg.vector_norm(pred[..., :2] - target[..., :2], dim=-1)
    return distance <= alpha * size[:, None]  # NaN compares False


def left_right_swaps(
    pred: torch.Tensor,
    target: torch.Tensor,
    boxes: torch.Tensor,
    flip_index: Sequence[int] | torch.Tensor,
    alpha: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left/right swaps of paired landmarks (elbows, hands, ...), person by person.

    A landmark counts (``eligible``) when it has a mirror partner (``flip_index[k] != k``), is
    labelled (visibility > 0) and its person was detected (the prediction is not NaN). It is
    ``swapped`` when it misses its own target (PCK@alpha's radius) but lies within that radius
    of its partner's target.

    Returns:
        ``(swapped, eligible)``: two (N, K) bool tensors, ``swapped`` within ``eligible``.
    """
    _check_keypoints(pred, target)
    pred, target, boxes = pred.cpu(), target.cpu(), boxes.cpu()
    index = torch.as_tensor(flip_index, dtype=torch.long, device=target.device)
    if index.shape != (target.shape[1],):
        raise ValueError(
            f"flip_index must hold {target.shape[1]} indices, got {tuple(index.shape)}"
        )
    paired = index != torch.arange(len(index), device=index.device)
    found = ~pred[:, :1, 0].isnan()  # (N, 1): a missed person's predictions are NaN
    eligible = paired & (target[..., 2] > 0) & found
    missed = ~within_radius(pred, target, boxes, alpha)
    swapped = eligible & missed & within_radius(pred, target[:, index], boxes, alpha)
    return swapped, eligible


def pck(
    pred: torch.Tensor,
    target: torch.Tensor,
    boxes: torch.Tensor,
    alpha: float = 0.1,
    per_keypoint: bool = False,
):
    """PCK@alpha of predictions paired with targets, person by person.

    Args:
        pred: (N, K, 2+) predicted x, y (NaN for a person the detector missed: wrong).
        target: (N, K, 3) x, y, visibility; boxes: (N, 4) the targets' boxes.
        alpha: the radius as a fraction of the box's longer side.
        per_keypoint: return (K,) PCK per landmark (NaN where none is labelled).

    Returns:
        The fraction of labelled landmarks that are correct (a float; NaN if none is
        labelled), or the (K,) tensor.
    """
    _check_keypoints(pred, target)
    if len(pred) != len(target) or len(boxes) != len(target):
        raise ValueError(f"got {len(pred)} predictions, {len(target)} targets, {len(boxes)} boxes")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    pred, target, boxes = pred.cpu(), target.cpu(), boxes.cpu()
    correct = within_radius(pred, target, boxes, alpha)
    labelled = target[..., 2] > 0
    hits = (correct & labelled).sum(0).double()
    counts = labelled.sum(0).double()
    if per_keypoint:
        return (hits / counts).float()
    return (hits.sum() / counts.sum()).item()


def object_keypoint_similarity(
    pred: torch.Tensor,
    target: torch.Tensor,
    areas: torch.Tensor,
    sigmas: float | Sequence[float] = 0.07,
) -> torch.Tensor:
    """(P, G) OKS of every predicted person with every ground-truth person.

    Args:
        pred: (P, K, 2+) predicted x, y; target: (G, K, 3) x, y, visibility.
        areas: (G,) the targets' areas (``s^2``).
        sigmas: one per landmark or one for all; 0.07 is close to COCO's elbows (0.072).

    Returns:
        (P, G) in [0, 1]; 0 for a target with no labelled landmark.
    """
    _check_keypoints(pred, target)
    if areas.shape != (len(target),):
        raise ValueError(
            f"areas must be a ({len(target)},) tensor, one per target, got {areas!r:.60}"
        )
    pred, target, areas = pred.cpu(), target.cpu(), areas.cpu()
    sig = torch.as_tensor(sigmas, dtype=torch.float64, device=target.device)
    sig = sig.expand(target.shape[1])
    d2 = (pred[:, None, :, :2].double() - target[None, :, :, :2].double()).pow(2).sum(-1)
    scale = 2 * areas.double()[None, :, None] * (2 * sig) ** 2 + torch.finfo(torch.float64).eps
    labelled = (target[..., 2] > 0).double()[None]  # (1, G, K)
    similarity = (torch.exp(-d2 / scale) * labelled).sum(-1) / labelled.sum(-1).clamp(min=1)
    return similarity.float()


def match_people(
    preds: Sequence[dict], targets: Sequence[dict], iou_threshold: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pair every ground-truth person with a detection, for :func:`pck`.

    Detections take, in decreasing score, the unclaimed person they overlap most (box IoU >=
    ``iou_threshold``), as in AP. Labels are ignored: every detection and target is a person.

    Returns:
        ``(pred, target, boxes)`` over all ground-truth people of all images: (M, K, 2)
        predicted landmarks (NaN where no detection matched), (M, K, 3) and (M, 4) targets.
    """
    if len(preds) != len(targets):
        raise ValueError(f"got {len(preds)} predictions for {len(targets)} images")
    paired, kept, boxes = [], [], []
    for i, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        for kind, item, keys in (("preds", pred, _PRED_KEYS), ("targets", target, _TARGET_KEYS)):
            missing = [k for k in keys if k not in item]
            if missing:
                raise ValueError(f"{kind}[{i}] has no {missing}; expected keys {list(keys)}")
        gt_kps, gt_boxes = _cpu(target["keypoints"]), _cpu(target["boxes"])
        order = torch.argsort(_cpu(pred["scores"]), descending=True, stable=True)
        det_boxes = _cpu(pred["boxes"])[order].float()
        taken = greedy_assignment(box_iou(det_boxes, gt_boxes.float()), iou_threshold)
        out = torch.full((len(gt_kps), gt_kps.shape[1], 2), float("nan"), device=gt_kps.device)
        hit = taken >= 0
        out[taken[hit]] = _cpu(pred["keypoints"])[order][hit][..., :2].float()
        paired.append(out)
        kept.append(gt_kps.float())
        boxes.append(gt_boxes.float())
    return torch.cat(paired), torch.cat(kept), torch.cat(boxes)
