"""Selective search: R-CNN's region proposals (notebook 06).

Uijlings, van de Sande, Gevers and Smeulders, "Selective Search for Object Recognition",
IJCV 2013. The algorithm, as the paper describes it:

1. Over-segment the image into small regions with Felzenszwalb and Huttenlocher's graph-based
   segmentation (scikit-image's ``felzenszwalb``; its ``scale`` is the paper's k).
2. Describe each region by a colour histogram (25 bins per channel), a texture histogram
   (Gaussian derivatives with sigma 1 in 8 orientations, 10 bins per orientation and channel),
   its size and its bounding box.
3. Repeatedly merge the two *adjacent* regions that are most similar, where the similarity is a
   sum of the terms the strategy uses: colour and texture (histogram intersections), size
   (small regions merge first) and fill (regions that fill each other's gaps merge first).
   Every region ever formed, from the initial ones to the whole image, is a hypothesis: its
   bounding box is a proposal.
4. Diversify: run the grouping in several colour spaces, with several k and several
   similarity combinations; rank each run's boxes by their place in its hierarchy (the whole
   image first) times a random number in [0, 1], merge the runs by that rank and drop duplicates.

The defaults are the paper's "fast" mode (HSV and Lab, k = 50 and 100, the similarities C+T+S+F
and T+S+F: 8 runs). OpenCV's ``cv2.ximgproc.segmentation`` implements the same algorithm
(its fast mode uses k = 150 and 300); the tests compare the two. The greedy merging is a
sequence of dependent steps and runs in Python with a heap; the per-pixel work (colour spaces,
histograms, adjacency) is vectorised with NumPy.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from skimage.color import rgb2hsv, rgb2lab
from skimage.segmentation import felzenszwalb

__all__ = ["SIMILARITIES", "selective_search"]

SIMILARITIES = ("colour", "texture", "size", "fill")
_COLOUR_BINS, _TEXTURE_BINS, _ORIENTATIONS = 25, 10, 8


def _as_rgb(image) -> np.ndarray:
    """(H, W, 3) float64 RGB in [0, 1] from a (3, H, W) float tensor or an (H, W, 3) array."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(
                f"image must be a (3, H, W) float tensor in [0, 1], got {image.dtype} "
                f"{tuple(image.shape)}"
            )
        array = image.detach().cpu().permute(1, 2, 0).double().numpy()
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"an image array must be (H, W, 3) RGB, got shape {image.shape}")
        array = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    else:
        raise ValueError(f"image must be a torch.Tensor or numpy array, got {type(image).__name__}")
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise ValueError(f"image must be at least 2x2 pixels, got {array.shape[:2]}")
    if array.min() < 0 or array.max() > 1:
        raise ValueError("float image values must lie in [0, 1]")
    return array


def _colour_space(rgb: np.ndarray, space: str) -> np.ndarray:
    """The image in ``space``, each channel scaled to [0, 1]."""
    if space == "rgb":
        return rgb
    if space == "hsv":
        return rgb2hsv(rgb)
    if space == "lab":  # L in [0, 100], a and b within [-128, 127]
        lab = rgb2lab(rgb)
        return np.clip((lab + [0.0, 128.0, 128.0]) / [100.0, 255.0, 255.0], 0.0, 1.0)
    raise ValueError(f"colour space must be 'rgb', 'hsv' or 'lab', got {space!r}")


def _histograms(labels: np.ndarray, values: np.ndarray, bins: int, n: int) -> np.ndarray:
    """(n, channels * bins) per-region histograms of (H, W, channels) values in [0, 1]."""
    index = np.minimum((values * bins).astype(np.int64), bins - 1)  # (H, W, C)
    channels = values.shape[2]
    flat = (labels[..., None] * channels + np.arange(channels)) * bins + index
    counts = np.bincount(flat.ravel(), minlength=n * channels * bins)
    return counts.reshape(n, channels * bins).astype(np.float64)


def _texture(image: np.ndarray) -> np.ndarray:
    """(H, W, 3 * 8) oriented Gaussian-derivative responses (sigma 1), scaled to [0, 1]."""
    responses = []
    angles = np.arange(_ORIENTATIONS) * (2 * np.pi / _ORIENTATIONS)
    for c in range(image.shape[2]):
        gy = ndimage.gaussian_filter(image[..., c], 1.0, order=(1, 0))
        gx = ndimage.gaussian_filter(image[..., c], 1.0, order=(0, 1))
        # Eight directions: opposite directions are told apart by keeping the positive part.
        oriented = np.maximum(np.cos(angles) * gx[..., None] + np.sin(angles) * gy[..., None], 0)
        responses.append(oriented / max(oriented.max(), 1e-12))
    return np.concatenate(responses, axis=2)


def _adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """(E, 2) sorted pairs of region labels that touch (4-connectivity), each once."""
    pairs = [
        np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
        np.stack([labels[:-1, :].ravel(), labels[1:, :].ravel()], 1),
    ]
    pairs = np.concatenate(pairs)
    pairs = np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1)
    return np.unique(pairs, axis=0)


def _hierarchy(
    labels: np.ndarray, colour: np.ndarray, texture: np.ndarray, use: Sequence[str]
) -> np.ndarray:
    """Greedy hierarchical grouping of one segmentation: every region's box, in creation order.

    Returns (2n - 1, 4) boxes for n initial regions (fewer if some regions touch no other):
    the n initial regions, then each merged region as it is formed.
    """
    height, width = labels.shape
    n = int(labels.max()) + 1
    image_size = float(height * width)
    slots = 2 * n - 1
    size = np.zeros(slots)
    size[:n] = np.bincount(labels.ravel(), minlength=n)
    boxes = np.zeros((slots, 4))
    for i, (rows, cols) in enumerate(ndimage.find_objects(labels + 1)):
        boxes[i] = cols.start, rows.start, cols.stop, rows.stop
    colour_hist = np.zeros((slots, colour.shape[2] * _COLOUR_BINS))
    texture_hist = np.zeros((slots, texture.shape[2] * _TEXTURE_BINS))
    colour_hist[:n] = _histograms(labels, colour, _COLOUR_BINS, n)
    texture_hist[:n] = _histograms(labels, texture, _TEXTURE_BINS, n)
    colour_hist[:n] /= colour_hist[:n].sum(1, keepdims=True)
    texture_hist[:n] /= texture_hist[:n].sum(1, keepdims=True)

    def similarity(i: int, others: np.ndarray) -> np.ndarray:
        s = np.zeros(len(others))
        if "colour" in use:
            s += np.minimum(colour_hist[i], colour_hist[others]).sum(1)
        if "texture" in use:
            s += np.minimum(texture_hist[i], texture_hist[others]).sum(1)
        if "size" in use:
            s += 1.0 - (size[i] + size[others]) / image_size
        if "fill" in use:
            lo = np.minimum(boxes[i, :2], boxes[others, :2])
            hi = np.maximum(boxes[i, 2:], boxes[others, 2:])
            union_box = (hi - lo).prod(1)
            s += 1.0 - (union_box - size[i] - size[others]) / image_size
        return s

    neighbours: list[set[int]] = [set() for _ in range(slots)]
    heap = []
    for a, b in _adjacent_pairs(labels):
        neighbours[a].add(int(b))
        neighbours[b].add(int(a))
    for a in range(n):
        later = np.array(sorted(b for b in neighbours[a] if b > a), dtype=np.int64)
        for b, s in zip(later, similarity(a, later), strict=True):
            heap.append((-s, a, int(b)))
    heapq.heapify(heap)

    alive = np.zeros(slots, dtype=bool)
    alive[:n] = True
    new = n
    while heap:
        _, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue  # a stale pair: one of its regions was merged already
        t, new = new, new + 1
        alive[[a, b]], alive[t] = False, True
        size[t] = size[a] + size[b]
        boxes[t, :2] = np.minimum(boxes[a, :2], boxes[b, :2])
        boxes[t, 2:] = np.maximum(boxes[a, 2:], boxes[b, 2:])
        colour_hist[t] = (size[a] * colour_hist[a] + size[b] * colour_hist[b]) / size[t]
        texture_hist[t] = (size[a] * texture_hist[a] + size[b] * texture_hist[b]) / size[t]
        around = (neighbours[a] | neighbours[b]) - {a, b}
        for k in around:
            neighbours[k] -= {a, b}
            neighbours[k].add(t)
        neighbours[t] = around
        others = np.array(sorted(around), dtype=np.int64)
        for k, s in zip(others, similarity(t, others), strict=True):
            heapq.heappush(heap, (-s, int(k), t))
    return boxes[:new]


def selective_search(
    image,
    scales: Sequence[float] = (50, 100),
    colour_spaces: Sequence[str] = ("hsv", "lab"),
    similarities: Sequence[Sequence[str]] = (SIMILARITIES, ("texture", "size", "fill")),
    sigma: float = 0.8,
    min_size: int | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Region proposals for one image by selective search (see the module docstring).

    Args:
        image: a (3, H, W) float tensor in [0, 1] or an (H, W, 3) RGB array (uint8 or float).
        scales: Felzenszwalb's k for the initial over-segmentation (larger: fewer, bigger regions).
        colour_spaces: any of "rgb", "hsv", "lab".
        similarities: the similarity combinations, each a subset of :data:`SIMILARITIES`.
        sigma: Gaussian smoothing before the segmentation.
        min_size: smallest initial region in pixels (default: k, as OpenCV).
        seed: the random numbers that rank the boxes (the proposals are otherwise deterministic).

    Returns:
        (P, 4) float32 boxes (x1, y1, x2, y2) in pixels, best ranked first, without duplicates.
        A region covering pixel columns a..b has x1 = a and x2 = b + 1.
    """
    rgb = _as_rgb(image)
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be non-empty and positive, got {scales}")
    for use in similarities:
        if not use or not set(use) <= set(SIMILARITIES):
            raise ValueError(f"each similarity combination must be a subset of {SIMILARITIES}")
    rng = np.random.default_rng(seed)
    all_boxes, ranks = [], []
    for space in colour_spaces:
        converted = _colour_space(rgb, space)
        texture = _texture(converted)
        for k in scales:
            labels = felzenszwalb(
                converted, scale=k, sigma=sigma, min_size=int(k if min_size is None else min_size)
            )
            for use in similarities:
                boxes = _hierarchy(labels, converted, texture, use)
                # The last region formed (the whole image) has position 1, the first one n.
                position = np.arange(len(boxes), 0, -1, dtype=np.float64)
                all_boxes.append(boxes)
                ranks.append(position * rng.random(len(boxes)))
    boxes = np.concatenate(all_boxes)[np.argsort(np.concatenate(ranks), kind="stable")]
    _, first = np.unique(boxes, axis=0, return_index=True)
    return torch.from_numpy(boxes[np.sort(first)]).float()
