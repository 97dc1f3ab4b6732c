"""Mask IoU (notebooks 06-07): the IoU of every pair of binary masks."""

from __future__ import annotations

import torch

from ._utils import check_tensor

__all__ = ["mask_iou"]


def mask_iou(masks1: torch.Tensor, masks2: torch.Tensor) -> torch.Tensor:
    """IoU of (N, H, W) and (M, H, W) binary masks (bool or 0/1) -> (N, M) float32.

    One matrix product counts all intersections. Two empty masks have IoU 0 (not 0/0).
    """
    check_tensor(masks1, "masks1", "(N, H, W)", 3)
    check_tensor(masks2, "masks2", "(M, H, W)", 3)
    if masks1.shape[1:] != masks2.shape[1:]:
        raise ValueError(
            f"masks must have the same H x W, got {tuple(masks1.shape[1:])} and "
            f"{tuple(masks2.shape[1:])}"
        )
    a = (masks1.flatten(1) > 0).float()
    b = (masks2.flatten(1) > 0).float()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
