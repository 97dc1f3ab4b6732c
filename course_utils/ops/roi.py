"""RoI pooling, as ``torchvision.ops.roi_pool`` (notebook 06: Fast R-CNN).

Each region of interest (a box on the input image) is mapped onto the feature map, split into
an ``output_size`` grid of bins, and each bin is max-pooled: every region gives a feature of the
same size, whatever its own size.
"""

from __future__ import annotations

import torch

from .boxes import check_boxes
from .convolution import check_feature_map

__all__ = ["roi_pool", "rois_from_boxes"]


def rois_from_boxes(boxes, num_images: int | None = None) -> torch.Tensor:
    """Normalise RoIs to a (K, 5) tensor of (batch index, x1, y1, x2, y2).

    ``boxes`` is either that tensor already or a list with one (L_i, 4) xyxy tensor per image.
    """
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            check_boxes(b, f"boxes[{i}]")
        if num_images is not None and len(boxes) > num_images:
            raise ValueError(f"got boxes for {len(boxes)} images, but the input has {num_images}")
        dtype = boxes[0].dtype if len(boxes) else torch.float32
        rois = [
            torch.cat([torch.full((len(b), 1), float(i), dtype=b.dtype, device=b.device), b], 1)
            for i, b in enumerate(boxes)
        ]
        return torch.cat(rois) if rois else torch.zeros(0, 5, dtype=dtype)
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 5:
        raise ValueError(
            "boxes must be a (K, 5) tensor of (batch index, x1, y1, x2, y2) or a list of "
            f"(L, 4) tensors, got {getattr(boxes, 'shape', type(boxes).__name__)}"
        )
    check_boxes(boxes[:, 1:])
    index = boxes[:, 0]
    if (
        (index != index.round()).any()
        or (index < 0).any()
        or (num_images is not None and (index >= num_images).any())
    ):
        raise ValueError(f"batch indices (column 0) must be whole numbers in 0..{num_images - 1}")
    return boxes


def _pair(size) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if not all(isinstance(v, int) and v > 0 for v in (h, w)):
        raise ValueError(f"output_size must be a positive int or (h, w), got {size!r}")
    return h, w


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round(): halves go away from zero (torch.round goes to the even neighbour)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _bins(start, end, size: int, limit: int):
    """Bin edges [lo, hi) along one axis for every RoI: (K, size) ints, clipped to [0, limit]."""
    length = (end - start + 1).clamp(min=1)  # the legacy "+ 1": pixel-inclusive ends
    bin_size = length / size
    p = torch.arange(size, dtype=start.dtype, device=start.device)
    lo = torch.floor(p * bin_size[:, None]) + start[:, None]
    hi = torch.ceil((p + 1) * bin_size[:, None]) + start[:, None]
    return lo.clamp(0, limit).long(), hi.clamp(0, limit).long()


def _window(lo: torch.Tensor, hi: torch.Tensor, size: int, limit: int) -> torch.Tensor:
    """Pixel indices lo, lo + 1, ... (``size`` of them) per bin, repeating lo past hi."""
    steps = torch.arange(size, device=lo.device)
    index = lo[..., None] + steps
    index = torch.where(index < hi[..., None], index, lo[..., None])
    return index.clamp(max=limit - 1)


def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0) -> torch.Tensor:
    """Max-pool every RoI into an ``output_size`` grid (Fast R-CNN's RoIPool).

    Args:
        input: (N, C, H, W) feature map.
        boxes: (K, 5) of (batch index, x1, y1, x2, y2) in image coordinates, or a list of
            (L_i, 4) xyxy tensors, one per image.
        output_size: int or (h, w).
        spatial_scale: feature-map pixels per image pixel (1/16 for a stride-16 backbone).

    Returns:
        (K, C, h, w). As in torchvision: box corners are scaled and *rounded* to whole
        feature-map pixels (the quantisation RoIAlign later removes), a bin covers the pixels
        from ``floor`` of its start to ``ceil`` of its end, and an empty bin gives 0.
    """
    check_feature_map(input, "input")
    out_h, out_w = _pair(output_size)
    n, c, height, width = input.shape
    rois = rois_from_boxes(boxes, n).to(input.dtype)
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c, out_h, out_w)
    corners = _round_half_away(rois[:, 1:] * spatial_scale)
    x1, y1, x2, y2 = corners.unbind(1)
    h_lo, h_hi = _bins(y1, y2, out_h, height)  # (K, out_h)
    w_lo, w_hi = _bins(x1, x2, out_w, width)  # (K, out_w)
    # Every bin spans at most max_h x max_w pixels: read that window for all bins at once.
    # Positions past a bin's end repeat its first pixel, which leaves the maximum unchanged.
    max_h = max(int((h_hi - h_lo).max()), 1)
    max_w = max(int((w_hi - w_lo).max()), 1)
    rows = _window(h_lo, h_hi, max_h, height)  # (K, out_h, max_h)
    cols = _window(w_lo, w_hi, max_w, width)  # (K, out_w, max_w)
    b = rois[:, 0].long()
    flat_index = (b[:, None, None, None, None] * height + rows[:, :, :, None, None]) * width + cols[
        :, None, None, :, :
    ]  # (K, out_h, max_h, out_w, max_w) positions in the (N * H * W, C) table
    table = input.permute(0, 2, 3, 1).reshape(n * height * width, c)
    values = table.index_select(0, flat_index.reshape(-1))
    pooled = values.view(k, out_h, max_h, out_w, max_w, c).amax(dim=(2, 4))  # (K, out_h, out_w, C)
    empty = (h_hi <= h_lo)[:, :, None] | (w_hi <= w_lo)[:, None, :]
    pooled = pooled.masked_fill(empty[..., None], 0.0)
    return pooled.permute(0, 3, 1, 2).contiguous()
