"""RoIAlign, as ``torchvision.ops.roi_align`` (notebook 07: Mask R-CNN; the detectors of 06-08).

RoIPool rounds a region's corners and bin edges to whole feature-map pixels; RoIAlign keeps them
fractional and reads the feature map by bilinear interpolation at a few sampling points per bin,
then averages them. Bilinear interpolation is separable, and so is the average over a bin's
regular grid of samples, so each RoI's output is two small matrix products:

    out[c] = Ay @ feature[c] @ Ax.T

where ``Ay`` (out_h x H) holds, for each output row, the average over that row's sampling
points of their interpolation weights on the feature map's rows, and ``Ax`` (out_w x W) the
same for columns. Autograd then gives the gradient for free (two more matrix products).
"""

from __future__ import annotations

import torch

from ._utils import check_feature_map, check_tensor, pair
from .roi import rois_from_boxes

__all__ = ["bilinear_interpolate", "roi_align"]


def bilinear_interpolate(feature: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Read a (C, H, W) feature map at fractional points, by RoIAlign's rules -> (C, *y.shape).

    ``(y, x)`` are in pixel-index coordinates: pixel ``(i, j)`` holds the value at ``y = i,
    x = j``. A point between four pixels gets their average weighted by closeness
    (``(1 - dy) * (1 - dx)`` for the top-left one, and so on). As in torchvision's RoIAlign, a
    point more than one pixel outside the map (``y < -1`` or ``y > H``, same for x) reads 0, and
    a point less than that outside reads the nearest edge pixel.
    """
    check_tensor(feature, "feature", "(C, H, W)", 3)
    if not isinstance(y, torch.Tensor) or not isinstance(x, torch.Tensor) or y.shape != x.shape:
        raise ValueError(
            f"y and x must be tensors of the same shape, got {getattr(y, 'shape', y)} and "
            f"{getattr(x, 'shape', x)}"
        )
    _, height, width = feature.shape
    inside = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)
    y = y.to(feature.dtype).clamp(0, height - 1)
    x = x.to(feature.dtype).clamp(0, width - 1)
    y0, x0 = y.floor(), x.floor()
    dy, dx = y - y0, x - x0
    y0, x0 = y0.long(), x0.long()
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    top = feature[:, y0, x0] * (1 - dx) + feature[:, y0, x1] * dx
    bottom = feature[:, y1, x0] * (1 - dx) + feature[:, y1, x1] * dx
    return (top * (1 - dy) + bottom * dy) * inside


def _axis_weights(start, length, bins: int, grid, limit: int) -> torch.Tensor:
    """Averaged bilinear weights along one axis: (K, bins, limit).

    ``start``/``length`` (K,) are the RoIs' start and size in feature-map pixels and ``grid``
    (K,) the number of sampling points per bin along this axis. The rules are torchvision's:
    a point beyond [-1, limit] contributes nothing; a point is clamped to >= 0; a point in the
    last pixel (or past it) reads that pixel only.
    """
    k = start.shape[0]
    most = max(int(grid.max()), 1) if k else 1
    bin_size = (length / bins)[:, None, None]  # (K, 1, 1)
    p = torch.arange(bins, dtype=start.dtype, device=start.device)[None, :, None]
    i = torch.arange(most, dtype=start.dtype, device=start.device)[None, None, :]
    g = grid.to(start.dtype)[:, None, None]
    pos = start[:, None, None] + p * bin_size + (i + 0.5) * bin_size / g.clamp(min=1)
    used = (i < g) & (pos >= -1.0) & (pos <= limit)  # (K, bins, most)
    pos = pos.clamp(min=0)
    low = pos.floor().clamp(max=limit - 1)
    past_end = low >= limit - 1
    pos = torch.where(past_end, low, pos)
    high = torch.where(past_end, low, low + 1)
    frac = pos - low
    scale = used.to(start.dtype) / g.clamp(min=1)  # each point's share of the bin's average
    weights = start.new_zeros(k, bins, limit)
    weights.scatter_add_(2, low.long(), (1 - frac) * scale)
    weights.scatter_add_(2, high.long(), frac * scale)
    return weights


def roi_align(
    input: torch.Tensor,
    boxes,
    output_size,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """Bilinear RoI pooling (Mask R-CNN's RoIAlign): every RoI becomes a (C, h, w) feature.

    Args:
        input: (N, C, H, W) feature map.
        boxes: (K, 5) of (batch index, x1, y1, x2, y2) in image coordinates, or a list of
            (L_i, 4) xyxy tensors, one per image.
        output_size: int or (h, w).
        spatial_scale: feature-map pixels per image pixel (1/16 for a stride-16 backbone).
        sampling_ratio: sampling points per bin along each axis; <= 0 picks
            ``ceil(roi size / output size)`` per RoI (adaptive), as torchvision does.
        aligned: shift the box by half a pixel so that pixel centres sit at +0.5 (the
            correct mapping); ``False`` keeps the original paper's mapping, which also
            stretches boxes smaller than one pixel to one pixel.

    Returns:
        (K, C, h, w), equal to ``torchvision.ops.roi_align`` with the same arguments.
        Gradients flow to ``input`` (not to the boxes, as in torchvision).
    """
    check_feature_map(input, "input")
    out_h, out_w = pair(output_size)
    if not isinstance(sampling_ratio, int):
        raise ValueError(
            f"sampling_ratio must be an int (<= 0 for adaptive), got {sampling_ratio!r}"
        )
    n, c, height, width = input.shape
    rois = rois_from_boxes(boxes, n).to(input.dtype).detach()
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c, out_h, out_w)
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full((k,), sampling_ratio, device=input.device)
    else:
        grid_h, grid_w = torch.ceil(roi_h / out_h).long(), torch.ceil(roi_w / out_w).long()
    ay = _axis_weights(y1, roi_h, out_h, grid_h, height)  # (K, out_h, H)
    ax = _axis_weights(x1, roi_w, out_w, grid_w, width)  # (K, out_w, W)
    # Group the RoIs by image, so each image's feature map is read once, by one matrix product.
    index = rois[:, 0].long()
    order = torch.argsort(index, stable=True)
    counts = torch.bincount(index, minlength=n).tolist()
    ay, ax = ay[order], ax[order]
    pieces, first = [], 0
    for b, m in enumerate(counts):
        if m == 0:
            continue
        rows = ay[first : first + m].reshape(m * out_h, height)
        rows = rows @ input[b].transpose(0, 1).reshape(height, c * width)  # (m * out_h, C * W)
        rows = rows.view(m, out_h * c, width) @ ax[first : first + m].transpose(1, 2)
        pieces.append(rows.view(m, out_h, c, out_w).transpose(1, 2))
        first += m
    out = torch.cat(pieces)
    return out if bool((order[1:] > order[:-1]).all()) else out[torch.argsort(order)]
