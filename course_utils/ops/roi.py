"""RoI pooling, as ``torchvision.ops.roi_pool`` (notebook 06: Fast R-CNN).

Each region of interest (a box on the input image) is mapped onto the feature map, split into
an ``output_size`` grid of bins, and each bin is max-pooled: every region gives a feature of the
same size, whatever its own size.
"""

from __future__ import annotations

import torch

from ._utils import check_boxes, check_feature_map, pair, round_half_away

__all__ = ["roi_pool", "roi_pool_bins", "rois_from_boxes"]


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


def roi_pool_bins(boxes: torch.Tensor, output_size, spatial_scale: float, map_size):
    """RoIPool's bins, as torchvision computes them: which feature-map pixels each bin pools.

    Args:
        boxes: (K, 4) xyxy in image coordinates.
        output_size: int or (h, w) bins.
        spatial_scale: feature-map pixels per image pixel.
        map_size: the feature map's (H, W).

    Returns:
        ``((row_start, row_end), (col_start, col_end))``: (K, h) and (K, w) int64 pixel
        indices, each bin ``[start, end)`` clipped to the map (``end <= start``: empty bin).
        The box's corners are rounded to whole pixels (halves away from zero, as C's
        ``round``) and its last pixel counts ("+ 1"), so a box ``x1 = 0, x2 = 2`` spans 3.
    """
    out_h, out_w = pair(output_size)
    height, width = map_size
    x1, y1, x2, y2 = round_half_away(boxes * spatial_scale).unbind(1)
    return _bins(y1, y2, out_h, height), _bins(x1, x2, out_w, width)


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


def _size_class(span: torch.Tensor) -> torch.Tensor:
    """Spans in pixels -> classes of spans within a factor of sqrt(2) of each other."""
    return torch.ceil(2 * torch.log2(span.clamp(min=1).double())).long()


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
    out_h, out_w = pair(output_size)
    n, c, height, width = input.shape
    rois = rois_from_boxes(boxes, n).to(input.dtype)
    k = rois.shape[0]
    if k == 0:
        return input.new_zeros(0, c, out_h, out_w)
    (h_lo, h_hi), (w_lo, w_hi) = roi_pool_bins(
        rois[:, 1:], (out_h, out_w), spatial_scale, (height, width)
    )
    table = input.permute(0, 2, 3, 1).reshape(n * height * width, c)  # a row per pixel
    # Every bin is read as a window of a fixed size, padded to its group's largest bin: RoIs
    # are grouped by bin size (within a factor of sqrt(2) on each axis), so that one large RoI does
    # not make every small one read a large window.
    span_h, span_w = (h_hi - h_lo).amax(1), (w_hi - w_lo).amax(1)
    group = _size_class(span_h) * 64 + _size_class(span_w)
    pooled = input.new_zeros(k, out_h, out_w, c)
    for key in torch.unique(group).tolist():
        members = (group == key).nonzero()[:, 0]
        pooled[members] = _max_over_bins(
            table,
            (rois[members, 0].long() * height, height, width),
            (h_lo[members], h_hi[members]),
            (w_lo[members], w_hi[members]),
            (max(int(span_h[members].max()), 1), max(int(span_w[members].max()), 1)),
        )
    return pooled.permute(0, 3, 1, 2).contiguous()


def _max_over_bins(table, where, rows, columns, window) -> torch.Tensor:
    """The maximum of each bin of some RoIs: (M, out_h, out_w, C), 0 for an empty bin.

    ``table`` holds the feature map as (N * H * W, C); ``where`` is (each RoI's first row
    in it / W, H, W); ``rows``, ``columns`` the bins' [lo, hi) edges, (M, out_h), (M, out_w);
    ``window`` the (height, width) every bin is read as. Positions past a bin's end repeat its
    first pixel, which leaves the maximum unchanged.
    """
    (first_row, height, width), (h_lo, h_hi), (w_lo, w_hi) = where, rows, columns
    max_h, max_w = window
    m, out_h, out_w = h_lo.shape[0], h_lo.shape[1], w_lo.shape[1]
    row_index = _window(h_lo, h_hi, max_h, height) + first_row[:, None, None]  # (M, out_h, max_h)
    col_index = _window(w_lo, w_hi, max_w, width)  # (M, out_w, max_w)
    # (M, out_h, out_w, max_h, max_w): a bin's window last, so one reduction takes its maximum
    flat_index = row_index[:, :, None, :, None] * width + col_index[:, None, :, None, :]
    values = table.index_select(0, flat_index.reshape(-1))
    pooled = values.view(m, out_h, out_w, max_h * max_w, -1).amax(dim=3)
    empty = (h_hi <= h_lo)[:, :, None] | (w_hi <= w_lo)[:, None, :]
    return pooled.masked_fill(empty[..., None], 0.0)
