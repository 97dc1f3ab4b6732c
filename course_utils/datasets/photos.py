"""Real photos shipped inside scikit-image and scikit-learn (no download)."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

__all__ = ["PHOTOS", "sample_image"]

#: Photo names accepted by :func:`sample_image` and where each comes from.
PHOTOS = {
    "astronaut": "scikit-image: Eileen Collins, NASA (512x512, colour)",
    "coffee": "scikit-image: a cup of coffee (400x600, colour)",
    "chelsea": "scikit-image: Chelsea the cat (300x451, colour)",
    "rocket": "scikit-image: a rocket on the launch pad (427x640, colour)",
    "immunohistochemistry": "scikit-image: stained tissue (512x512, colour)",
    "coins": "scikit-image: Greek coins (303x384, grey)",
    "camera": "scikit-image: the cameraman (512x512, grey)",
    "china": "scikit-learn: a Chinese temple (427x640, colour)",
    "flower": "scikit-learn: a flower (427x640, colour)",
}


def _load_array(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    return getattr(skimage.data, name)()


def sample_image(name: str, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """A real photo as a float tensor in [0, 1].

    Args:
        name: one of :data:`PHOTOS` (for example ``"astronaut"``, ``"coffee"``, ``"coins"``).
        size: optional resize (antialiased): an int sets the shorter side, keeping the
            aspect ratio; ``(height, width)`` sets both.

    Returns:
        Tensor of shape (3, H, W) for colour photos, (1, H, W) for grey ones.
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of: {', '.join(PHOTOS)}")
    array = _load_array(name)
    image = torch.from_numpy(np.array(array, copy=True))
    image = image.unsqueeze(0) if image.ndim == 2 else image.permute(2, 0, 1)
    image = image.float() / 255.0
    if size is not None:
        if isinstance(size, int) and not isinstance(size, bool):
            ok = size > 0
        else:
            ok = (
                isinstance(size, (tuple, list))
                and len(size) == 2
                and all(isinstance(s, int) and s > 0 for s in size)
            )
        if not ok:
            raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
        image = TF.resize(
            image, list(size) if not isinstance(size, int) else [size], antialias=True
        )
        image = image.clamp(0.0, 1.0)
    return image
