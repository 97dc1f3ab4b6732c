"""Boxes: format conversion, IoU and non-maximum suppression, as ``torchvision.ops`` (notebook 06).

Boxes are (x1, y1, x2, y2) in pixels with x1 <= x2 and y1 <= y2 ("xyxy"), one per row.
"""

from __future__ import annotations

import torch

__all__ = ["box_area", "box_convert", "box_iou", "check_boxes", "nms"]

_FORMATS = ("xyxy", "xywh", "cxcywh")


def check_boxes(boxes, name: str = "boxes") -> None:
    """Raise ``ValueError`` unless ``boxes`` is a float (K, 4) xyxy tensor with x1<=x2, y1<=y2."""
    if not isinstance(boxes, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"{name} must have shape (K, 4) as (x1, y1, x2, y2), got {tuple(boxes.shape)}"
        )
    if not boxes.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got {boxes.dtype}")
    if torch.isnan(boxes).any():
        raise ValueError(f"{name} contains NaN")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}[{i}] = {boxes[i].tolist()} has x2 < x1 or y2 < y1: boxes must be "
            f"(x1, y1, x2, y2) with x1 <= x2 and y1 <= y2"
        )


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert (K, 4) boxes between "xyxy", "xywh" (corner, size) and "cxcywh" (centre, size)."""
    for fmt in (in_fmt, out_fmt):
        if fmt not in _FORMATS:
            raise ValueError(f"box format must be one of {_FORMATS}, got {fmt!r}")
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError("boxes must be a (K, 4) tensor")
    a, b, c, d = boxes.unbind(1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return torch.stack([a, b, c, d], dim=1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """(N,) areas of (N, 4) xyxy boxes, as ``torchvision.ops.box_area``."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: (N, 4) and (M, 4) xyxy boxes -> (N, M).

    ``IoU = area(A ∩ B) / (area(A) + area(B) - area(A ∩ B))``. As in torchvision, two
    zero-area boxes have IoU 0/0 = NaN.
    """
    check_boxes(boxes1, "boxes1")
    check_boxes(boxes2, "boxes2")
    area1, area2 = box_area(boxes1), box_area(boxes2)
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression: keep the best box, drop boxes that overlap it, repeat.

    A box is dropped when its IoU with an already kept, higher-scoring box is greater than
    ``iou_threshold``. Returns the int64 indices of the kept boxes, by decreasing score.

    The greedy rule defines each box's fate by those of the boxes before it, so its result is
    the only ``keep`` with: box j is kept if and only if no kept box before it overlaps it.
    Starting from "all kept" and applying that rule to all boxes at once (a matrix-vector
    product) settles at least one more box per round, and a handful of rounds settle all of
    them on real detections. Long suppression chains would need many rounds: after
    ``_MAX_ROUNDS`` we fall back to the plain greedy loop, which runs once per kept box.
    """
    check_boxes(boxes)
    if not isinstance(scores, torch.Tensor) or scores.shape != (boxes.shape[0],):
        raise ValueError(f"scores must be a tensor of shape ({boxes.shape[0]},)")
    if torch.isnan(scores).any():
        raise ValueError("scores contains NaN")
    order = torch.argsort(scores, descending=True, stable=True)
    # overlaps[i, j]: box i (higher score) would suppress box j. NaN IoU compares False. The
    # comparison is in float64, as torchvision's C++ compares a float IoU with a double threshold
    # (in float32 the threshold 1/3 would round up and equal an IoU of exactly 1/3).
    iou = box_iou(boxes[order], boxes[order])
    overlaps = (iou.double() > iou_threshold).triu_(1)
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    weights = overlaps.to(boxes.dtype)
    for _ in range(_MAX_ROUNDS):
        new_keep = (keep.to(boxes.dtype) @ weights) == 0
        if torch.equal(new_keep, keep):
            return order[keep]
        keep = new_keep
    return order[_greedy(overlaps)]


_MAX_ROUNDS = 20


def _greedy(overlaps: torch.Tensor) -> torch.Tensor:
    """The textbook loop: take the first alive box, kill those it overlaps, repeat."""
    alive = torch.ones(overlaps.shape[0], dtype=torch.bool, device=overlaps.device)
    keep = torch.zeros_like(alive)
    while alive.any():
        i = int(alive.nonzero()[0])
        keep[i] = True
        alive &= ~overlaps[i]
        alive[i] = False
    return keep
