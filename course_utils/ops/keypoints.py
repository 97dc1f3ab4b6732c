"""The keypoint head's encoding and decoding (notebook 08), as torchvision's Keypoint R-CNN.

A landmark (x, y) of an instance is learned as a *class* among the m x m cells of its RoI's
heatmap: :func:`keypoints_to_heatmap` gives that cell's flat index (torchvision's
``roi_heads.keypoints_to_heatmap``, the same results), and :func:`heatmaps_to_keypoints` maps a
heatmap's arg-max cell back to the image (the centre of the cell; torchvision's version
upsamples the heatmap to the box's size with bicubic interpolation first, which places the
point within one cell of ours). :func:`flip_keypoints` mirrors landmarks for a horizontal flip
and swaps left and right (torchvision's ``references/detection`` flip, with a given permutation).
"""

from __future__ import annotations

import torch

from ._utils import check_rois, check_tensor

__all__ = ["flip_keypoints", "heatmaps_to_keypoints", "keypoints_to_heatmap"]


def keypoints_to_heatmap(
    keypoints: torch.Tensor, rois: torch.Tensor, heatmap_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each landmark's target cell in its RoI's ``heatmap_size`` x ``heatmap_size`` grid.

    Args:
        keypoints: (N, K, 3) x, y, visibility in image pixels (continuous coordinates).
        rois: (N, 4) the box each instance's heatmap covers, x1, y1, x2, y2.
        heatmap_size: m, the heatmap's side in cells.

    Returns:
        ``(targets, valid)``: (N, K) int64 flat cell index ``row * m + col`` (0 where not
        valid) and (N, K) bool, True where the landmark is labelled (visibility > 0) and falls
        inside the RoI. A landmark exactly on the right or bottom edge goes to the last cell.
    """
    check_tensor(keypoints, "keypoints", "(N, K, 3) of x, y, visibility", 3)
    if keypoints.shape[-1] != 3:
        raise ValueError(
            f"keypoints must be (N, K, 3) of x, y, visibility, got {tuple(keypoints.shape)}"
        )
    check_rois(rois, len(keypoints), "instances")
    if not isinstance(heatmap_size, int) or heatmap_size < 1:
        raise ValueError(f"heatmap_size must be a positive int, got {heatmap_size!r}")
    x1, y1, x2, y2 = (rois[:, i, None] for i in range(4))
    x, y = keypoints[..., 0], keypoints[..., 1]
    col = ((x - x1) * (heatmap_size / (x2 - x1))).floor().long()
    row = ((y - y1) * (heatmap_size / (y2 - y1))).floor().long()
    col = torch.where(x == x2, heatmap_size - 1, col)
    row = torch.where(y == y2, heatmap_size - 1, row)
    inside = (col >= 0) & (col < heatmap_size) & (row >= 0) & (row < heatmap_size)
    valid = inside & (keypoints[..., 2] > 0)
    return torch.where(valid, row * heatmap_size + col, 0), valid


def heatmaps_to_keypoints(logits: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """Decode heatmaps: the arg-max cell of each landmark's map, mapped back into the image.

    Args:
        logits: (N, K, m, m) one heatmap per landmark per instance (logits or probabilities).
        rois: (N, 4) the boxes the heatmaps cover.

    Returns:
        (N, K, 2) x, y: the centre of the arg-max cell, ``x1 + (col + 0.5) * (x2 - x1) / m``.
    """
    check_tensor(logits, "logits", "(N, K, m, m)", 4)
    check_rois(rois, len(logits), "heatmaps")
    n, k, rows, cols = logits.shape
    best = logits.reshape(n, k, rows * cols).argmax(-1)
    cell = torch.stack([best % cols, best // cols], -1).to(rois.dtype) + 0.5  # (col, row)
    size = torch.stack([(rois[:, 2] - rois[:, 0]) / cols, (rois[:, 3] - rois[:, 1]) / rows], -1)
    return rois[:, None, :2] + cell * size[:, None, :]


def flip_keypoints(
    keypoints: torch.Tensor, width: float, flip_index: torch.Tensor | list[int] | tuple[int, ...]
) -> torch.Tensor:
    """The landmarks of people in an image flipped left to right (notebook 08, Exercise 4).

    Coordinates are continuous (pixel column ``c`` spans ``[c, c + 1)``, its centre is
    ``c + 0.5``), so a point at ``x`` goes to ``width - x``, as boxes do in
    ``torchvision.transforms.v2.functional.horizontal_flip``. (torchvision's ``KeyPoints``
    tv_tensor instead maps ``x`` to ``width - 1 - x``: it takes a point's ``x`` as a pixel
    index.) The flip turns the person's left side into a right side, so the landmarks are
    also permuted: landmark ``k`` of the result is landmark ``flip_index[k]`` of the input,
    its x, y and visibility together.

    Args:
        keypoints: (N, K, 3) x, y, visibility (or (N, K, 2) x, y).
        width: the image's width in pixels.
        flip_index: K ints, a permutation that swaps each left landmark with its right
            partner (:data:`course_utils.datasets.PERSON_FLIP_INDEX` for the stick figures).

    Returns:
        A new tensor of the same shape; visibility flags are unchanged, only reordered.
    """
    if not isinstance(keypoints, torch.Tensor) or keypoints.dim() != 3 or keypoints.shape[-1] < 2:
        raise ValueError("keypoints must be a tensor (N, K, 3) of x, y, visibility")
    index = torch.as_tensor(flip_index, dtype=torch.long, device=keypoints.device)
    k = keypoints.shape[1]
    if index.shape != (k,) or not torch.equal(
        index.sort().values, torch.arange(k, device=index.device)
    ):
        raise ValueError(f"flip_index must be a permutation of 0..{k - 1}, got {flip_index}")
    if not torch.equal(index[index], torch.arange(k, device=index.device)):
        raise ValueError(
            f"flip_index must pair landmarks (flip twice = identity), got {flip_index}"
        )
    flipped = keypoints[:, index].clone()
    flipped[..., 0] = width - flipped[..., 0]
    return flipped
