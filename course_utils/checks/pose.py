"""Checks for the exercises of notebook 08 (pose estimation: the keypoint head).

``keypoints_to_heatmap`` and ``keypoint_loss`` are compared with torchvision's own Keypoint
R-CNN code (``roi_heads.keypoints_to_heatmap`` and ``roi_heads.keypointrcnn_loss``, the loss
with its gradient); ``heatmaps_to_keypoints`` with hand-worked cases and
``course_utils.ops.heatmaps_to_keypoints``; ``flip_keypoints`` with hand-worked cases and
``course_utils.ops.flip_keypoints`` (torchvision's ``references/detection`` flip: ``x -> width - x``
for continuous coordinates, and the ``flip_inds`` permutation), naming the classic mistakes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.models.detection import roi_heads

from ..ops.keypoints import flip_keypoints, heatmaps_to_keypoints
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
    "check_flip_keypoints",
    "check_heatmaps_to_keypoints",
    "check_keypoint_loss",
    "check_keypoints_to_heatmap",
]


def _random_instances(g: torch.Generator, n: int, k: int, outside: float = 0.2):
    """n RoIs and (n, k, 3) keypoints around them (a fraction ``outside`` beyond the RoI),
    visibility drawn from 0, 1, 2."""
    xy = torch.rand(n, 2, generator=g) * 40
    wh = torch.rand(n, 2, generator=g) * 30 + 4
    rois = torch.cat([xy, xy + wh], 1)
    rel = torch.rand(n, k, 2, generator=g) * (1 + 2 * outside) - outside
    points = rois[:, None, :2] + rel * wh[:, None]
    vis = torch.randint(0, 3, (n, k, 1), generator=g).float()
    return torch.cat([points, vis], 2), rois


def _tv_heatmap(keypoints, rois, size):
    targets, valid = roi_heads.keypoints_to_heatmap(keypoints, rois, size)
    return targets, valid.bool()


def _compare_pair(got, expected) -> str | None:
    if not isinstance(got, tuple | list) or len(got) != 2:
        return f"expected a tuple (targets, valid), got {type(got).__name__}"
    problem = compare_tensors(got[1], expected[1])
    if problem:
        return f"valid: {problem}"
    if got[0].is_floating_point():
        return f"targets must be integer cell indices, got {got[0].dtype}"
    problem = compare_tensors(got[0], expected[0])
    return f"targets: {problem}" if problem else None


def check_keypoints_to_heatmap(fn: Callable) -> None:
    """Exercise: ``keypoints_to_heatmap(keypoints, rois, heatmap_size)`` -> (targets, valid)."""
    g = case_generator(801)
    box = torch.tensor([[0.0, 0.0, 8.0, 8.0]])

    def case(desc, points, rois, size):
        points = torch.tensor(points) if not isinstance(points, torch.Tensor) else points
        return (desc, (points, rois, size), _tv_heatmap(points, rois, size))

    cases: list[Case] = [
        case(
            "an 8x8 box, 4x4 cells: (1, 1) -> cell 0, (5, 3) -> row 1 col 2 = 6, (7.9, 7.9) -> 15",
            [[[1.0, 1.0, 2], [5.0, 3.0, 2], [7.9, 7.9, 2]]],
            box,
            4,
        ),
        case(
            "a landmark on the right or bottom edge goes to the last cell",
            [[[8.0, 1.0, 2], [1.0, 8.0, 2], [8.0, 8.0, 1]]],
            box,
            4,
        ),
        case(
            "visibility 0 is not labelled (invalid); 1, hidden, is",
            [[[1.0, 1.0, 0], [1.0, 1.0, 1], [3.0, 6.0, 0]]],
            box,
            4,
        ),
        case(
            "landmarks left of, above, right of and below the box are invalid",
            [[[-0.5, 1.0, 2], [1.0, -2.0, 2], [8.5, 1.0, 2], [1.0, 9.0, 2]]],
            box,
            4,
        ),
        case(
            "a 10x20 box at (30, 12), 28x28 cells: separate x and y scales",
            [[[31.0, 13.0, 2], [39.0, 30.0, 2], [35.2, 22.1, 1]]],
            torch.tensor([[30.0, 12.0, 40.0, 32.0]]),
            28,
        ),
        case("one cell: every landmark inside is cell 0", [[[3.0, 5.0, 2]]], box, 1),
        case("no instance", torch.zeros(0, 11, 3), torch.zeros(0, 4), 7),
    ]
    for desc, n, k, size in [
        ("6 instances, 11 landmarks, 28x28 cells", 6, 11, 28),
        ("3 instances, 4 landmarks, 56x56 cells", 3, 4, 56),
        ("10 instances, 17 landmarks (COCO), 7x7 cells", 10, 17, 7),
    ]:
        points, rois = _random_instances(g, n, k)
        cases.append((desc, (points, rois, size), _tv_heatmap(points, rois, size)))
    report(run_cases("keypoints_to_heatmap", fn, cases, _compare_pair))


def _torchvision_loss(logits, keypoints_per_image, rois_per_image):
    """torchvision's loss on logits for the instances of several images (in order)."""
    matched = [torch.arange(len(kp)) for kp in keypoints_per_image]
    return roi_heads.keypointrcnn_loss(logits, rois_per_image, keypoints_per_image, matched)


def check_keypoint_loss(fn: Callable) -> None:
    """Exercise: ``keypoint_loss(logits, targets, valid)`` -> scalar, as torchvision's
    ``keypointrcnn_loss``, and its gradient with respect to the logits."""
    if not callable(fn):
        report(f"keypoint_loss: expected a function, got {type(fn).__name__}")
        return
    g = case_generator(802)
    cases: list[Case] = []

    def add(desc, logits, images):
        """``images``: a list of (keypoints, rois), one per image, as Keypoint R-CNN sees."""
        keypoints, rois = [kp for kp, _ in images], [r for _, r in images]
        encoded = [_tv_heatmap(kp, r, logits.shape[-1]) for kp, r in images]
        targets = torch.cat([t for t, _ in encoded])
        valid = torch.cat([v for _, v in encoded])
        reference = value_and_gradient(_torchvision_loss, logits, keypoints, rois)
        cases.append((desc, (logits, targets, valid), reference))

    box = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    one = torch.tensor([[[1.0, 1.0, 2], [5.0, 3.0, 2]]])
    add("all-zero logits: the loss is log(m*m) = log 16", torch.zeros(1, 2, 4, 4), [(one, box)])
    peaked = torch.zeros(1, 2, 4, 4)
    peaked[0, 0, 0, 0] = peaked[0, 1, 1, 2] = 5.0
    add("logits peaked on the right cells: a small loss", peaked, [(one, box)])
    half = torch.tensor([[[1.0, 1.0, 2], [5.0, 3.0, 0]]])
    add(
        "one landmark not labelled: the mean is over the valid one only",
        torch.randn(1, 2, 4, 4, generator=g),
        [(half, box)],
    )
    none = torch.tensor([[[1.0, 1.0, 0], [20.0, 3.0, 2]]])
    add(
        "no valid landmark: 0, and still a gradient (of zeros)",
        torch.randn(1, 2, 4, 4, generator=g),
        [(none, box)],
    )
    for desc, sizes, k, m in [
        ("one image, 5 instances, 11 landmarks, 28x28 heatmaps", (5,), 11, 28),
        ("two images, 3 + 4 instances, 4 landmarks, 8x8 heatmaps", (3, 4), 4, 8),
        ("three images, 2 + 0 + 3 instances, 17 landmarks, 14x14 heatmaps", (2, 0, 3), 17, 14),
    ]:
        images = [_random_instances(g, n, k) for n in sizes]
        logits = torch.randn(sum(sizes), k, m, m, generator=g) * 3
        add(desc, logits, images)
    line = run_cases(
        "keypoint_loss", lambda *a: value_and_gradient(fn, *a), cases, compare_value_and_gradient
    )
    report(line)


def check_heatmaps_to_keypoints(fn: Callable) -> None:
    """Exercise: ``heatmaps_to_keypoints(logits, rois)`` -> (N, K, 2), the arg-max cells'
    centres in image coordinates."""
    g = case_generator(803)
    one_hot = torch.zeros(1, 2, 4, 4)
    one_hot[0, 0, 1, 2] = one_hot[0, 1, 3, 0] = 1.0
    box = torch.tensor([[10.0, 20.0, 18.0, 28.0]])  # 8x8: cells of 2x2 pixels
    tall = torch.tensor([[10.0, 20.0, 18.0, 36.0]])  # 8x16: cells of 2x4 pixels
    cases: list[Case] = [
        (
            "one-hot 4x4 maps in an 8x8 box at (10, 20): row 1 col 2 -> (15, 23)",
            (one_hot, box),
            torch.tensor([[[15.0, 23.0], [11.0, 27.0]]]),
        ),
        (
            "the same maps in an 8x16 box: cells are 2 wide and 4 tall",
            (one_hot, tall),
            torch.tensor([[[15.0, 26.0], [11.0, 34.0]]]),
        ),
        ("no instance", (torch.zeros(0, 11, 28, 28), torch.zeros(0, 4)), torch.zeros(0, 11, 2)),
    ]
    for desc, n, k, m in [
        ("5 instances, 11 landmarks, 28x28 logits", 5, 11, 28),
        ("3 instances, 17 landmarks, 56x56 logits", 3, 17, 56),
    ]:
        logits = torch.randn(n, k, m, m, generator=g)
        _, rois = _random_instances(g, n, k)
        cases.append((desc, (logits, rois), heatmaps_to_keypoints(logits, rois)))
    report(run_cases("heatmaps_to_keypoints", fn, cases, compare_tensors))


#: COCO's 17 person keypoints' flip permutation (torchvision's references/detection ``flip_inds``).
_COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
#: The stick figures' (course_utils.datasets.PERSON_FLIP_INDEX; repeated so the check is fixed).
_FIGURE_FLIP = (0, 1, 4, 5, 2, 3, 6, 9, 10, 7, 8)


def _flip_mistake(got: torch.Tensor, keypoints, width, index) -> str | None:
    """Name a classic mistake when ``got`` equals it (None otherwise)."""
    same = torch.allclose
    mirrored = keypoints.clone()
    mirrored[..., 0] = width - mirrored[..., 0]
    expected = mirrored[:, index]
    if same(got, expected - torch.tensor([1.0, 0.0, 0.0])):
        return (
            "x is one pixel off: coordinates here are continuous (pixel column c spans c to "
            "c + 1), as for boxes, so where does a point at x = 0 go, and one at x = width?"
        )
    if same(got, mirrored):
        return (
            "x is mirrored but left and right are not swapped: the mirrored left limbs now lie "
            "where a right limb would, so they must take the right limbs' rows"
        )
    if same(got, keypoints[:, index]):
        return "the landmarks are swapped but x is not mirrored"
    moved_xy = expected.clone()
    moved_xy[..., 2] = keypoints[..., 2]
    if same(got, moved_xy):
        return "x and y moved with the swap, but the visibility flags stayed where they were"
    zeroed = expected.clone()
    zeroed[zeroed[..., 2] == 0] = 0
    if same(got, zeroed):
        return (
            "unlabelled landmarks (visibility 0) were set to 0, 0: keep and mirror their "
            "coordinates as well (COCO's files store 0, 0 there; our scenes keep the location)"
        )
    return None


def check_flip_keypoints(fn: Callable) -> None:
    """Exercise: ``flip_keypoints(keypoints, width, flip_index)`` -> (N, K, 3): x mirrored
    (``width - x``), left and right landmarks swapped, visibility moving with its landmark;
    the input not modified."""
    g = case_generator(804)
    cases: list[Case] = [
        (
            "1 person, 3 landmarks (0 its own partner, 1 <-> 2), width 10",
            (
                torch.tensor([[[2.5, 1.0, 2.0], [7.0, 3.0, 1.0], [0.5, 4.0, 0.0]]]),
                10,
                torch.tensor([0, 2, 1]),
            ),
            torch.tensor([[[7.5, 1.0, 2.0], [9.5, 4.0, 0.0], [3.0, 3.0, 1.0]]]),
        ),
    ]
    for desc, n, index, width in [
        ("4 stick figures, 11 landmarks, width 64", 4, _FIGURE_FLIP, 64),
        ("3 COCO people, 17 landmarks, width 640", 3, _COCO_FLIP, 640),
        ("2 stick figures in an image 45 pixels wide (odd)", 2, _FIGURE_FLIP, 45),
    ]:
        k = len(index)
        xy = torch.rand(n, k, 2, generator=g) * width
        vis = torch.randint(0, 3, (n, k, 1), generator=g).float()
        keypoints = torch.cat([xy, vis], -1)
        index = torch.tensor(index)
        cases.append((desc, (keypoints, width, index), flip_keypoints(keypoints, width, index)))
    cases.append(
        (
            "no person",
            (torch.zeros(0, 11, 3), 64, torch.tensor(_FIGURE_FLIP)),
            torch.zeros(0, 11, 3),
        )
    )

    def call(keypoints, width, index):
        before = keypoints.clone()
        return (
            fn(keypoints, width, index),
            not torch.equal(keypoints, before),
            (before, width, index),
        )

    def compare(got, expected):
        out, modified, args = got
        problem = compare_tensors(out, expected)
        if problem is None and modified:
            return (
                "it changed its input in place: return a new tensor and leave the input as it was"
            )
        if problem and isinstance(out, torch.Tensor) and out.shape == expected.shape:
            return _flip_mistake(out.detach().float(), *args) or problem
        return problem

    report(run_cases("flip_keypoints", call, cases, compare))
