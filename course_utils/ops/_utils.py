"""What the ops share (as torchvision's ``ops/_utils.py``): argument checks, upcasting, rounding.

Every op checks its arguments here, so that bad input gets the same clear ``ValueError``
wherever it enters.
"""

from __future__ import annotations

import torch


def check_tensor(x, name: str, shape: str, ndim: int | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` is a tensor (with ``ndim`` dimensions, if given).

    ``shape`` is how the message names the expected shape, e.g. ``"(N, C, H, W)"``.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")


def check_feature_map(x, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is an (N, C, H, W) tensor."""
    check_tensor(x, name, "(N, C, H, W)", 4)


def check_boxes(boxes, name: str = "boxes", *, integers: bool = False) -> None:
    """Raise ``ValueError`` unless ``boxes`` is a (K, 4) xyxy tensor with x1<=x2, y1<=y2.

    Floating point always; integer coordinates too where ``integers`` (as torchvision's
    ``box_area`` and ``box_iou`` accept them; its ``nms`` and ``roi_pool`` do not).
    """
    check_tensor(boxes, name, "(K, 4) as (x1, y1, x2, y2)", 2)
    if boxes.shape[1] != 4:
        raise ValueError(
            f"{name} must have shape (K, 4) as (x1, y1, x2, y2), got {tuple(boxes.shape)}"
        )
    if boxes.dtype == torch.bool or not (integers or boxes.is_floating_point()):
        kind = "a float or integer" if integers else "a float"
        raise ValueError(f"{name} must be {kind} tensor, got {boxes.dtype}")
    if boxes.is_floating_point() and torch.isnan(boxes).any():
        raise ValueError(f"{name} contains NaN")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}[{i}] = {boxes[i].tolist()} has x2 < x1 or y2 < y1: boxes must be "
            f"(x1, y1, x2, y2) with x1 <= x2 and y1 <= y2"
        )


def check_rois(rois, count: int, what: str) -> None:
    """The (N, 4) boxes of N instances (the keypoint head's RoIs), one per ``what``."""
    check_tensor(rois, "rois", "(N, 4) of x1, y1, x2, y2", 2)
    if rois.shape[1] != 4:
        raise ValueError(f"rois must have shape (N, 4) of x1, y1, x2, y2, got {tuple(rois.shape)}")
    if len(rois) != count:
        raise ValueError(f"got {len(rois)} rois for {count} {what}")


def pair(size, name: str = "output_size") -> tuple[int, int]:
    """``size`` as ``(h, w)``: an int for a square, or two positive ints."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if not all(isinstance(v, int) and v > 0 for v in (h, w)):
        raise ValueError(f"{name} must be a positive int or (h, w), got {size!r}")
    return h, w


def upcast(t: torch.Tensor) -> torch.Tensor:
    """As torchvision: products of float16/bfloat16 or of 8/16-bit integers overflow, so
    compute in float32, or in int32 (float32 and float64, int32 and int64 stay as they are)."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``round()``: halves go away from zero (``torch.round`` goes to the even neighbour)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)
