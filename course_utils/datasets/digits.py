"""scikit-learn's real handwritten digits as tensors (used from notebook 02 on)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

__all__ = ["DIGITS_SPLIT_SIZES", "digits", "digits_on_canvas"]

#: Number of images in each split (1,797 in all), fixed once and for all.
DIGITS_SPLIT_SIZES = {"train": 1257, "val": 180, "test": 360}
_SPLIT_SEED = 0  # the split never depends on the notebook's seed


@lru_cache(maxsize=1)
def _split_indices() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    labels = load_digits().target
    every = np.arange(len(labels))
    # Stratified (each split has the classes in the same proportions), fixed seed.
    rest, test = train_test_split(
        every, test_size=DIGITS_SPLIT_SIZES["test"], stratify=labels, random_state=_SPLIT_SEED
    )
    train, val = train_test_split(
        rest, test_size=DIGITS_SPLIT_SIZES["val"], stratify=labels[rest], random_state=_SPLIT_SEED
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


@lru_cache(maxsize=1)
def _load() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(data.target, dtype=torch.int64)
    return images, labels


def digits(split: str = "train", size: int = 8) -> TensorDataset:
    """The real 8x8 digits of scikit-learn (1,797 scans of handwriting, 10 classes).

    Args:
        split: ``"train"`` (1,257 images), ``"val"`` (180) or ``"test"`` (360); a fixed,
            stratified split that does not depend on any seed.
        size: side of the returned images. The originals are 8x8; a larger size upsamples
            them bilinearly (no new information, but room for a few conv layers).

    Returns:
        A ``TensorDataset`` of ``(image, label)``: images float32 of shape (1, size, size)
        with values in [0, 1] (ink is bright), labels int64 in 0..9.
    """
    if split not in DIGITS_SPLIT_SIZES:
        raise ValueError(f"split must be one of {sorted(DIGITS_SPLIT_SIZES)}, got {split!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an int >= 8 (the originals are 8x8), got {size!r}")
    images, labels = _load()
    idx = torch.from_numpy(_split_indices()[split])
    x, y = images[idx], labels[idx]
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x.clamp(0.0, 1.0)
    return TensorDataset(x, y)


def digits_on_canvas(
    split: str = "train", canvas: int = 32, size: int = 16, seed: int = 0
) -> TensorDataset:
    """The digits of :func:`digits` (``size`` x ``size``), each pasted at a random position of a
    larger black ``canvas`` x ``canvas`` image (notebook 02: any input size, class activation
    maps).

    Args:
        split: as in :func:`digits`.
        canvas: side of the output images (>= ``size``).
        size: side of the pasted digit.
        seed: the positions' seed (the same seed gives the same positions).

    Returns:
        A ``TensorDataset`` of ``(image, label, box)``: images (1, canvas, canvas) in [0, 1],
        labels int64, and the pasted square as a box (x1, y1, x2, y2) in pixels, float32.
    """
    if not isinstance(canvas, int) or isinstance(canvas, bool) or canvas < size:
        raise ValueError(f"canvas must be an int >= size ({size}), got {canvas!r}")
    x, y = digits(split, size).tensors
    g = torch.Generator().manual_seed(seed)
    corners = torch.randint(0, canvas - size + 1, (len(x), 2), generator=g)  # (left, top)
    images = torch.zeros(len(x), 1, canvas, canvas)
    for image, digit, (left, top) in zip(images, x, corners.tolist(), strict=True):
        image[:, top : top + size, left : left + size] = digit
    boxes = torch.cat([corners, corners + size], dim=1).float()
    return TensorDataset(images, y, boxes)
