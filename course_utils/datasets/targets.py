"""Detection samples in batches and as plain tensors.

- :func:`detection_collate` for a ``DataLoader``: ``(list of images, list of targets)``
- :func:`plain`: a sample's tv_tensors (``Image``, ``BoundingBoxes``, ``Mask``) as plain tensors,
  for the metrics and models
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["detection_collate", "plain"]


def detection_collate(batch):
    """Collate detection samples into ``(list of images, list of targets)``.

    Detection models take lists because every image has a different number of objects;
    pass this as ``DataLoader(..., collate_fn=detection_collate)``.
    """
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def plain(value, keys: Iterable[str] | None = None):
    """``value`` with every tv_tensor in it as a plain ``torch.Tensor``; nothing is copied.

    The scenes come as ``torchvision.tv_tensors`` (``Image``, ``BoundingBoxes``, ``Mask``) so that
    ``transforms.v2`` moves an image's boxes and masks along with it. Those subclasses carry
    metadata (a box format, a canvas size) and their own dispatch rules: most operations on them
    return a plain tensor, but some keep the subclass, and a model or a metric that checks types
    can trip on it. The metrics and the models want plain tensors: this gives them, as views of
    the same storage (``tensor.as_subclass(torch.Tensor)``).

    Args:
        value: a tensor (any subclass of ``torch.Tensor`` becomes a plain one; a plain tensor is
            returned as is), or dicts, lists and tuples of them, converted all the way down;
            other values (``int`` labels, strings, ``None``) are returned unchanged.
        keys: keep only these entries (names, or one name as a string), in this order, of the
            outermost dict(s): of ``value`` if it is a dict (a target), or of each dict in it if
            it is a list or tuple (a list of targets). ``None`` keeps them all.

    Returns:
        The same structure (dicts, lists and tuples rebuilt, never modified in place).

    Raises:
        ValueError: a dict lacks one of ``keys``.

    Example: ``plain([target for _, target in pairs], keys=("boxes", "labels"))`` for a metric,
    ``plain([image for image, _ in pairs])`` for a model.
    """
    if keys is not None:
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
    return _plain(value, keys)


def _plain(value, keys):
    if isinstance(value, torch.Tensor):
        return value if type(value) is torch.Tensor else value.as_subclass(torch.Tensor)
    if isinstance(value, dict):
        if keys is None:
            return {k: _plain(v, None) for k, v in value.items()}
        missing = [k for k in keys if k not in value]
        if missing:
            raise ValueError(
                f"plain: no {', '.join(map(repr, missing))} in this dict; its keys are "
                f"{', '.join(map(repr, value))}"
            )
        return {k: _plain(value[k], None) for k in keys}
    if isinstance(value, list):
        return [_plain(v, keys) for v in value]
    if isinstance(value, tuple):
        items = [_plain(v, keys) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value
