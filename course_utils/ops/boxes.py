"""Boxes: format conversion, IoU and non-maximum suppression, as ``torchvision.ops`` (notebook 06).

Boxes are (x1, y1, x2, y2) in pixels with x1 <= x2 and y1 <= y2 ("xyxy"), one per row.
"""

from __future__ import annotations

import numpy as np
import torch

from ._utils import check_boxes, check_tensor, upcast

__all__ = ["box_area", "box_convert", "box_iou", "check_boxes", "nms"]

_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert (K, 4) boxes between "xyxy", "xywh" (corner, size) and "cxcywh" (centre, size)."""
    for fmt in (in_fmt, out_fmt):
        if fmt not in _FORMATS:
            raise ValueError(f"box format must be one of {_FORMATS}, got {fmt!r}")
    check_tensor(boxes, "boxes", "(K, 4)", 2)
    if boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (K, 4), got {tuple(boxes.shape)}")
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
    """(N,) areas of (N, 4) xyxy boxes, as ``torchvision.ops.box_area``.

    Float or integer boxes; as in torchvision, float16 and 8/16-bit integers are computed in
    float32 and int32, whose products do not overflow (a 100 x 100 int8 box has area 10,000).
    """
    boxes = upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: (N, 4) and (M, 4) xyxy boxes -> (N, M).

    ``IoU = area(A ∩ B) / (area(A) + area(B) - area(A ∩ B))``. As in torchvision, two
    zero-area boxes have IoU 0/0 = NaN; integer boxes give float32 IoU, and float16 boxes are
    computed in float32 (their areas would overflow float16's largest value, 65,504). Unlike
    torchvision, the coordinates are upcast before they are subtracted, not after.
    """
    check_boxes(boxes1, "boxes1", integers=True)
    check_boxes(boxes2, "boxes2", integers=True)
    return _iou(_with_areas(upcast(boxes1)), _with_areas(upcast(boxes2)))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Non-maximum suppression: keep the best box, drop boxes that overlap it, repeat.

    A box is dropped when its IoU with an already kept, higher-scoring box is greater than
    ``iou_threshold``. Returns the int64 indices of the kept boxes, by decreasing score.

    The rule is sequential (a box's fate depends on the fates of the boxes before it), so
    the boxes are taken in blocks of the next ``_BLOCK`` undecided ones, by decreasing score.
    One IoU matrix per block (the block's boxes against every undecided box) serves twice:
    its square part lets the greedy loop decide each box of the block, and the rows of the
    block's kept boxes then drop, all at once, every later box they overlap. The full N x N
    matrix is never computed, and after a crowded block few boxes are left to decide.
    """
    check_boxes(boxes)
    if not isinstance(scores, torch.Tensor) or scores.shape != (boxes.shape[0],):
        raise ValueError(f"scores must be a tensor of shape ({boxes.shape[0]},)")
    if torch.isnan(scores).any():
        raise ValueError("scores contains NaN")
    order = torch.argsort(scores, descending=True, stable=True)
    table = _with_areas(boxes[order])  # (N, 5): x1, y1, x2, y2, area, by decreasing score
    undecided = torch.arange(len(order), device=boxes.device)  # rows of table
    kept = []
    while len(undecided):
        block, later = table[undecided[:_BLOCK]], undecided[_BLOCK:]
        winners = _greedy(_overlaps(block, block, iou_threshold))
        kept.append(undecided[winners])
        dropped = _overlaps(block[winners], table[later], iou_threshold).any(0)
        undecided = later[~dropped]
    return order[torch.cat(kept)] if kept else order


_BLOCK = 128


def _with_areas(boxes: torch.Tensor) -> torch.Tensor:
    """(K, 4) boxes -> (K, 5) with their areas as a fifth column, computed once."""
    return torch.cat([boxes, box_area(boxes)[:, None]], 1)


def _iou(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """(R, C) IoU of boxes given with their areas (:func:`_with_areas`), unchecked."""
    top_left = torch.maximum(rows[:, None, :2], columns[None, :, :2])
    bottom_right = torch.minimum(rows[:, None, 2:4], columns[None, :, 2:4])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (rows[:, None, 4] + columns[None, :, 4] - inter)


def _overlaps(rows: torch.Tensor, columns: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """(R, C) bool, IoU > threshold. The comparison is in float64, as torchvision's C++
    compares a float IoU with a double threshold (in float32 the threshold 1/3 would round up
    and equal an IoU of exactly 1/3). NaN IoU (two empty boxes) compares False."""
    return _iou(rows, columns).double() > iou_threshold


def _greedy(overlaps: torch.Tensor) -> torch.Tensor:
    """The textbook loop on one block: (B, B) overlaps in score order -> indices kept.

    Each row becomes a Python integer whose bit j says "box i overlaps box j", so the loop
    over the block's boxes is integer arithmetic, not one tensor operation per box (the CUDA
    NMS kernels of torchvision pack overlaps into bit masks the same way). Bits of boxes
    already decided (j <= i) are set too, harmlessly: they are never read again.
    """
    bits = np.packbits(overlaps.cpu().numpy(), axis=1, bitorder="little")
    dropped, keep = 0, []
    for i, row in enumerate(bits):
        if not dropped >> i & 1:
            keep.append(i)
            dropped |= int.from_bytes(row.tobytes(), "little")
    return torch.tensor(keep, dtype=torch.long, device=overlaps.device)
