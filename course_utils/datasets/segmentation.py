"""Semantic segmentation data for notebook 05: shapes scenes as (image, label map) pairs.

:func:`semantic_scenes` renders scenes once into two tensors (fast to train on, a few MB);
:class:`SegmentationPairs` serves them to a ``DataLoader``, optionally through a
``torchvision.transforms.v2`` transform that receives the image as ``tv_tensors.Image`` and the
label map as ``tv_tensors.Mask``, so that geometric transforms (flips, elastic deformation)
move both together and resample the labels by nearest neighbour.

:func:`cell_scenes` makes a second kind of scene for the elastic-deformation experiment:
touching cells whose walls are to be found, as in the U-Net paper's microscopy images, where
a smooth deformation of a scene is another correct scene (unlike the shapes scenes, where a
class *is* an exact outline).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ..transforms import unet_displacement
from .shapes import render_scene
from .targets import plain

__all__ = ["CELL_CLASSES", "SegmentationPairs", "cell_scenes", "semantic_scenes"]

#: The classes of :func:`cell_scenes`, in label order.
CELL_CLASSES = ("cell", "wall")


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


def cell_scenes(
    num_images: int,
    *,
    seed: int = 0,
    image_size: int = 32,
    cells: int = 7,
    wall: float = 0.8,
    bend: float = 2.5,
    spots: int = 4,
    noise: float = 0.04,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey "microscopy" scenes of touching cells; the label map marks the cell walls.

    The task of the U-Net paper's first data set (cell membranes in electron microscopy), in
    miniature: ``cells`` random seed points tile the image into cells (each pixel belongs to
    its nearest seed), in coordinates bent by a smooth random field (displacements of
    standard deviation ``bend`` pixels on a 4 x 4 grid, bicubic: the field of
    :func:`course_utils.transforms.unet_displacement`), so walls are curved. A
    pixel is *wall* (label 1) where its two nearest seeds are almost equally far (the two
    distances within ``2 * wall`` pixels), else *cell* (label 0). Cells have random grey
    levels and a faint texture, walls are dark, and ``spots`` dark round spots per image lie
    inside cells as distractors (dark but not walls). Nothing tells a wall but its thin,
    long, connected shape: a smooth deformation of a scene is another correct scene.

    Args:
        num_images: how many scenes. seed: the stream (use different seeds for training and
            held-out scenes; the batch is drawn at once, so scene i depends on num_images).
        image_size: side in pixels. cells: seed points per image (some fall outside).
        wall: half the wall thickness, in pixels. bend: how curved the walls are (pixels).
        spots: distractor spots per image. noise: per-pixel Gaussian noise.

    Returns:
        ``(images, labels)``: float32 (N, 3, S, S) in [0, 1] (grey: three equal channels) and
        int64 (N, S, S) label maps, 0 = cell, 1 = wall (:data:`CELL_CLASSES`).
    """
    if not isinstance(num_images, int) or isinstance(num_images, bool) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    if image_size < 8 or cells < 2:
        raise ValueError(f"need image_size >= 8 and cells >= 2, got {image_size}, {cells}")
    if wall <= 0 or bend < 0 or spots < 0 or noise < 0:
        raise ValueError("need wall > 0 and bend, spots, noise >= 0")
    g = torch.Generator().manual_seed(seed)
    n, s = num_images, image_size
    yy, xx = torch.meshgrid(torch.arange(s) + 0.5, torch.arange(s) + 0.5, indexing="ij")
    field = unet_displacement(n, s, s, g, grid=4, std=bend)  # U-Net's warp, on a 4 x 4 grid
    x, y = xx + field[:, 0], yy + field[:, 1]  # (n, s, s) bent coordinates
    points = torch.rand(n, cells, 2, generator=g) * (s + 8) - 4  # a margin: cells reach out
    px, py = points[..., 0, None, None], points[..., 1, None, None]  # (n, cells, 1, 1)
    distance = torch.hypot(x[:, None] - px, y[:, None] - py)  # (n, cells, s, s)
    nearest = distance.topk(2, dim=1, largest=False).values
    walls = (nearest[:, 1] - nearest[:, 0]) < 2 * wall
    grey = torch.rand(n, cells, generator=g) * 0.4 + 0.45
    image = grey.gather(1, distance.argmin(1).flatten(1)).view(n, s, s)
    texture = torch.randn(n, 1, s // 2, s // 2, generator=g)
    image = image + 0.06 * F.interpolate(texture, size=(s, s), mode="bilinear")[:, 0]
    image = torch.where(walls, 0.15 + 0.1 * torch.rand(n, 1, 1, generator=g), image)
    centres = torch.rand(n, spots, 2, generator=g) * s
    radii = torch.rand(n, spots, 1, 1, generator=g) + 0.8
    cx, cy = centres[..., 0, None, None], centres[..., 1, None, None]
    dark = (torch.hypot(xx - cx, yy - cy) < radii).any(1) & ~walls
    image = torch.where(dark, 0.2, image)
    image = (image + noise * torch.randn(image.shape, generator=g)).clamp(0, 1)
    return image[:, None].expand(-1, 3, -1, -1).contiguous(), walls.long()


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
        return plain(image), plain(label)
