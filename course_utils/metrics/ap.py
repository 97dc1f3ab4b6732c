"""Average precision for detection, instance segmentation and keypoints (notebooks 06-08).

The lecture's rule: a detection is a true positive when it has the class of a ground-truth
object and overlaps it with IoU above a threshold, and that object was not already claimed by
a higher-scoring detection; every other detection (mislocalised, misclassified, a duplicate)
is a false positive. Sorting all detections of a class by score and walking down the list
traces the precision-recall curve; AP is the area under it, and mAP the mean over classes.

``mean_average_precision(preds, targets, iou_threshold=0.5, iou_type="bbox",
interpolation="voc", oks_sigmas=0.07)``:

- ``preds`` and ``targets``: one dict per image, in torchvision's detection format: ``boxes``
  (N, 4) xyxy and ``labels`` (N,), with ``scores`` (N,) in the predictions; for
  ``iou_type="segm"`` ``masks`` (N, H, W), bool or 0/1 (predicted ones may also be
  (N, 1, H, W) probabilities, thresholded at 0.5); for ``iou_type="keypoints"`` ``keypoints``
  (N, K, 3). Tensors on any device, or anything ``torch.as_tensor`` takes.
- Matching, per image and class: the detections in decreasing score, each taking the unclaimed
  object of its class it overlaps most when that IoU is at least ``iou_threshold`` (the
  lecture writes "> 0.5", COCO ">= 0.5": they differ only at exactly 0.5); a duplicate is a
  false positive.
- ``interpolation="voc"``: all-point interpolation (VOC2010 on); ``"coco"``: COCO's 101 recall
  points and at most 100 detections per image and class, and then the AP of every class agrees
  with pycocotools' COCOeval at the same IoU threshold (area "all", maxDets 100) within 1e-4.
- Returns ``{"map": float, "per_class": {label: AP}, "curves": {label: (precision,
  recall)}}``: classes without ground truth are left out of the mean (``"map"`` is NaN when no
  class has any).

Device: the inputs are moved to the CPU first (``_field`` for the dicts, the start of
``average_precision``); results are Python floats and CPU tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..ops.boxes import box_iou
from ..ops.masks import mask_iou
from .keypoints import box_area, object_keypoint_similarity
from .matching import greedy_assignment, match_detections

__all__ = [
    "average_precision",
    "coco_mean_average_precision",
    "greedy_assignment",
    "match_detections",
    "mean_average_precision",
]

_COCO_MAX_DETECTIONS = 100


def average_precision(
    scores: torch.Tensor, true_positive: torch.Tensor, num_ground_truth: int, interpolation="voc"
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """AP of one class from its detections, pooled over all images.

    Args:
        scores: (D,) confidences; true_positive: (D,) bool from :func:`match_detections`.
        num_ground_truth: the number of objects of the class (recall's denominator), > 0.
        interpolation: ``"voc"``: the exact area under the precision envelope (all points,
            VOC2010 on); ``"coco"``: the mean of the envelope at recall 0, 0.01, ..., 1.

    Returns:
        ``(ap, precision, recall)``, the last two the curve after each detection in
        decreasing score order (for plotting).
    """
    if num_ground_truth <= 0:
        raise ValueError("AP is undefined for a class without ground-truth objects")
    if interpolation not in ("voc", "coco"):
        raise ValueError(f'interpolation must be "voc" or "coco", got {interpolation!r}')
    scores, true_positive = scores.cpu(), true_positive.cpu()
    order = torch.argsort(scores, descending=True, stable=True)
    tp = true_positive[order].double().cumsum(0)
    fp = (~true_positive[order]).double().cumsum(0)
    recall = tp / num_ground_truth
    precision = tp / (tp + fp).clamp(min=1)
    # the envelope: at each point, the best precision reachable at this recall or higher
    envelope = precision.flip(0).cummax(0).values.flip(0)
    if interpolation == "voc":
        previous = torch.cat([recall.new_zeros(1), recall[:-1]])
        ap = ((recall - previous) * envelope).sum().item()
    else:
        # recall levels computed as numpy.linspace does (i * 0.01, last one exactly 1), so that
        # a recall of exactly 0.7 falls on the same side of "0.7" as in pycocotools
        levels = torch.arange(101, dtype=torch.float64, device=recall.device) * 0.01
        levels[-1] = 1.0
        index = torch.searchsorted(recall, levels, side="left")
        padded = torch.cat([envelope, envelope.new_zeros(1)])
        ap = padded[index].mean().item()
    return ap, precision, recall


def _field(item: dict, key: str, index: int, kind: str):
    if key not in item:
        raise ValueError(
            f"{kind}[{index}] has no {key!r}; expected keys boxes, labels"
            + (", scores" if kind == "preds" else "")
        )
    return torch.as_tensor(item[key]).cpu()  # every metric computes on the CPU


def mean_average_precision(
    preds: Sequence[dict],
    targets: Sequence[dict],
    iou_threshold: float = 0.5,
    iou_type: str = "bbox",
    interpolation: str = "voc",
    oks_sigmas: float | Sequence[float] = 0.07,
) -> dict:
    """Mean over classes of the AP at one IoU threshold.

    Args:
        preds: one dict per image, torchvision's detection output: ``boxes`` (D, 4) xyxy,
            ``labels`` (D,), ``scores`` (D,), and ``masks`` (D, H, W) for ``iou_type="segm"``
            (bool, 0/1, or (D, 1, H, W) probabilities, thresholded at 0.5).
        targets: one dict per image: ``boxes``, ``labels`` (and ``masks``).
        iou_threshold: IoU (or OKS) needed for a match (>=).
        iou_type: ``"bbox"`` (box IoU), ``"segm"`` (mask IoU) or ``"keypoints"`` (the object
            keypoint similarity, :func:`object_keypoint_similarity`, of ``keypoints`` (D, K, 2+)
            with the targets' ``keypoints`` (G, K, 3); the targets' box areas set the scale).
        interpolation: ``"voc"`` (all points) or ``"coco"`` (101 recall points; COCO also
            keeps at most 100 detections per image and class, the highest-scoring).
        oks_sigmas: per-landmark (or one) falloff for ``iou_type="keypoints"``.

    Returns:
        ``{"map": float, "per_class": {label: AP}, "curves": {label: (precision, recall)}}``.
        Classes without ground truth are left out (their detections cannot be scored).
    """
    matches = _match_all(preds, targets, (iou_threshold,), iou_type, interpolation, oks_sigmas)
    return _summarize(*matches, 0, interpolation)


def _match_all(preds, targets, thresholds, iou_type, interpolation, oks_sigmas):
    """Every image's detections matched to its objects, class by class, at each threshold.

    The overlaps (box IoU, mask IoU or OKS) of an image are computed once, for all thresholds.
    Returns ``(scores, hits, num_gt)``: per class, the detections' scores (one tensor per
    image), their true-positive flags per threshold (``hits[c][t]``, one tensor per image),
    and the number of objects.
    """
    if iou_type not in ("bbox", "segm", "keypoints"):
        raise ValueError(f'iou_type must be "bbox", "segm" or "keypoints", got {iou_type!r}')
    if interpolation not in ("voc", "coco"):
        raise ValueError(f'interpolation must be "voc" or "coco", got {interpolation!r}')
    if len(preds) != len(targets):
        raise ValueError(f"got {len(preds)} predictions for {len(targets)} images")
    scores_by_class: dict[int, list[torch.Tensor]] = {}
    hits_by_class: dict[int, list[list[torch.Tensor]]] = {}
    num_gt: dict[int, int] = {}
    for i, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        p_labels, t_labels = (
            _field(pred, "labels", i, "preds"),
            _field(target, "labels", i, "targets"),
        )
        p_scores = _field(pred, "scores", i, "preds").float()
        if iou_type == "bbox":
            p_items = _field(pred, "boxes", i, "preds").float()
            overlaps = box_iou(p_items, _field(target, "boxes", i, "targets").float())
        elif iou_type == "segm":
            p_items = _field(pred, "masks", i, "preds")
            t_items = _field(target, "masks", i, "targets")
            p_items = (p_items.squeeze(1) > 0.5) if p_items.is_floating_point() else p_items
            p_items = p_items.reshape(-1, *p_items.shape[-2:])
            overlaps = mask_iou(p_items, t_items.reshape(-1, *t_items.shape[-2:]))
        else:  # OKS, scaled by each object's box area
            p_items = _field(pred, "keypoints", i, "preds").float()
            t_items = _field(target, "keypoints", i, "targets").float()
            area = box_area(_field(target, "boxes", i, "targets").float())
            overlaps = object_keypoint_similarity(p_items, t_items, area, oks_sigmas)
        if not (len(p_labels) == len(p_scores) == len(p_items)):
            raise ValueError(f"preds[{i}]: labels, scores and {iou_type} items differ in length")
        overlaps = torch.nan_to_num(overlaps, nan=0.0)  # every detection with every object
        for c in torch.cat([p_labels, t_labels]).unique().tolist():
            det = (p_labels == c).nonzero().flatten()
            det = det[torch.argsort(p_scores[det], descending=True, stable=True)]
            if interpolation == "coco":
                det = det[:_COCO_MAX_DETECTIONS]
            gt = (t_labels == c).nonzero().flatten()
            num_gt[c] = num_gt.get(c, 0) + len(gt)
            iou = overlaps[det][:, gt]
            scores_by_class.setdefault(c, []).append(p_scores[det])
            hits = hits_by_class.setdefault(c, [[] for _ in thresholds])
            for at_threshold, threshold in zip(hits, thresholds, strict=True):
                at_threshold.append(match_detections(iou, threshold))
    return scores_by_class, hits_by_class, num_gt


def _summarize(scores_by_class, hits_by_class, num_gt, t: int, interpolation: str) -> dict:
    """The AP of every class with objects, and their mean, at the ``t``-th threshold."""
    per_class, curves = {}, {}
    for c in sorted(num_gt):
        if num_gt[c] == 0:
            continue
        ap, precision, recall = average_precision(
            torch.cat(scores_by_class[c]), torch.cat(hits_by_class[c][t]), num_gt[c], interpolation
        )
        per_class[c], curves[c] = ap, (precision, recall)
    mean = sum(per_class.values()) / len(per_class) if per_class else float("nan")
    return {"map": mean, "per_class": per_class, "curves": curves}


def coco_mean_average_precision(
    preds: Sequence[dict],
    targets: Sequence[dict],
    iou_type: str = "bbox",
    oks_sigmas: float | Sequence[float] = 0.07,
) -> float:
    """COCO's headline number: mAP with 101-point interpolation, averaged over the IoU (or
    OKS) thresholds 0.50, 0.55, ..., 0.95 ("mAP@[.5:.95]"); the overlaps are computed once."""
    thresholds = [0.5 + 0.05 * i for i in range(10)]
    matches = _match_all(preds, targets, thresholds, iou_type, "coco", oks_sigmas)
    maps = [_summarize(*matches, t, "coco")["map"] for t in range(len(thresholds))]
    return sum(maps) / len(maps)
