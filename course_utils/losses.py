"""The losses of notebooks 05 (segmentation) and 08 (the keypoint head), from the logits.

The segmentation losses take logits (B, C, ...) and integer targets (B, ...) with classes
0..C-1:

- :func:`softmax_cross_entropy`: one C-way softmax per pixel; the classes compete, exactly one
  is right. Equals ``F.cross_entropy``.
- :func:`sigmoid_cross_entropy`: C independent yes/no questions per pixel ("is this pixel of
  class c?"), each a sigmoid with a binary cross-entropy against the one-hot target, averaged
  over pixels and classes. Equals ``F.binary_cross_entropy_with_logits`` on the one-hot target.
- :func:`keypoint_loss`: one softmax over each landmark's m*m heatmap cells, as torchvision's
  Keypoint R-CNN.
- :func:`mask_loss`: Mask R-CNN's mask loss (notebook 07), a per-pixel sigmoid on the map of
  each positive region's ground-truth class, as torchvision's ``maskrcnn_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .ops.align import roi_align

__all__ = ["keypoint_loss", "mask_loss", "sigmoid_cross_entropy", "softmax_cross_entropy"]


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() < 2:
        raise ValueError("logits must be a float tensor (B, C, ...)")
    if not isinstance(target, torch.Tensor) or target.is_floating_point():
        raise ValueError("target must be an integer tensor of class labels (B, ...)")
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape {expected} for logits {tuple(logits.shape)}, "
            f"got {tuple(target.shape)}"
        )
    c = logits.shape[1]
    if target.numel() and (target.min() < 0 or target.max() >= c):
        raise ValueError(f"target labels must be in 0..{c - 1}")


def softmax_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of ``-log softmax(logits)[target]``, computed stably.

    ``log softmax(z)_k = z_k - logsumexp(z)``, and ``logsumexp(z) = m + log sum exp(z - m)``
    with ``m = max z``, so no exponential overflows.
    """
    _check(logits, target)
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_probs.gather(1, target.long().unsqueeze(1)).mean()


def sigmoid_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over pixels and classes of the binary cross-entropy of ``sigmoid(logits)``.

    With the one-hot target y and ``z = logits``: ``-y log s(z) - (1 - y) log(1 - s(z))``,
    written stably as ``max(z, 0) - z * y + log(1 + exp(-|z|))``.
    """
    _check(logits, target)
    onehot = F.one_hot(target.long(), logits.shape[1]).movedim(-1, 1).to(logits.dtype)
    return (logits.clamp(min=0) - logits * onehot + torch.log1p(torch.exp(-logits.abs()))).mean()


def keypoint_loss(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Keypoint R-CNN's loss: per landmark, one softmax over its heatmap's m*m cells.

    A landmark has exactly one location, so its m*m cells compete (a softmax cross-entropy
    against the target cell), unlike Mask R-CNN's per-pixel sigmoid. The loss is the mean
    over the valid (labelled, inside the RoI) landmarks of all instances; with none valid it
    is 0, still connected to ``logits`` for backward. Equals torchvision's
    ``roi_heads.keypointrcnn_loss``.

    Args:
        logits: (N, K, m, m); targets: (N, K) int64 cell indices and valid: (N, K) bool, from
            :func:`course_utils.ops.keypoints_to_heatmap`.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() != 4:
        raise ValueError("logits must be a float tensor (N, K, m, m)")
    n, k = logits.shape[:2]
    for name, t in (("targets", targets), ("valid", valid)):
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != (n, k):
            raise ValueError(f"{name} must be a tensor of shape {(n, k)}, got {t!r:.60}")
    keep = valid.bool()
    if not keep.any():
        return logits.sum() * 0
    return F.cross_entropy(logits.flatten(2)[keep], targets[keep])


def mask_loss(
    mask_logits: torch.Tensor,
    boxes: torch.Tensor,
    gt_masks: torch.Tensor,
    gt_labels: torch.Tensor,
    matched_idxs: torch.Tensor,
) -> torch.Tensor:
    """Mask R-CNN's mask loss for the positive regions of one image (notebook 07).

    ``mask_logits`` (P, C, M, M): the mask head's logits, one M x M map per class, for the P
    positive regions; ``boxes`` (P, 4): those regions (XYXY, image pixels); ``gt_masks`` (G, H, W)
    and ``gt_labels`` (G,): the image's objects; ``matched_idxs`` (P,): the object each region
    matches. Each region's target is its object's mask cropped to the region and resampled to
    M x M by RoIAlign (``aligned=False``, adaptive sampling: what torchvision does), and the loss
    is the binary cross-entropy of the logits of the object's class only, averaged over all
    P * M * M values. With no positive region it is 0 (still connected to ``mask_logits``).
    Equals ``torchvision.models.detection.roi_heads.maskrcnn_loss`` for one image.
    """
    if not isinstance(mask_logits, torch.Tensor) or mask_logits.dim() != 4:
        raise ValueError("mask_logits must be a (P, C, M, M) tensor")
    p, m = mask_logits.shape[0], mask_logits.shape[-1]
    if mask_logits.shape[-2] != m:
        raise ValueError(f"mask_logits must hold square M x M maps, got {tuple(mask_logits.shape)}")
    if tuple(boxes.shape) != (p, 4) or tuple(matched_idxs.shape) != (p,):
        raise ValueError(
            f"boxes must be ({p}, 4) and matched_idxs ({p},) for {p} regions, got "
            f"{tuple(boxes.shape)} and {tuple(matched_idxs.shape)}"
        )
    if gt_masks.dim() != 3 or tuple(gt_labels.shape) != (gt_masks.shape[0],):
        raise ValueError("gt_masks must be (G, H, W) and gt_labels (G,)")
    if p == 0:
        return mask_logits.sum() * 0
    rois = torch.cat([matched_idxs[:, None].to(boxes.dtype), boxes], dim=1)  # image index = object
    targets = roi_align(gt_masks[:, None].to(boxes.dtype), rois, m, 1.0, -1, False)[:, 0]
    logits = mask_logits[torch.arange(p, device=mask_logits.device), gt_labels[matched_idxs]]
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
