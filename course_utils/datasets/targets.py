"""Detection samples in batches: :func:`detection_collate` for a ``DataLoader``."""

from __future__ import annotations

__all__ = ["detection_collate"]


def detection_collate(batch):
    """Collate detection samples into ``(list of images, list of targets)``.

    Detection models take lists because every image has a different number of objects;
    pass this as ``DataLoader(..., collate_fn=detection_collate)``.
    """
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
