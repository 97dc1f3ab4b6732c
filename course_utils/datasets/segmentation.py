"""Semantic segmentation data for notebook 05: shapes scenes as (image, label map) pairs.

:func:`semantic_scenes` renders scenes once into two tensors (fast to train on, a few MB);
:class:`SegmentationPairs` serves them to a ``DataLoader``, optionally through a
``torchvision.transforms.v2`` transform that receives the image as ``tv_tensors.Image`` and the
label map as ``tv_tensors.Mask``, so that geometric transforms (flips, elastic deformation)
move both together and resample the labels by nearest neighbour.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from .shapes import render_scene

__all__ = ["SegmentationPairs", "semantic_scenes"]


def semantic_scenes(
    num_images: int, *, seed: int = 0, **scene_options
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render scenes ``0 .. num_images - 1`` of the stream ``seed``.

    Args:
        num_images: how many scenes.
        seed: use different seeds for training and held-out scenes (disjoint streams).
        **scene_options: passed to :func:`render_scene` (``image_size``, ``classes``, ...).

    Returns:
        ``(images, labels)``: float32 (N, 3, H, W) in [0, 1] and int64 (N, H, W) label maps
        (0 = background, k = ``classes[k - 1]``).
    """
    if not isinstance(num_images, int) or isinstance(num_images, bool) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    images, labels = [], []
    for i in range(num_images):
        image, target = render_scene(seed, i, **scene_options)
        images.append(image)
        labels.append(target["semantic"])
    return torch.stack(images), torch.stack(labels)


class SegmentationPairs(Dataset):
    """``(image, label map)`` pairs from two tensors, with an optional joint transform.

    Args:
        images: (N, 3, H, W) float.
        labels: (N, H, W) integer label maps.
        transform: optional ``transform(tv_tensors.Image, tv_tensors.Mask) -> (image, mask)``,
            for example ``torchvision.transforms.v2.ElasticTransform(alpha=..., sigma=...)``;
            it is applied afresh each time an item is read (a new deformation every epoch).
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, transform: Callable | None = None
    ) -> None:
        if images.dim() != 4 or labels.dim() != 3:
            raise ValueError(
                f"expected images (N, C, H, W) and labels (N, H, W), got shapes "
                f"{tuple(images.shape)} and {tuple(labels.shape)}"
            )
        if images.shape[0] != labels.shape[0] or images.shape[-2:] != labels.shape[-2:]:
            raise ValueError(
                f"images {tuple(images.shape)} and labels {tuple(labels.shape)} do not pair up"
            )
        if labels.is_floating_point():
            raise ValueError("labels must be integer class labels")
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.images[index], self.labels[index]
        if self.transform is None:
            return image, label
        image, label = self.transform(tv_tensors.Image(image), tv_tensors.Mask(label))
        return image.as_subclass(torch.Tensor), label.as_subclass(torch.Tensor)
