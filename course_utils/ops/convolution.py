"""1x1 convolution, global average pooling and class activation maps, from scratch (01, 02).

Notebook 01 writes :func:`conv1x1` and notebook 02 :func:`global_avg_pool` and
:func:`class_activation_maps` as exercises; these are the twins that later cells use.
"""

from __future__ import annotations

import torch

from ._utils import check_feature_map, check_tensor

__all__ = ["class_activation_maps", "conv1x1", "global_avg_pool"]


def conv1x1(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """A 1x1 convolution as a fully connected layer applied at every pixel (notebook 01).

    ``out[n, o, h, w] = sum_c weight[o, c] * x[n, c, h, w] + bias[o]``.

    Args:
        x: (N, C_in, H, W) feature map.
        weight: (C_out, C_in, 1, 1) as in ``nn.Conv2d(C_in, C_out, 1).weight``, or (C_out, C_in).
        bias: (C_out,) or None.

    Returns:
        (N, C_out, H, W), equal to ``F.conv2d(x, weight, bias)``.
    """
    check_feature_map(x)
    if weight.ndim == 4:
        if weight.shape[2:] != (1, 1):
            raise ValueError(f"weight must be 1x1, got kernel {tuple(weight.shape[2:])}")
        weight = weight[:, :, 0, 0]
    if weight.ndim != 2 or weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"weight must be (C_out, {x.shape[1]}, 1, 1) or (C_out, {x.shape[1]}) for an input "
            f"with {x.shape[1]} channels, got {tuple(weight.shape)}"
        )
    out = torch.einsum("oc,nchw->nohw", weight, x)
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
        out = out + bias[None, :, None, None]
    return out


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling: the mean of each H x W feature map (notebook 02).

    Args:
        x: (N, C, H, W) feature map.

    Returns:
        (N, C): one value per channel, equal to ``nn.AdaptiveAvgPool2d(1)(x).flatten(1)``.
    """
    check_feature_map(x)
    return x.mean(dim=(2, 3))


def class_activation_maps(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Class activation maps of a GAP network (Zhou et al., 2016; notebook 02).

    A GAP head scores class c as ``z_c = sum_k weight[c, k] * mean(features[:, k]) + bias_c``.
    The average and the linear layer commute, so ``z_c - bias_c`` is the mean of the map
    ``M_c = sum_k weight[c, k] * features[:, k]``: the linear layer applied at every position,
    which is a 1x1 convolution (notebook 01) of the features with the classifier's weights.

    Args:
        features: (N, K, h, w), the last feature maps (before the average).
        weight: (C, K), the linear layer's weight.

    Returns:
        (N, C, h, w): one map per class.
    """
    check_feature_map(features, "features")
    check_tensor(weight, "weight", "(C, K) weight matrix of the linear layer", 2)
    return conv1x1(features, weight)
