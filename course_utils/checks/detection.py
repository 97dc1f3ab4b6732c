"""Checks for the exercises of notebook 06 (object detection).

``box_iou``, ``nms`` and ``roi_pool`` are compared with ``torchvision.ops`` (an independent
implementation) on random boxes and on hand-made cases; the matching and AP with
``course_utils.metrics``, whose COCO mode the tests compare with pycocotools, and with small
cases worked out in the comments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torchvision.ops as tvo

from ..metrics.detection import average_precision, match_detections
from .core import Case, compare_tensors, report, run_cases

__all__ = [
    "check_average_precision",
    "check_box_iou",
    "check_match_detections",
    "check_nms",
    "check_roi_pool",
]


def _random_boxes(g: torch.Generator, n: int, size: float = 20.0, min_side: float = 1.0):
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + min_side
    return torch.cat([xy, xy + wh], 1)


def check_box_iou(fn: Callable) -> None:
    """Exercise: ``box_iou(boxes1, boxes2)`` -> (N, M) IoU of every pair, boxes (x1, y1, x2, y2)."""
    g = torch.Generator().manual_seed(606)
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    cases: list[Case] = [
        # overlap 1x1 = 1; union 4 + 4 - 1 = 7
        ("two 2x2 boxes shifted by (1, 1): IoU 1/7", (a, a + 1), torch.tensor([[1 / 7]])),
        ("a box with itself: IoU 1", (a, a.clone()), torch.tensor([[1.0]])),
        # the boxes only touch along x = 2: no area in common
        (
            "boxes that touch along an edge: IoU 0",
            (a, a + torch.tensor([2.0, 0, 2, 0])),
            torch.zeros(1, 1),
        ),
        # far apart: the overlap's width and height are both negative, their product positive
        ("boxes far apart diagonally: IoU 0", (a, a + 5), torch.zeros(1, 1)),
        (
            "a 1x1 box inside a 2x2 box: IoU 1/4",
            (a, torch.tensor([[0.5, 0.5, 1.5, 1.5]])),
            torch.tensor([[0.25]]),
        ),
    ]
    for desc, n, m in [
        ("5 and 3 random boxes", 5, 3),
        ("1 and 7 random boxes", 1, 7),
        ("6 and 6", 6, 6),
    ]:
        b1, b2 = _random_boxes(g, n), _random_boxes(g, m)
        cases.append((desc, (b1, b2), tvo.box_iou(b1, b2)))
    b2 = _random_boxes(g, 4)
    cases.append(
        ("no boxes on the left: a (0, 4) result", (torch.zeros(0, 4), b2), torch.zeros(0, 4))
    )
    report(run_cases("box_iou", fn, cases, compare_tensors))


def _compare_bools(got: Any, expected: torch.Tensor) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor of bools, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if got.dtype != torch.bool:
        return f"expected dtype torch.bool, got {got.dtype}"
    if not torch.equal(got, expected):
        return f"expected {expected.int().tolist()} (1 = true positive), got {got.int().tolist()}"
    return None


def check_match_detections(fn: Callable) -> None:
    """Exercise: ``match_detections(iou, iou_threshold)`` -> (D,) bool true positives.

    ``iou`` (D, G) holds one image's detections of one class (rows, in decreasing score) against
    its objects; each detection in turn takes the *unclaimed* object it overlaps most.
    """
    g = torch.Generator().manual_seed(607)
    cases: list[Case] = [
        # both detections overlap object 0 best: the second is a duplicate
        (
            "a duplicate: two detections on one object",
            (torch.tensor([[0.9], [0.8]]), 0.5),
            torch.tensor([True, False]),
        ),
        # detection 0 claims object 0; detection 1 overlaps object 0 most (0.7) but it is taken,
        # so it takes object 1 (0.6 >= 0.5)
        (
            "the best object is taken: take the best unclaimed one",
            (torch.tensor([[0.9, 0.1], [0.7, 0.6]]), 0.5),
            torch.tensor([True, True]),
        ),
        (
            "IoU exactly at the threshold counts (>=)",
            (torch.tensor([[0.5], [0.3]]), 0.5),
            torch.tensor([True, False]),
        ),
        (
            "a mislocalised detection (IoU 0.4 < 0.5)",
            (torch.tensor([[0.4, 0.0]]), 0.5),
            torch.tensor([False]),
        ),
        (
            "no objects in the image: all false",
            (torch.zeros(3, 0), 0.5),
            torch.zeros(3, dtype=torch.bool),
        ),
        ("no detections", (torch.zeros(0, 2), 0.5), torch.zeros(0, dtype=torch.bool)),
    ]
    for desc, d, m, thr in [
        ("8 detections, 4 objects", 8, 4, 0.5),
        ("10 detections, 3 objects, IoU 0.3", 10, 3, 0.3),
    ]:
        iou = torch.rand(d, m, generator=g) * (torch.rand(d, m, generator=g) < 0.6)
        cases.append((desc, (iou, thr), match_detections(iou, thr)))
    report(run_cases("match_detections", fn, cases, _compare_bools))


def _compare_ap(got: Any, expected: float) -> str | None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"expected one number (a float), got {type(got).__name__}"
    if abs(got - expected) > 1e-6:
        return f"expected AP {expected:.6f}, got {got:.6f}"
    return None


def check_average_precision(fn: Callable) -> None:
    """Exercise: ``average_precision(scores, true_positive, num_ground_truth)`` -> float.

    All-point interpolation (VOC2010 on): the area under the precision envelope (the best
    precision at this recall or beyond), over recall from 0 to 1.
    """
    g = torch.Generator().manual_seed(608)
    t, f = True, False
    cases: list[Case] = [
        (
            "every detection right, all objects found",
            (torch.tensor([0.9, 0.8]), torch.tensor([t, t]), 2),
            1.0,
        ),
        # ranks: TP, FP, TP with 2 objects: recall 1/2 at precision 1, then 1 at precision 2/3
        (
            "TP, FP, TP; 2 objects: AP = 1/2 * 1 + 1/2 * 2/3",
            (torch.tensor([0.9, 0.8, 0.7]), torch.tensor([t, f, t]), 2),
            0.5 + 1 / 3,
        ),
        # the same, given out of order: sort by score first
        (
            "the same detections, not sorted by score",
            (torch.tensor([0.7, 0.9, 0.8]), torch.tensor([t, t, f]), 2),
            0.5 + 1 / 3,
        ),
        # FP, TP; 1 object -> precision 1/2 at recall 1
        ("a false positive ranked first", (torch.tensor([0.9, 0.8]), torch.tensor([f, t]), 1), 0.5),
        # one of 4 objects found, precision 1 -> AP 1/4: recall never reaches 1
        ("objects never detected cost recall", (torch.tensor([0.5]), torch.tensor([t]), 4), 0.25),
        # FP, TP, FP, TP with 2 objects: precision 1/2 then 1/2 -> the envelope: 1/2 everywhere
        # (with TP, FP, FP, TP... the envelope lifts dips: see the next random cases)
        ("nothing detected: AP 0", (torch.zeros(0), torch.zeros(0, dtype=torch.bool), 3), 0.0),
    ]
    for desc, d, n in [
        ("20 random detections, 12 objects", 20, 12),
        ("9 random detections, 5 objects", 9, 5),
    ]:
        scores = torch.rand(d, generator=g)
        tp = torch.rand(d, generator=g) < 0.5
        cases.append((desc, (scores, tp, n), average_precision(scores, tp, n)[0]))
    report(run_cases("average_precision", fn, cases, _compare_ap))


def _compare_indices(got: Any, expected: torch.Tensor) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor of indices, got {type(got).__name__}"
    if got.dtype != torch.int64:
        return f"expected int64 indices (the boxes kept), got dtype {got.dtype}"
    if not torch.equal(got.flatten(), expected) or got.dim() != 1:
        return f"expected indices {expected.tolist()} (by decreasing score), got {got.tolist()}"
    return None


def check_nms(fn: Callable) -> None:
    """Exercise: ``nms(boxes, scores, iou_threshold)`` -> int64 indices of the kept boxes.

    As ``torchvision.ops.nms``: in decreasing score order, drop every box whose IoU with an
    already *kept* box is greater than the threshold.
    """
    g = torch.Generator().manual_seed(609)
    chain = torch.tensor([[0.0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]])
    cases: list[Case] = [
        # IoU(0, 1) = 70/130 > 0.5 drops box 1; IoU(0, 2) = 40/160: box 2 stays, although box 1
        # (dropped) overlapped it more than 0.5: only kept boxes suppress
        (
            "a chain: a dropped box suppresses nothing",
            (chain, torch.tensor([0.9, 0.8, 0.7]), 0.5),
            torch.tensor([0, 2]),
        ),
        (
            "scores not in box order",
            (chain, torch.tensor([0.7, 0.8, 0.9]), 0.5),
            torch.tensor([2, 0]),
        ),
        # IoU(0, 1) = 70/130 = 0.538...: kept at a threshold above it
        (
            "a high threshold keeps overlapping boxes",
            (chain, torch.tensor([0.9, 0.8, 0.7]), 0.6),
            torch.tensor([0, 1, 2]),
        ),
        ("no boxes", (torch.zeros(0, 4), torch.zeros(0), 0.5), torch.zeros(0, dtype=torch.int64)),
    ]
    for desc, n, thr in [
        ("30 random boxes, threshold 0.5", 30, 0.5),
        ("40 random boxes, threshold 0.3", 40, 0.3),
    ]:
        boxes = _random_boxes(g, n, size=30.0, min_side=4.0)
        scores = torch.rand(n, generator=g)
        cases.append((desc, (boxes, scores, thr), tvo.nms(boxes, scores, thr)))
    # two boxes with IoU exactly 1/2 (overlap 1, union 2): kept, since only IoU > 0.5 suppresses
    pair = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]])
    cases.append(
        (
            "IoU equal to the threshold: both kept",
            (pair, torch.tensor([0.9, 0.8]), 0.5),
            torch.tensor([0, 1]),
        )
    )
    report(run_cases("nms", fn, cases, _compare_indices))


def check_roi_pool(fn: Callable) -> None:
    """Exercise: ``roi_pool(features, rois, output_size, spatial_scale)`` -> (K, C, h, w).

    As ``torchvision.ops.roi_pool`` with ``rois`` a (K, 5) tensor of (image index, x1, y1, x2,
    y2) and ``output_size`` an int or an (h, w) pair.
    """
    g = torch.Generator().manual_seed(610)
    cases: list[Case] = []
    x = torch.arange(16.0).view(1, 1, 4, 4)
    rois = torch.tensor([[0.0, 0, 0, 3, 3]])
    cases.append(
        (
            "a 4x4 ramp, the whole map into 2x2 bins",
            (x, rois, 2, 1.0),
            tvo.roi_pool(x, rois, 2, 1.0),
        )
    )
    rois = torch.tensor([[0.0, 0.6, 0.4, 2.5, 2.4]])  # corners round to (1, 0, 3, 2)
    cases.append(
        ("fractional corners are rounded", (x, rois, 1, 1.0), tvo.roi_pool(x, rois, 1, 1.0))
    )
    for desc, (n, c, h, w), k, out, scale in [
        ("2 images 3x8x8, 5 RoIs, 2x2 bins, scale 1", (2, 3, 8, 8), 5, 2, 1.0),
        ("1 image 4x10x12, 6 RoIs, 3x2 bins, scale 1/2", (1, 4, 10, 12), 6, (3, 2), 0.5),
        (
            "2 images 2x16x16, 8 RoIs, 4x4 bins, scale 1/4 (a stride-4 map)",
            (2, 2, 16, 16),
            8,
            4,
            0.25,
        ),
    ]:
        feats = torch.randn(n, c, h, w, generator=g)
        boxes = _random_boxes(g, k, size=w / scale, min_side=2.0)
        index = torch.randint(0, n, (k, 1), generator=g).float()
        r = torch.cat([index, boxes], 1)
        cases.append((desc, (feats, r, out, scale), tvo.roi_pool(feats, r, out, scale)))
    report(run_cases("roi_pool", fn, cases, compare_tensors))
