"""The pieces of region-based detection that are not ops (notebook 06).

- ``sliding_window_proposals``: R-CNN's external region proposals, the simplest kind;
- ``anchor_boxes``: Faster R-CNN's anchors at one feature-map position (torchvision's
  ``AnchorGenerator``'s boxes, before it rounds them);
- ``label_proposals``: which proposals are objects (and of which class) for training;
- ``encode_boxes`` / ``decode_boxes`` (and ``BoxCoder``, the two with weights): R-CNN's
  box-regression targets, as torchvision's ``BoxCoder`` defines them (centre offsets in box
  widths, log size ratios);
- ``label_anchors`` / ``sample_anchors``: how Faster R-CNN's region proposal network picks the
  anchors it learns from (torchvision's ``Matcher`` and ``BalancedPositiveNegativeSampler``);
- ``postprocess``: class scores and per-class box deltas -> the final detections (per-class NMS,
  torchvision's ``batched_nms``: the detectors run library ops, ``course_utils.ops`` teaches them).

Boxes are (x1, y1, x2, y2) in pixels throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from .ops.boxes import box_iou, check_boxes

__all__ = [
    "BoxCoder",
    "anchor_boxes",
    "decode_boxes",
    "encode_boxes",
    "label_anchors",
    "label_proposals",
    "postprocess",
    "sample_anchors",
    "sample_balanced",
    "sliding_window_proposals",
]

# Deltas for the width and height are clamped before exp() (torchvision's limit), so that a
# wild regression output cannot overflow.
_MAX_LOG_SIZE = math.log(1000.0 / 16)


def sliding_window_proposals(
    image_size: int,
    sizes: Sequence[float] = (14, 20, 28, 38),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    stride: int = 4,
) -> torch.Tensor:
    """Every window of every size and aspect ratio, slid over the image with ``stride``.

    A window of size s and aspect ratio a (height / width) has area s^2, width s / sqrt(a)
    and height s * sqrt(a); windows that would leave the image are clipped to it.

    Returns:
        (P, 4) float32 boxes, in a fixed order (size, aspect ratio, row, column).
    """
    if image_size < 1 or stride < 1:
        raise ValueError(f"image_size and stride must be >= 1, got {image_size}, {stride}")
    windows = []
    for w, h in _box_shapes(sizes, aspect_ratios, size_first=True):
        xs = torch.arange(0, max(image_size - w, 0) + 1e-6, stride)
        ys = torch.arange(0, max(image_size - h, 0) + 1e-6, stride)
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        boxes = torch.stack([x, y, x + w, y + h], -1).reshape(-1, 4)
        windows.append(boxes.clamp(0, image_size))
    return torch.cat(windows).float()


def anchor_boxes(
    sizes: Sequence[float], aspect_ratios: Sequence[float], centre=(0.0, 0.0)
) -> torch.Tensor:
    """The anchors at one position: every size (sqrt of the area) x aspect ratio (h / w).

    An anchor of size s and aspect ratio a has width s / sqrt(a) and height s * sqrt(a), as in
    :func:`sliding_window_proposals`. The same boxes, in the same order (aspect ratio first,
    then size), as ``torchvision``'s ``AnchorGenerator`` at one feature-map position, without
    its rounding: ``AnchorGenerator``'s anchors at the position (x, y) of the image are
    ``anchor_boxes(sizes, aspect_ratios).round() + (x, y, x, y)``.

    Returns:
        (len(aspect_ratios) * len(sizes), 4) float32 xyxy boxes centred on ``centre`` = (x, y).
    """
    cx, cy = (float(v) for v in centre)
    boxes = [
        [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        for w, h in _box_shapes(sizes, aspect_ratios)
    ]
    return torch.tensor(boxes, dtype=torch.float32)


def _box_shapes(
    sizes: Sequence[float], aspect_ratios: Sequence[float], size_first: bool = False
) -> list[tuple[float, float]]:
    """(width, height) of a box of area s^2 and aspect ratio a = height / width, for every
    pair: aspect ratio first, then size (torchvision's anchor order), or size first."""
    if not sizes or not aspect_ratios or min(sizes) <= 0 or min(aspect_ratios) <= 0:
        raise ValueError("sizes and aspect_ratios must be non-empty and positive")
    if size_first:
        pairs = [(s, a) for s in sizes for a in aspect_ratios]
    else:
        pairs = [(s, a) for a in aspect_ratios for s in sizes]
    return [(s / math.sqrt(a), s * math.sqrt(a)) for s, a in pairs]


def label_proposals(
    proposals: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    fg_iou: float = 0.5,
    bg_iou: float = 0.4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign each proposal the class of the object it overlaps most, R-CNN style.

    Returns:
        ``(labels, matched)``: (P,) int64 labels (the object's class if its IoU >= fg_iou,
        0 = background if < bg_iou, -1 = in between: not used for training) and (P,) the
        index of the best-overlapping object (meaningless where there is none).
    """
    check_boxes(proposals, "proposals")
    check_boxes(gt_boxes, "gt_boxes")
    if not 0 <= bg_iou <= fg_iou <= 1:
        raise ValueError(f"need 0 <= bg_iou <= fg_iou <= 1, got {bg_iou}, {fg_iou}")
    p = proposals.shape[0]
    if gt_boxes.shape[0] == 0:
        zeros = torch.zeros(p, dtype=torch.int64, device=proposals.device)
        return zeros, zeros.clone()
    best_iou, matched = box_iou(proposals, gt_boxes).nan_to_num(0.0).max(1)
    labels = gt_labels[matched].clone()
    labels[best_iou < fg_iou] = -1
    labels[best_iou < bg_iou] = 0
    return labels, matched


def _centre_size(boxes: torch.Tensor):
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def encode_boxes(
    reference: torch.Tensor, boxes: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
) -> torch.Tensor:
    """Regression targets (dx, dy, dw, dh) that move ``reference`` boxes onto ``boxes``.

    dx = wx (x - x_ref) / w_ref, dy likewise, dw = ww log(w / w_ref), dh = wh log(h / h_ref);
    both (N, 4), with positive widths and heights. ``weights`` (wx, wy, ww, wh) scale the
    targets (torchvision: 1, 1, 1, 1 for the RPN, 10, 10, 5, 5 for the box head).
    """
    wx, wy, ww, wh = weights
    rx, ry, rw, rh = _centre_size(reference)
    x, y, w, h = _centre_size(boxes)
    return torch.stack(
        [wx * (x - rx) / rw, wy * (y - ry) / rh, ww * torch.log(w / rw), wh * torch.log(h / rh)],
        -1,
    )


def decode_boxes(
    reference: torch.Tensor, deltas: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
) -> torch.Tensor:
    """The inverse of :func:`encode_boxes`: apply (..., 4) deltas to (..., 4) reference boxes.

    The size deltas are clamped at log(1000 / 16) before ``exp`` (torchvision's limit), so that
    a wild regression output cannot overflow.
    """
    wx, wy, ww, wh = weights
    rx, ry, rw, rh = _centre_size(reference)
    dx, dy, dw, dh = deltas.unbind(-1)
    x, y = rx + dx / wx * rw, ry + dy / wy * rh
    w = rw * torch.exp((dw / ww).clamp(max=_MAX_LOG_SIZE))
    h = rh * torch.exp((dh / wh).clamp(max=_MAX_LOG_SIZE))
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], -1)


class BoxCoder:
    """:func:`encode_boxes` and :func:`decode_boxes` with fixed weights (torchvision's layout)."""

    def __init__(self, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)):
        if len(weights) != 4 or min(weights) <= 0:
            raise ValueError(f"weights must be 4 positive numbers (wx, wy, ww, wh), got {weights}")
        self.weights = tuple(float(w) for w in weights)

    def encode(self, anchors: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """(N, 4) deltas that move each anchor onto its box."""
        return encode_boxes(anchors, boxes, self.weights)

    def decode(self, anchors: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """(N, 4) boxes: each anchor moved by its deltas."""
        return decode_boxes(anchors, deltas, self.weights)


def label_anchors(
    anchors: torch.Tensor,
    gt_boxes: torch.Tensor,
    positive_iou: float = 0.7,
    negative_iou: float = 0.3,
) -> torch.Tensor:
    """Faster R-CNN's anchor labels for training the RPN: 1 object, 0 background, -1 ignored.

    An anchor is positive if its IoU with some object is >= ``positive_iou``, negative if its IoU
    with every object is < ``negative_iou``, ignored in between; and for each object, the
    anchors with the highest IoU with it (all of them, if tied) are positive whatever that IoU
    (so that every object has an anchor). Without objects every anchor is negative. As
    torchvision's ``Matcher(0.7, 0.3, allow_low_quality_matches=True)`` in its RPN.
    """
    check_boxes(anchors, "anchors")
    check_boxes(gt_boxes, "gt_boxes")
    if not 0 <= negative_iou <= positive_iou <= 1:
        raise ValueError(
            f"need 0 <= negative_iou <= positive_iou <= 1, got {negative_iou}, {positive_iou}"
        )
    if len(gt_boxes) == 0:
        return torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device)
    iou = box_iou(gt_boxes, anchors).nan_to_num(0.0)  # (G, A)
    best = iou.max(0).values
    labels = torch.full((len(anchors),), -1, dtype=torch.int64, device=anchors.device)
    labels[best < negative_iou] = 0
    labels[best >= positive_iou] = 1
    labels[(iou == iou.max(1, keepdim=True).values).any(0)] = 1
    return labels


def sample_balanced(
    positives: torch.Tensor, negatives: torch.Tensor, batch_size: int, positive_fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random balanced batch from index lists: at most ``int(batch_size * positive_fraction)``
    of ``positives`` and the rest of the batch from ``negatives`` (all of them if fewer), each
    drawn with ``torch.randperm`` from the global generator, positives first (torchvision's
    ``BalancedPositiveNegativeSampler``). Returns the picked indices of each, in drawn order.

    The permutations are drawn on the CPU (the global CPU generator) and then moved to the
    indices' device, so that a seeded run picks the same samples on every device."""
    n_pos = min(len(positives), int(batch_size * positive_fraction))
    n_neg = min(len(negatives), batch_size - n_pos)
    pick_pos = torch.randperm(len(positives), device="cpu")[:n_pos]
    pick_neg = torch.randperm(len(negatives), device="cpu")[:n_neg]
    return positives[pick_pos.to(positives.device)], negatives[pick_neg.to(negatives.device)]


def sample_anchors(
    labels: torch.Tensor, batch_size: int = 256, positive_fraction: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """A balanced random batch of labelled anchors, as torchvision's RPN samples per image.

    At most ``int(batch_size * positive_fraction)`` positives (label 1), drawn at random; the
    rest of the batch negatives (label 0), at random; anchors labelled -1 never. Uses the global
    random generator (``torch.randperm``), as torchvision does (:func:`sample_balanced`).

    Returns:
        ``(positive, negative)``: two boolean masks of ``labels``' shape.
    """
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got shape {tuple(labels.shape)}")
    picked = sample_balanced(
        (labels == 1).nonzero().squeeze(1),
        (labels == 0).nonzero().squeeze(1),
        batch_size,
        positive_fraction,
    )
    masks = torch.zeros(2, *labels.shape, dtype=torch.bool, device=labels.device)
    for mask, index in zip(masks, picked, strict=True):
        mask[index] = True
    return masks[0], masks[1]


def postprocess(
    proposals: torch.Tensor,
    class_logits: torch.Tensor,
    box_deltas: torch.Tensor,
    image_size: int,
    score_threshold: float = 0.05,
    nms_threshold: float = 0.5,
    max_detections: int = 20,
) -> dict[str, torch.Tensor]:
    """One image's detections from its proposals' class logits and per-class box deltas.

    Args:
        proposals: (P, 4); class_logits: (P, C + 1), column 0 the background;
        box_deltas: (P, 4 * C), the deltas of class c in columns 4(c-1) .. 4c-1.

    Returns:
        ``{"boxes": (D, 4), "scores": (D,), "labels": (D,)}``: every (proposal, class) pair
        scoring above ``score_threshold``, its box refined by that class's deltas and clipped
        to the image, after NMS within each class, the best ``max_detections`` kept.
    """
    p, c1 = class_logits.shape
    num_classes = c1 - 1
    scores = F.softmax(class_logits, 1)[:, 1:]  # (P, C)
    deltas = box_deltas.reshape(p, num_classes, 4)
    boxes = decode_boxes(proposals[:, None, :].expand(p, num_classes, 4), deltas)
    boxes = boxes.clamp(0, image_size).reshape(-1, 4)
    labels = torch.arange(1, num_classes + 1, device=class_logits.device).repeat(p)
    scores = scores.reshape(-1)
    keep = scores > score_threshold
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]  # NMS per class
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}
