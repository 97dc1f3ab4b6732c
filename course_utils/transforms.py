"""Data augmentation for a whole batch at once, every image its own random transform (03).

``torchvision.transforms.v2.RandomAffine`` draws one transform per call: applied to a batch
tensor, every image in it gets the *same* rotation and shift. Training many small runs at
once (``course_utils.sweep``) needs thousands of independent transforms per second, so
:func:`affine` applies N different affine transforms to N images in one ``grid_sample``
call. It computes what ``torchvision.transforms.v2.functional.affine`` computes (rotation
about the image centre, then the shift; bilinear interpolation; zeros outside), checked
against it in the tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["affine", "random_affine", "random_shift"]


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a float tensor, got {images.dtype}")


def affine(
    images: torch.Tensor,
    angle: torch.Tensor,
    translate: torch.Tensor,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rotate, scale and shift each image by its own amounts; bilinear, zeros outside.

    Args:
        images: (N, C, H, W) float.
        angle: (N,) degrees, counter-clockwise as torchvision's ``affine`` (about the centre).
        translate: (N, 2) shifts in pixels, (dx, dy): right and down are positive.
        scale: (N,) zoom factors about the centre (default 1).

    Returns:
        (N, C, H, W): image ``i`` equals
        ``torchvision.transforms.v2.functional.affine(images[i], angle[i], translate[i],
        scale[i], shear=[0, 0], interpolation=BILINEAR)``.
    """
    _check_images(images)
    n, _, h, w = images.shape
    dtype, device = images.dtype, images.device
    angle = torch.as_tensor(angle, dtype=dtype, device=device).reshape(-1)
    translate = torch.as_tensor(translate, dtype=dtype, device=device).reshape(-1, 2)
    scale = (
        torch.ones(n, dtype=dtype, device=device)
        if scale is None
        else torch.as_tensor(scale, dtype=dtype, device=device).reshape(-1)
    )
    if not (len(angle) == len(translate) == len(scale) == n):
        raise ValueError(
            f"need one angle, shift and scale per image ({n}), got {len(angle)}, "
            f"{len(translate)} and {len(scale)}"
        )
    # Where each output pixel reads from: the inverse map, in pixels about the image centre,
    # source = R(-angle) / scale @ (output - shift).
    rad = torch.deg2rad(angle)
    cos, sin = torch.cos(rad) / scale, torch.sin(rad) / scale
    xs = torch.arange(w, dtype=dtype, device=device) - (w - 1) / 2
    ys = torch.arange(h, dtype=dtype, device=device) - (h - 1) / 2
    ox = xs.view(1, 1, w) - translate[:, 0].view(n, 1, 1)
    oy = ys.view(1, h, 1) - translate[:, 1].view(n, 1, 1)
    sx = cos.view(n, 1, 1) * ox + sin.view(n, 1, 1) * oy
    sy = -sin.view(n, 1, 1) * ox + cos.view(n, 1, 1) * oy
    grid = torch.stack([sx / (w / 2), sy / (h / 2)], dim=-1)  # grid_sample's [-1, 1] units
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_shift(
    images: torch.Tensor, generator: torch.Generator, max_shift: int = 2
) -> torch.Tensor:
    """Shift each image by its own whole number of pixels in [-max_shift, max_shift] (x and y),
    filling with zeros: a "padded random crop" (pad by ``max_shift``, crop at a random position),
    the CIFAR version of AlexNet's random crops. Values are moved exactly, never blended; the
    same as :func:`affine` with whole-pixel shifts.
    """
    _check_images(images)
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    n, c, h, w = images.shape
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2, n, 1), generator=generator)
    padded = F.pad(images, (max_shift,) * 4)
    rows = torch.arange(h) + max_shift - dy  # (n, h): where each output row reads from
    cols = torch.arange(w) + max_shift - dx  # (n, w)
    batch = torch.arange(n).view(n, 1, 1, 1)
    channel = torch.arange(c).view(1, c, 1, 1)
    return padded[batch, channel, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    degrees: float = 10.0,
    max_shift: int = 2,
    scale: tuple[float, float] = (0.9, 1.1),
) -> torch.Tensor:
    """Each image rotated by a uniform angle in [-degrees, degrees], zoomed by a uniform factor
    in ``scale`` and shifted by whole pixels in [-max_shift, max_shift], like
    ``v2.RandomAffine(degrees, translate, scale)`` but independently for every image."""
    _check_images(images)
    n = len(images)
    if degrees < 0 or max_shift < 0 or not 0 < scale[0] <= scale[1]:
        raise ValueError(
            f"need degrees >= 0, max_shift >= 0 and 0 < scale[0] <= scale[1], got {degrees}, "
            f"{max_shift}, {scale}"
        )
    angle = (torch.rand(n, generator=generator) * 2 - 1) * degrees
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    zoom = scale[0] + torch.rand(n, generator=generator) * (scale[1] - scale[0])
    return affine(images, angle, shifts.to(images.dtype), zoom)
