"""Semantic segmentation networks of notebook 05: FCN (coarse and skip-fused) and U-Net.

Both map an image batch (B, C_in, H, W) to per-pixel class logits (B, num_classes, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .classification import conv_bn_relu

__all__ = ["FCN", "UNet", "UNetUp", "bilinear_kernel", "double_conv", "upsampler"]


def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers (same padding): the unit of the FCN backbone and the U-Net."""
    return nn.Sequential(conv_bn_relu(c_in, c_out), conv_bn_relu(c_out, c_out))


def bilinear_kernel(factor: int) -> torch.Tensor:
    """The (2f, 2f) kernel with which a stride-f transposed convolution upsamples bilinearly.

    Weight ``1 - |x - c| / f`` per axis around the kernel's centre ``c = (2f - 1) / 2``; with
    ``stride=f, padding=f // 2`` the transposed convolution then equals
    ``F.interpolate(scale_factor=f, mode="bilinear", align_corners=False)`` away from the image
    border (at the border it sees zeros where interpolation repeats the edge pixel).
    """
    if not isinstance(factor, int) or factor < 2 or factor % 2:
        raise ValueError(f"factor must be an even int >= 2, got {factor!r}")
    centre = (2 * factor - 1) / 2
    x = torch.arange(2 * factor, dtype=torch.float32)
    w = 1 - (x - centre).abs() / factor
    return w[:, None] * w[None, :]


class _Interpolate(nn.Module):
    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, mode=bilinear"


def upsampler(channels: int, factor: int, mode: str = "bilinear") -> nn.Module:
    """Upsample (B, channels, h, w) to (B, channels, f*h, f*w).

    ``mode="bilinear"``: fixed bilinear interpolation (no parameters).
    ``mode="transposed"``: a learnable per-channel transposed convolution (kernel 2f, stride f)
    initialised to the bilinear kernel, as in the FCN paper: it starts as interpolation and
    training may sharpen it.
    """
    if mode == "bilinear":
        return _Interpolate(factor)
    if mode != "transposed":
        raise ValueError(f'mode must be "bilinear" or "transposed", got {mode!r}')
    up = nn.ConvTranspose2d(
        channels,
        channels,
        2 * factor,
        stride=factor,
        padding=factor // 2,
        groups=channels,
        bias=False,
    )
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(factor).expand_as(up.weight))
    return up


def _check_input(x: torch.Tensor, in_channels: int, multiple: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{name} expects a batch (B, {in_channels}, H, W), got shape {tuple(x.shape)}"
        )
    if x.shape[-2] % multiple or x.shape[-1] % multiple:
        raise ValueError(f"{name} needs H and W divisible by {multiple}, got {tuple(x.shape[-2:])}")


class FCN(nn.Module):
    """A fully convolutional network: convolutional backbone, 1x1 classifier, upsampling.

    The backbone has one stage per entry of ``widths`` (two 3x3 conv-BN-ReLU layers, then a
    2x2 max-pool), so its stride is ``2 ** len(widths)`` (8 for three stages, 16 for four). A
    1x1 convolution turns the last features into class scores at that coarse resolution:

    - ``skips=0``: the coarse scores are upsampled straight back to H x W (like FCN-32s in
      the paper);
    - ``skips=k``: the scores are upsampled 2x and added to scores read (by their own 1x1
      convolution) from the k previous stages, one stage at a time, and only then upsampled
      the rest of the way (like FCN-16s and FCN-8s in the paper).

    ``output_stride`` is the stride of the finest scores, those that the final upsampling
    takes back to H x W: ``2 ** (len(widths) - skips)``, halved by each skip.

    Args:
        num_classes: C, including the background.
        in_channels: 3 for RGB.
        widths: channels of the backbone stages.
        skips: how many earlier stages are fused (0 .. len(widths) - 1).
        upsample: ``"bilinear"`` (fixed interpolation) or ``"transposed"`` (learnable
            transposed convolutions initialised to bilinear); see :func:`upsampler`.
        final_upsample: the same choice for the last upsampling only (default: as
            ``upsample``). The FCN paper learns its intermediate 2x upsamplings from a bilinear
            start and keeps the final one fixed to bilinear: ``upsample="transposed",
            final_upsample="bilinear"``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        widths: Sequence[int] = (16, 32, 64, 64),
        skips: int = 0,
        upsample: str = "bilinear",
        final_upsample: str | None = None,
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        if not 0 <= skips < len(widths):
            raise ValueError(f"skips must be in 0..{len(widths) - 1}, got {skips!r}")
        self.in_channels = in_channels
        self.stages = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.stages.append(nn.Sequential(double_conv(c, w), nn.MaxPool2d(2)))
            c = w
        self.score = nn.Conv2d(widths[-1], num_classes, 1)
        # Skip k reads the output of stage -(k + 2), whose stride is half the previous one's.
        self.skip_scores = nn.ModuleList(
            nn.Conv2d(widths[-(k + 2)], num_classes, 1) for k in range(skips)
        )
        self.skip_ups = nn.ModuleList(upsampler(num_classes, 2, upsample) for _ in range(skips))
        self.output_stride = 2 ** (len(widths) - skips)
        self.final_up = upsampler(num_classes, self.output_stride, final_upsample or upsample)

    @property
    def name(self) -> str:
        return f"FCN-{self.output_stride}s"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2 ** len(self.stages), self.name)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        scores = self.score(x)
        for k, (skip_score, up) in enumerate(zip(self.skip_scores, self.skip_ups, strict=True)):
            scores = up(scores) + skip_score(features[-(k + 2)])
        return self.final_up(scores)


class UNetUp(nn.Module):
    """One U-Net decoder step: upsample, concatenate the encoder's skip, convolve.

    ``up``: a 2x2 transposed convolution with stride 2 (``c_in -> c_out`` channels, doubling H
    and W); ``conv``: :func:`double_conv` on ``torch.cat([skip, up(x)], dim=1)``
    (``c_skip + c_out -> c_out`` channels).

    Shapes: x (B, c_in, h, w), skip (B, c_skip, 2h, 2w) -> (B, c_out, 2h, 2w).
    """

    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2)
        self.conv = double_conv(c_skip + c_out, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            raise ValueError(
                f"upsampled size {tuple(x.shape[-2:])} differs from the skip's "
                f"{tuple(skip.shape[-2:])}"
            )
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """U-Net: an encoder that halves the resolution, a decoder that restores it step by step,
    and skip connections that hand the decoder the encoder's full-resolution features.

    Encoder level i has ``widths[i]`` channels at stride ``2 ** i``; each decoder step
    (:class:`UNetUp`) goes one level up. Unlike the original paper, the convolutions are
    padded, so the output has the input's size (H and W divisible by ``2 ** (levels - 1)``).

    Args:
        num_classes: C, including the background.
        in_channels: 3 for RGB.
        widths: channels per level, from full resolution down.
    """

    def __init__(
        self, num_classes: int, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64, 128)
    ) -> None:
        super().__init__()
        widths = tuple(widths)
        if len(widths) < 2:
            raise ValueError(f"a U-Net needs at least two levels, got widths={widths}")
        self.in_channels = in_channels
        self.down = nn.ModuleList([double_conv(in_channels, widths[0])])
        for c_prev, c in zip(widths, widths[1:], strict=False):
            self.down.append(nn.Sequential(nn.MaxPool2d(2), double_conv(c_prev, c)))
        self.up = nn.ModuleList(
            UNetUp(widths[i + 1], widths[i], widths[i]) for i in reversed(range(len(widths) - 1))
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2 ** (len(self.down) - 1), "UNet")
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.up:
            x = up(x, skips.pop())
        return self.head(x)
