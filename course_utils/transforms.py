"""Data augmentation for a whole batch at once, every image its own random transform (03).

``torchvision.transforms.v2.RandomAffine`` draws one transform per call: applied to a batch
tensor, every image in it gets the *same* rotation and shift. Training many small runs at
once (``course_utils.sweep``) needs thousands of independent transforms per second, so
:func:`affine` applies N different affine transforms to N images in one ``grid_sample``
call. It computes what ``torchvision.transforms.v2.functional.affine`` computes (rotation
about the image centre, then the shift; bilinear interpolation; zeros outside), checked
against it in the tests.

:func:`random_elastic` is the U-Net paper's elastic deformation (05), for a whole batch of
images and label maps at once: :func:`unet_displacement` draws the smooth displacement fields,
:func:`elastic_warp` moves each image and its label map along the same field.

:func:`horizontal_flip` and :class:`RandomHorizontalFlip` flip one detection sample (image,
boxes, masks and keypoints, left and right landmarks swapped) for Keypoint R-CNN (08).

Devices: the random transforms draw their numbers on the generator's device (the CPU for a
plain ``torch.Generator()``) and move them to the images' device, so a seeded generator gives
the same transforms whatever device the images are on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "RandomHorizontalFlip",
    "affine",
    "elastic_warp",
    "horizontal_flip",
    "random_affine",
    "random_elastic",
    "random_shift",
    "unet_displacement",
]


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


def _draw_device(generator: torch.Generator | None) -> torch.device:
    """Where random numbers from ``generator`` are drawn (the global generator: the CPU)."""
    return generator.device if generator is not None else torch.device("cpu")


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
    device = images.device
    shifts = torch.randint(
        -max_shift, max_shift + 1, (2, n, 1), generator=generator, device=_draw_device(generator)
    )
    dx, dy = shifts.to(device)
    padded = F.pad(images, (max_shift,) * 4)
    rows = torch.arange(h, device=device) + max_shift - dy  # (n, h): where each output row reads
    cols = torch.arange(w, device=device) + max_shift - dx  # (n, w)
    batch = torch.arange(n, device=device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=device).view(1, c, 1, 1)
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
    at = _draw_device(generator)  # affine() moves the draws to the images' device
    angle = (torch.rand(n, generator=generator, device=at) * 2 - 1) * degrees
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator, device=at)
    zoom = scale[0] + torch.rand(n, generator=generator, device=at) * (scale[1] - scale[0])
    return affine(images, angle, shifts.to(images.dtype), zoom)


# ------------------------------------------------------------------ horizontal flip (08)


def horizontal_flip(image, target: dict, flip_index=None):
    """A detection sample flipped left to right, its keypoints' left and right swapped (08).

    ``image`` and the target's ``boxes``, ``masks`` and ``semantic`` are flipped by
    ``torchvision.transforms.v2.functional.horizontal_flip`` (boxes as tv_tensors
    ``BoundingBoxes``: ``x -> width - x``); ``keypoints`` (N, K, 3), a plain tensor, by
    :func:`course_utils.ops.flip_keypoints` with ``flip_index`` (required when the target has
    keypoints), which also swaps each left landmark with its right partner. Other entries are
    kept. The input is not modified.
    """
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF  # noqa: N812

    from .ops import flip_keypoints

    if not isinstance(image, torch.Tensor) or image.ndim < 2:
        raise ValueError("image must be a tensor (..., H, W)")
    width = image.shape[-1]
    out = dict(target)
    if "boxes" in target and not isinstance(target["boxes"], tv_tensors.BoundingBoxes):
        raise ValueError("target['boxes'] must be tv_tensors.BoundingBoxes (format and canvas)")
    for key in ("boxes", "masks", "semantic"):
        if key in target:
            out[key] = TF.horizontal_flip(target[key])
    if "keypoints" in target:
        if flip_index is None:
            raise ValueError(
                "the target has keypoints: pass flip_index, the left/right permutation"
            )
        out["keypoints"] = flip_keypoints(target["keypoints"], width, flip_index)
    return TF.horizontal_flip(image), out


class RandomHorizontalFlip:
    """:func:`horizontal_flip` with probability ``p``, for ``ShapesScenes(transforms=...)`` or a
    collate function: ``(image, target) -> (image, target)``. Draws from torch's global
    generator (seeded by ``course_utils.env.setup``) unless a ``generator`` is given."""

    def __init__(self, flip_index=None, p: float = 0.5, generator: torch.Generator | None = None):
        if not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.flip_index, self.p, self.generator = flip_index, p, generator

    def __call__(self, image, target: dict):
        if torch.rand((), generator=self.generator, device=_draw_device(self.generator)) < self.p:
            return horizontal_flip(image, target, self.flip_index)
        return image, target


# ------------------------------------------------------------------ elastic deformation (05)


def unet_displacement(
    n: int,
    height: int,
    width: int,
    generator: torch.Generator,
    *,
    grid: int = 3,
    std: float = 10.0,
) -> torch.Tensor:
    """Smooth random displacement fields, U-Net style (Ronneberger et al., 2015, section 3.1).

    "Random displacement vectors on a coarse 3 by 3 grid", each component drawn from a Gaussian
    with ``std`` pixels standard deviation (10 in the paper), then per-pixel displacements by
    bicubic interpolation. The ``grid x grid`` points span the image corner to corner
    (``align_corners=True``): each grid point's vector is the displacement at that pixel.

    Returns:
        (n, 2, height, width) float32 displacements in pixels, (dx, dy): output pixel (x, y)
        reads the input at (x + dx, y + dy) (see :func:`elastic_warp`), on the generator's
        device (the CPU for a plain ``torch.Generator()``).
    """
    if grid < 2:
        raise ValueError(f"grid must be >= 2 points per side, got {grid}")
    if std < 0:
        raise ValueError(f"std must be >= 0 pixels, got {std}")
    if n < 0 or height < 2 or width < 2:
        raise ValueError(f"need n >= 0 and a size of at least 2x2, got n={n}, {height}x{width}")
    coarse = torch.randn(n, 2, grid, grid, generator=generator, device=_draw_device(generator))
    coarse = coarse * std
    return F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)


def elastic_warp(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    displacement: torch.Tensor,
    padding_mode: str = "reflection",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Warp images (bilinear) and their label maps (nearest) by the same displacement field.

    Args:
        images: (N, C, H, W) float.
        labels: (N, H, W) integer label maps, or None.
        displacement: (N, 2, H, W) pixels, (dx, dy): output pixel (x, y) takes the input's value
            at (x + dx, y + dy), interpolated bilinearly for images and from the nearest pixel
            for labels, so that labels stay labels.
        padding_mode: what is read outside the input: ``"reflection"`` (the image mirrored at
            its border, the default: no empty pixels) or ``"zeros"``; with ``"zeros"`` the
            result equals ``torchvision.transforms.v2.functional.elastic(image, d, fill=None)``
            (plain zero padding) with ``d`` the displacement in torchvision's normalised units
            (``dx * 2 / W``, ``dy * 2 / H``).

    Returns:
        ``(warped images, warped labels)``, the second None when ``labels`` is None.
    """
    _check_images(images)
    n, _, h, w = images.shape
    if tuple(displacement.shape) != (n, 2, h, w):
        raise ValueError(
            f"displacement must be (N, 2, H, W) = {(n, 2, h, w)}, got {tuple(displacement.shape)}"
        )
    if labels is not None:
        if tuple(labels.shape) != (n, h, w):
            raise ValueError(f"labels must be (N, H, W) = {(n, h, w)}, got {tuple(labels.shape)}")
        if labels.is_floating_point():
            raise ValueError("labels must be integer class labels")
    if padding_mode not in ("reflection", "zeros"):
        raise ValueError(f'padding_mode must be "reflection" or "zeros", got {padding_mode!r}')
    dtype, device = images.dtype, images.device
    d = displacement.to(dtype=dtype, device=device)
    xs = torch.arange(w, dtype=dtype, device=device).view(1, 1, w)
    ys = torch.arange(h, dtype=dtype, device=device).view(1, h, 1)
    # Pixel x's centre is at (2x + 1) / w - 1 in grid_sample's [-1, 1] units (align_corners=False).
    grid = torch.stack(
        [(2 * (xs + d[:, 0]) + 1) / w - 1, (2 * (ys + d[:, 1]) + 1) / h - 1], dim=-1
    )  # (N, H, W, 2)
    sample = dict(padding_mode=padding_mode, align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", **sample)
    if labels is None:
        return warped, None
    moved = F.grid_sample(labels[:, None].to(dtype), grid, mode="nearest", **sample)
    return warped, moved[:, 0].round().to(labels.dtype)


def random_elastic(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    *,
    grid: int = 3,
    std: float = 10.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The U-Net paper's elastic deformation with a new random field for every image of the
    batch: :func:`unet_displacement` (``grid`` x ``grid`` vectors, ``std`` pixels, bicubic),
    then :func:`elastic_warp` (images bilinear, labels nearest, the border mirrored)."""
    _check_images(images)
    n, _, h, w = images.shape
    field = unet_displacement(n, h, w, generator, grid=grid, std=std)
    return elastic_warp(images, labels, field.to(images.device))
