"""Checks for the exercises of notebook 07 (instance segmentation).

``bilinear_interpolate`` and ``roi_align`` are compared with ``torchvision.ops.roi_align``, an
independent C++ implementation (its value *and* its gradient); ``mask_iou`` with hand-worked
cases and ``course_utils.ops.mask_iou``; ``mask_loss`` with torchvision's ``maskrcnn_loss``
(value and gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision.ops as tvo

from ..ops.masks import mask_iou
from .core import (
    Case,
    case_generator,
    compare_tensors,
    compare_value_and_gradient,
    report,
    run_cases,
    value_and_gradient,
)

__all__ = [
    "check_bilinear_interpolate",
    "check_mask_iou",
    "check_mask_loss",
    "check_roi_align",
    "torchvision_bilinear",
]


def torchvision_bilinear(feature: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinear reads of a (C, H, W) map at points (y, x) -> (C, P), by torchvision's RoIAlign.

    With ``aligned=True``, a zero-size box at (x + 0.5, y + 0.5) has exactly one sampling
    point, at (y, x) in pixel-index coordinates, so RoIAlign returns its bilinear value.
    """
    points = torch.stack([x, y, x, y], 1).double() + 0.5
    rois = torch.cat([torch.zeros(len(points), 1, dtype=points.dtype), points], 1)
    out = tvo.roi_align(feature[None].double(), rois, 1, 1.0, 1, aligned=True)
    return out[:, :, 0, 0].T.to(feature.dtype)


def _square(size: int, y: int, x: int, side: int) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[y : y + side, x : x + side] = True
    return mask


def check_mask_iou(fn: Callable) -> None:
    """Exercise: ``mask_iou(masks1, masks2)`` -> (N, M) IoU of every pair of (H, W) masks."""
    g = case_generator(707)
    a, b = _square(4, 0, 0, 2), _square(4, 1, 1, 2)
    yy, xx = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
    radius = ((yy - 4) ** 2 + (xx - 4) ** 2).sqrt()
    disc, ring = radius <= 4, (radius <= 4) & (radius > 2.5)
    empty = torch.zeros(4, 4, dtype=torch.bool)
    cases: list[Case] = [
        # 1 pixel in common; union 4 + 4 - 1 = 7
        (
            "two 2x2 squares overlapping in one pixel: IoU 1/7",
            (a[None], b[None]),
            torch.tensor([[1 / 7]]),
        ),
        ("a mask with itself: IoU 1", (a[None], a[None].clone()), torch.ones(1, 1)),
        # same bounding box (box IoU 1), but the ring has only part of the disc's pixels
        (
            "a ring and the disc it lies on: not their box IoU",
            (ring[None], disc[None]),
            mask_iou(ring[None], disc[None]),
        ),
        (
            "an empty mask against a square and an empty mask: 0, not 0/0",
            (empty[None], torch.stack([a, empty])),
            torch.zeros(1, 2),
        ),
        (
            "0/1 uint8 masks, as torchvision's targets",
            (a[None].to(torch.uint8), torch.stack([a, b]).to(torch.uint8)),
            torch.tensor([[1.0, 1 / 7]]),
        ),
    ]
    for desc, n, m, size in [
        ("4 and 3 random 10x12 masks", 4, 3, (10, 12)),
        ("1 and 5 random 6x6 masks", 1, 5, (6, 6)),
    ]:
        m1 = torch.rand(n, *size, generator=g) > 0.6
        m2 = torch.rand(m, *size, generator=g) > 0.4
        cases.append((desc, (m1, m2), mask_iou(m1, m2)))
    report(run_cases("mask_iou", fn, cases, compare_tensors))


def check_bilinear_interpolate(fn: Callable) -> None:
    """Exercise: ``bilinear_interpolate(feature, y, x)`` -> (C, P): the (C, H, W) map read at the
    P points (y[p], x[p]) by RoIAlign's rules (see the notebook)."""
    g = case_generator(708)
    ramp = torch.arange(6.0).view(1, 2, 3)  # rows [0 1 2] and [3 4 5]

    def case(desc, feature, y, x):
        y, x = torch.tensor(y), torch.tensor(x)
        return (desc, (feature, y, x), torchvision_bilinear(feature, y, x))

    cases: list[Case] = [
        case("points on pixels read the pixels", ramp, [0.0, 1.0, 1.0], [0.0, 2.0, 1.0]),
        case("between two pixels of a row, and of a column", ramp, [0.0, 0.25], [0.5, 0.0]),
        case("the centre of four pixels: their mean", ramp, [0.5], [0.5]),
        case(
            "within a pixel outside the map: the edge pixel",
            ramp,
            [-0.5, 1.6, 0.5],
            [0.2, 1.0, 2.9],
        ),
        case("more than a pixel outside: 0", ramp, [-1.2, 2.3, 0.0, 0.0], [0.0, 1.0, -1.5, 3.4]),
    ]
    for desc, (c, h, w), p in [
        ("3 channels 5x7, 20 points, some outside", (3, 5, 7), 20),
        ("2 channels 8x4, 30 points", (2, 8, 4), 30),
    ]:
        feature = torch.randn(c, h, w, generator=g)
        y = torch.rand(p, generator=g) * (h + 2.5) - 1.25
        x = torch.rand(p, generator=g) * (w + 2.5) - 1.25
        cases.append((desc, (feature, y, x), torchvision_bilinear(feature, y, x)))
    report(run_cases("bilinear_interpolate", fn, cases, compare_tensors))


def check_roi_align(fn: Callable) -> None:
    """Exercise: ``roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned)``
    -> (K, C, h, w), as ``torchvision.ops.roi_align``, and its gradient with respect to input."""
    if not callable(fn):
        report(f"roi_align: expected a function, got {type(fn).__name__}")
        return
    g = case_generator(710)
    cases: list[Case] = []

    def add(desc, x, rois, out, scale, ratio, aligned):
        args = (x, rois, out, scale, ratio, aligned)
        cases.append((desc, args, value_and_gradient(tvo.roi_align, *args)))

    ramp = torch.arange(16.0).view(1, 1, 4, 4)
    whole = torch.tensor([[0.0, 0, 0, 4, 4]])
    add("a 4x4 ramp, the whole map into 2x2 bins, 1 sample per bin", ramp, whole, 2, 1.0, 1, False)
    add("the same with aligned=True (half a pixel shift)", ramp, whole, 2, 1.0, 1, True)
    add("2x2 samples per bin", ramp, torch.tensor([[0.0, 0.3, 0.7, 3.1, 2.2]]), 2, 1.0, 2, True)
    add(
        "a zero-size box with aligned=False is stretched to 1 pixel",
        ramp,
        torch.tensor([[0.0, 1.2, 1.7, 1.2, 1.7]]),
        2,
        1.0,
        2,
        False,
    )
    for desc, (n, c, h, w), k, out, scale in [
        ("2 images 3x6x6, 5 RoIs, 2x2 bins, scale 1", (2, 3, 6, 6), 5, 2, 1.0),
        ("1 image 2x8x10, 6 RoIs, 3x2 bins, scale 1/2", (1, 2, 8, 10), 6, (3, 2), 0.5),
        (
            "2 images 4x12x12, 7 RoIs, 4x4 bins, scale 1/4 (a stride-4 map)",
            (2, 4, 12, 12),
            7,
            4,
            0.25,
        ),
    ]:
        x = torch.randn(n, c, h, w, generator=g)
        xy = torch.rand(k, 2, generator=g) * (w / scale) * 1.2 - 2  # some leave the map
        wh = torch.rand(k, 2, generator=g) * (w / scale) * 0.7 + 0.3
        rois = torch.cat([torch.randint(0, n, (k, 1), generator=g).float(), xy, xy + wh], 1)
        for ratio in (1, 2, -1):
            for aligned in (False, True):
                sampling = "adaptive sampling" if ratio <= 0 else f"sampling_ratio {ratio}"
                add(f"{desc}, {sampling}, aligned={aligned}", x, rois, out, scale, ratio, aligned)
    line = run_cases(
        "roi_align", lambda *a: value_and_gradient(fn, *a), cases, compare_value_and_gradient
    )
    report(line)


def torchvision_mask_loss(mask_logits, boxes, gt_masks, gt_labels, matched_idxs):
    """torchvision's ``maskrcnn_loss`` for one image (it takes lists, one entry per image)."""
    from torchvision.models.detection.roi_heads import maskrcnn_loss

    return maskrcnn_loss(mask_logits, [boxes], [gt_masks], [gt_labels], [matched_idxs])


def check_mask_loss(fn: Callable) -> None:
    """Exercise: ``mask_loss(mask_logits, boxes, gt_masks, gt_labels, matched_idxs)`` -> the
    scalar loss, as torchvision's ``maskrcnn_loss``: value and gradient w.r.t. the logits."""
    if not callable(fn):
        report(f"mask_loss: expected a function, got {type(fn).__name__}")
        return
    g = case_generator(707)
    cases: list[Case] = []

    def add(desc, masks, labels, boxes, matched, classes=4, m=8):
        logits = torch.randn(len(boxes), classes, m, m, generator=g) * 2
        args = (logits, boxes, masks, labels, matched)
        cases.append((desc, args, value_and_gradient(torchvision_mask_loss, *args)))

    square, ring = _square(24, 4, 5, 9).to(torch.uint8), _square(24, 10, 12, 10).to(torch.uint8)
    ring[13:17, 15:19] = 0  # a hole: the target is not a filled box
    masks = torch.stack([square, ring])
    exact = torch.tensor([[5.0, 4, 14, 13], [12, 10, 22, 20]])
    add(
        "two objects, each region its own true box",
        masks,
        torch.tensor([1, 3]),
        exact,
        torch.tensor([0, 1]),
    )
    jitter = exact[[0, 1, 1]] + torch.randn(3, 4, generator=g) * 1.5
    add(
        "three jittered regions on two objects of classes 2 and 3",
        masks,
        torch.tensor([2, 3]),
        jitter,
        torch.tensor([0, 1, 1]),
    )
    add(
        "two objects of the same class, 14x14 maps",
        masks,
        torch.tensor([2, 2]),
        exact + torch.tensor([-1.0, 0.5, 1.0, -0.5]),
        torch.tensor([1, 0]),
        m=14,
    )
    add(
        "a region that leaves the image",
        masks,
        torch.tensor([1, 2]),
        torch.tensor([[16.0, 8, 30, 26]]),
        torch.tensor([1]),
    )
    add(
        "no positive region",
        masks,
        torch.tensor([1, 2]),
        torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.int64),
    )
    line = run_cases(
        "mask_loss", lambda *a: value_and_gradient(fn, *a), cases, compare_value_and_gradient
    )
    report(line)
