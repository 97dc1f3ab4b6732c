"""Checks for the exercises of notebook 06 (object detection).

``box_iou``, ``nms`` and ``roi_pool`` are compared with ``torchvision.ops`` (an independent
implementation) on random boxes and on hand-made cases; the matching and AP with
``course_utils.metrics``, whose COCO mode the tests compare with pycocotools, and with small
cases worked out in the comments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torchvision.ops as tvo
from torchvision.models.detection import _utils as tv_det_utils

from ..metrics.ap import average_precision, match_detections
from .core import Case, case_generator, compare_tensors, report, run_cases

__all__ = [
    "check_average_precision",
    "check_box_coder",
    "check_box_iou",
    "check_label_anchors",
    "check_match_detections",
    "check_nms",
    "check_roi_pool",
    "check_sample_anchors",
]


def _random_boxes(g: torch.Generator, n: int, size: float = 20.0, min_side: float = 1.0):
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2 + min_side
    return torch.cat([xy, xy + wh], 1)


def check_box_iou(fn: Callable) -> None:
    """Exercise: ``box_iou(boxes1, boxes2)`` -> (N, M) IoU of every pair, boxes (x1, y1, x2, y2)."""
    g = case_generator(606)
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
    g = case_generator(607)
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
    if not math.isfinite(got):
        return f"expected AP {expected:.6f}, got {got}"
    if abs(got - expected) > 1e-6:
        return f"expected AP {expected:.6f}, got {got:.6f}"
    return None


def check_average_precision(fn: Callable) -> None:
    """Exercise: ``average_precision(scores, true_positive, num_ground_truth)`` -> float.

    All-point interpolation (VOC2010 on): the area under the precision envelope (the best
    precision at this recall or beyond), over recall from 0 to 1.
    """
    g = case_generator(608)
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
        # no detection at all: recall never leaves 0 (the random cases below have precision
        # dips, which the envelope lifts)
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
    g = case_generator(609)
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
    g = case_generator(610)
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


# ---------------------------------------------------------------- the region proposal network


def _torchvision_anchor_labels(anchors: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
    """1 / 0 / -1 per anchor, as torchvision's RPN derives them from its Matcher."""
    if len(gt_boxes) == 0:
        return torch.zeros(len(anchors), dtype=torch.int64)
    matcher = tv_det_utils.Matcher(0.7, 0.3, allow_low_quality_matches=True)
    matched = matcher(tvo.box_iou(gt_boxes, anchors))
    labels = (matched >= 0).long()
    labels[matched == matcher.BETWEEN_THRESHOLDS] = -1
    return labels


def _compare_labels(got: Any, expected: torch.Tensor) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"expected a torch.Tensor of labels, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return (
            f"expected shape {tuple(expected.shape)} (one label per anchor), got {tuple(got.shape)}"
        )
    if got.dtype != torch.int64:
        return f"expected int64 labels (1, 0 or -1), got dtype {got.dtype}"
    if not torch.equal(got, expected):
        wrong = (got != expected).nonzero()[:, 0].tolist()
        i = wrong[0]
        return (
            f"{len(wrong)} anchor(s) labelled differently, e.g. anchor {i}: expected "
            f"{int(expected[i])}, got {int(got[i])}"
        )
    return None


def check_label_anchors(fn: Callable) -> None:
    """Exercise: ``label_anchors(anchors, gt_boxes)`` -> (A,) int64: 1 object, 0 background,
    -1 ignored (IoU >= 0.7 positive, < 0.3 negative, each object's best anchors positive)."""
    g = case_generator(611)
    gt = torch.tensor([[0.0, 0, 10, 10]])
    # IoU with the 10x10 object: 1, 70/100, 30/100, 20/100, 0
    strips = torch.tensor(
        [[0.0, 0, 10, 10], [0, 0, 10, 7], [0, 0, 10, 3], [0, 0, 10, 2], [20, 20, 30, 30]]
    )
    # the object's best anchor overlaps it 0.4 only; the second best 0.25
    weak = torch.tensor([[0.0, 0, 10, 4], [0, 0, 10, 2.5], [0, 0, 10, 1]])
    # two anchors tie as the object's best (0.5 each); a third overlaps 0.1
    ties = torch.tensor([[0.0, 0, 10, 5], [0, 5, 10, 10], [0, 0, 10, 1]])
    # the second object's best anchor overlaps it 0.2 only: below the negative threshold
    two = torch.tensor([[0.0, 0, 10, 10], [40, 40, 50, 50]])
    far = torch.tensor([[0.0, 0, 10, 10], [40, 40, 50, 42], [60, 60, 64, 64]])
    cases: list[Case] = [
        (
            "IoU 1, 0.7 (exactly), 0.3 (exactly), 0.2, 0",
            (strips, gt),
            torch.tensor([1, 1, -1, 0, 0]),
        ),
        ("an object whose best anchor overlaps only 0.4", (weak, gt), torch.tensor([1, 0, 0])),
        ("two anchors tie as an object's best", (ties, gt), torch.tensor([1, 1, 0])),
        (
            "an object whose best anchor overlaps only 0.2 (< 0.3)",
            (far, two),
            torch.tensor([1, 1, 0]),
        ),
        (
            "an image without objects: every anchor background",
            (strips, torch.zeros(0, 4)),
            torch.zeros(5, dtype=torch.int64),
        ),
    ]
    # anchors of 3 sizes on a grid (every 4 pixels) against random objects, as in the RPN
    centres = torch.arange(2.0, 64, 4)
    cy, cx = torch.meshgrid(centres, centres, indexing="ij")
    grid = []
    for half in (4.0, 8.0, 16.0):
        grid.append(torch.stack([cx - half, cy - half, cx + half, cy + half], -1).reshape(-1, 4))
    grid = torch.cat(grid)
    for desc, n in [("768 grid anchors, 3 random objects", 3), ("768 grid anchors, 6 objects", 6)]:
        xy = torch.rand(n, 2, generator=g) * 40
        objects = torch.cat([xy, xy + 6 + torch.rand(n, 2, generator=g) * 20], 1)
        cases.append((desc, (grid, objects), _torchvision_anchor_labels(grid, objects)))
    report(run_cases("label_anchors", fn, cases, _compare_labels))


def _sample_problem(got: Any, labels: torch.Tensor, batch_size: int, fraction: float):
    """None if ``got`` is a valid balanced sample of ``labels``, else what is wrong."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        return "expected a pair (positive mask, negative mask)"
    positive, negative = got
    for name, mask in (("positive", positive), ("negative", negative)):
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            return f"expected the {name} mask as a torch.bool tensor, got {kind}"
        if mask.shape != labels.shape:
            return f"expected a {name} mask of shape {tuple(labels.shape)}, got {tuple(mask.shape)}"
    if (positive & (labels != 1)).any():
        return "the positive mask picks anchors not labelled 1"
    if (negative & (labels != 0)).any():
        return "the negative mask picks anchors not labelled 0 (-1 means ignored)"
    sampler = tv_det_utils.BalancedPositiveNegativeSampler(batch_size, fraction)
    with torch.random.fork_rng():
        (pos,), (neg,) = sampler([labels.clone()])
    want = int(pos.sum()), int(neg.sum())
    got_counts = int(positive.sum()), int(negative.sum())
    if got_counts != want:
        return f"expected {want[0]} positives and {want[1]} negatives, got {got_counts}"
    return None


def _compare_sample(got: Any, expected: tuple) -> str | None:
    labels, batch_size, fraction, draws = expected
    if draws is None:
        return _sample_problem(got, labels, batch_size, fraction)
    # ``got`` is the list of several draws: every candidate must sometimes be picked, and
    # sometimes not (a fixed choice, such as the first ones, is not a random sample)
    for one in got:
        problem = _sample_problem(one, labels, batch_size, fraction)
        if problem:
            return problem
    for k, name in ((0, "positive"), (1, "negative")):
        counts = torch.stack([one[k] for one in got]).sum(0)
        candidates = labels == (1 - k)
        if (counts[candidates] == 0).any() or (counts[candidates] == len(got)).any():
            return (
                f"over {len(got)} draws some {name} anchors were never picked or always "
                "picked: draw them at random"
            )
    return None


def check_sample_anchors(fn: Callable) -> None:
    """Exercise: ``sample_anchors(labels, batch_size, positive_fraction)`` -> (positive,
    negative) boolean masks: a random balanced batch, as torchvision's
    ``BalancedPositiveNegativeSampler``."""
    g = case_generator(612)

    def labels_with(pos: int, neg: int, ignored: int) -> torch.Tensor:
        values = torch.tensor([1] * pos + [0] * neg + [-1] * ignored)
        return values[torch.randperm(len(values), generator=g)]

    cases: list[Case] = []
    for desc, (pos, neg, ign), batch, fraction in [
        ("plenty of both: 256 of 2,000 anchors, half positive", (300, 1500, 200), 256, 0.5),
        ("only 3 positives: the negatives fill the batch", (3, 500, 40), 16, 0.5),
        ("fewer anchors than the batch", (2, 5, 3), 16, 0.5),
        ("a quarter positive, 14 x 0.25 = 3.5 rounds down", (6, 30, 0), 14, 0.25),
        ("no positives at all", (0, 50, 10), 8, 0.5),
    ]:
        labels = labels_with(pos, neg, ign)
        cases.append((desc, (labels, batch, fraction), (labels, batch, fraction, None)))
    labels = labels_with(32, 32, 8)

    def forty_draws(labels, batch, fraction):
        return [fn(labels.clone(), batch, fraction) for _ in range(40)]

    draws_case = ("40 draws of 16 from 32 positives and 32 negatives", (labels, 32, 0.5))
    with torch.random.fork_rng():  # the answer draws from the global generator
        torch.manual_seed(613)
        verdict = run_cases("sample_anchors", fn, cases, _compare_sample)
        if verdict.startswith("sample_anchors: correct on"):  # all passed: now randomness
            line = run_cases(
                "sample_anchors",
                forty_draws,
                [(*draws_case, (labels, 32, 0.5, 40))],
                _compare_sample,
            )
            verdict = line if not line.startswith("sample_anchors: correct on") else None
        if verdict is None:
            verdict = _global_generator_problem(fn, labels)
        if verdict is None:
            verdict = f"sample_anchors: correct on {len(cases) + 2} cases"
    report(verdict)


def _global_generator_problem(fn: Callable, labels: torch.Tensor) -> str | None:
    """None if ``fn`` draws from torch's global generator: the same seed, the same batch."""
    draws = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        try:
            draws.append(fn(labels.clone(), 16, 0.5))
        except Exception as error:
            return f"sample_anchors: raised {type(error).__name__}: {error}"
    same = all(torch.equal(a, b) for a, b in zip(draws[0], draws[1], strict=True))
    differ = any(not torch.equal(a, b) for a, b in zip(draws[0], draws[2], strict=True))
    if not (same and differ):
        return (
            'sample_anchors: wrong on case "torch.manual_seed makes it repeatable": draw with '
            "torch's global random generator (torch.randperm), so that the same seed gives the "
            "same batch and another seed another batch"
        )
    return None


def _compare_coder(got: Any, expected: torch.Tensor) -> str | None:
    return compare_tensors(got, expected, atol=1e-4, rtol=1e-4)


def check_box_coder(cls: Callable) -> None:
    """Exercise: ``BoxCoder(weights)`` with ``encode(anchors, boxes)`` -> (N, 4) deltas and
    ``decode(anchors, deltas)`` -> (N, 4) boxes, as torchvision's ``BoxCoder``."""
    g = case_generator(614)

    def boxes(n: int) -> torch.Tensor:
        return _random_boxes(g, n, size=50.0, min_side=2.0)

    def run(weights, method, anchors, other):
        coder = cls(weights)
        return getattr(coder, method)(anchors, other)

    cases: list[Case] = []
    anchor = torch.tensor([[10.0, 20, 30, 60]])  # centre (20, 40), 20 wide, 40 high
    # the box moved 5 right and twice as wide: dx = 5 / 20, dw = log 2
    moved = torch.tensor([[5.0, 20, 45, 60]])
    cases.append(
        (
            "one anchor, a box 5 px to the right and twice as wide",
            ((1.0, 1.0, 1.0, 1.0), "encode", anchor, moved),
            torch.tensor([[0.25, 0.0, math.log(2.0), 0.0]]),
        )
    )
    for weights in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0), (2.0, 3.0, 4.0, 0.5)):
        a, b = boxes(12), boxes(12)
        reference = tv_det_utils.BoxCoder(weights)
        cases.append(
            (
                f"encode 12 random boxes, weights {weights}",
                (weights, "encode", a, b),
                reference.encode_single(b, a),
            )
        )
        deltas = torch.randn(12, 4, generator=g)
        cases.append(
            (
                f"decode 12 random deltas, weights {weights}",
                (weights, "decode", a, deltas),
                reference.decode_single(deltas, a),
            )
        )
    wild = torch.tensor([[0.0, 0.0, 9.0, -3.0], [0.5, -0.5, -2.0, 12.0]])
    a = boxes(2)
    cases.append(
        (
            "decode huge size deltas (clamped before exp)",
            ((1.0, 1.0, 1.0, 1.0), "decode", a, wild),
            tv_det_utils.BoxCoder((1.0, 1.0, 1.0, 1.0)).decode_single(wild, a),
        )
    )
    # dw / 5 = 6 is clamped to log(1000 / 16); dh / 5 = -5 is not (only large sizes are limited)
    wild = torch.tensor([[0.0, 0.0, 30.0, -25.0], [1.0, 2.0, -25.0, 30.0]])
    cases.append(
        (
            "decode huge deltas with weights (10, 10, 5, 5): the clamp applies after dividing",
            ((10.0, 10.0, 5.0, 5.0), "decode", a, wild),
            tv_det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0)).decode_single(wild, a),
        )
    )
    report(run_cases("BoxCoder", run, cases, _compare_coder))
