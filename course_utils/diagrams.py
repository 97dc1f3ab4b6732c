"""Architecture diagrams drawn by code: the Inception module (01), residual blocks and a
ResNet stage (04).

Each function draws boxes (layers) and arrows (tensors) with matplotlib into an ``ax`` (a new
figure if none is given) and returns the ``Figure``. The layer sizes written in the boxes are
the arguments, so a diagram always matches the module built from the same numbers.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["draw_inception", "draw_residual_block", "draw_resnet_stage"]

COLOURS = {
    "conv1x1": "#fdd49e",  # 1x1 convolutions: the reductions and projections
    "conv": "#9ecae1",
    "pool": "#c7e9c0",
    "norm": "#e5e5e5",
    "io": "#ffffff",
    "add": "#fcbba1",
}


def _axes(ax, size):
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    ax.set_aspect("equal")
    return ax.figure, ax


def _box(ax, x, y, text, kind, width=1.8, height=0.55, fontsize=9):
    """A layer centred at (x, y); returns its (bottom, top) anchor points."""
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=COLOURS[kind],
            edgecolor="black",
            linewidth=0.8,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return (x, y - height / 2), (x, y + height / 2)


def _arrow(ax, start, end, style="-", rad=0.0):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=8,
            linewidth=0.9,
            linestyle=style,
            connectionstyle=f"arc3,rad={rad}",
            color="black",
            shrinkA=0,
            shrinkB=0,
        )
    )


def draw_inception(
    c_in: int,
    c1: int,
    c3_reduce: int,
    c3: int,
    c5_reduce: int,
    c5: int,
    pool_proj: int,
    reduce: bool = True,
    ax=None,
):
    """The Inception module (the arguments of ``models.Inception``), bottom to top.

    Orange boxes are 1x1 convolutions; every convolution is followed by a ReLU. The output
    depth is written at the top: ``c1 + c3 + c5 + pool_proj`` (or ``+ c_in`` when naive).
    """
    fig, ax = _axes(ax, (6.4, 3.6))
    xs = [0.0, 2.0, 4.0, 6.0]
    _, top_in = _box(ax, 3.0, 0.0, f"previous layer: {c_in} channels", "io", width=3.4)
    if reduce:
        branches = [
            [(f"1x1 conv, {c1}", "conv1x1")],
            [(f"1x1 conv, {c3_reduce}", "conv1x1"), (f"3x3 conv, {c3}", "conv")],
            [(f"1x1 conv, {c5_reduce}", "conv1x1"), (f"5x5 conv, {c5}", "conv")],
            [(f"3x3 max-pool, {c_in}", "pool"), (f"1x1 conv, {pool_proj}", "conv1x1")],
        ]
        depth = c1 + c3 + c5 + pool_proj
    else:
        branches = [
            [(f"1x1 conv, {c1}", "conv1x1")],
            [(f"3x3 conv, {c3}", "conv")],
            [(f"5x5 conv, {c5}", "conv")],
            [(f"3x3 max-pool, {c_in}", "pool")],
        ]
        depth = c1 + c3 + c5 + c_in
    concat_bottom, _ = _box(ax, 3.0, 3.0, f"concatenate: {depth} channels", "io", width=3.4)
    for x, layers in zip(xs, branches, strict=True):
        ys = [1.0, 2.0] if len(layers) == 2 else [1.5]
        previous = top_in
        for y, (text, kind) in zip(ys, layers, strict=True):
            bottom, top = _box(ax, x, y, text, kind)
            _arrow(ax, previous, bottom)
            previous = top
        _arrow(ax, previous, (concat_bottom[0] + (x - 3.0) * 0.4, concat_bottom[1]))
    title = "with dimensionality reduction" if reduce else "naive"
    ax.set_title(f"Inception module, {title}", fontsize=10)
    ax.set_xlim(-1.0, 7.0)
    ax.set_ylim(-0.5, 3.5)
    return fig


def draw_residual_block(
    kind: str = "basic",
    width: int = 64,
    stride: int = 1,
    projection: bool = False,
    c_in: int | None = None,
    ax=None,
):
    """ResNet's basic block (two 3x3 convs) or bottleneck block (1x1, 3x3, 1x1 with 4x the
    width out), bottom to top, with its shortcut: the identity (solid) or a 1x1 projection
    (dashed). ``stride`` is written on the layer that carries it (torchvision's choice);
    ``c_in``, the input's channels, is written on ``x`` (for an identity shortcut it is the
    output's)."""
    if kind not in ("basic", "bottleneck"):
        raise ValueError(f"kind must be 'basic' or 'bottleneck', got {kind!r}")
    fig, ax = _axes(ax, (2.8, 4.2))
    s = f", /{stride}" if stride != 1 else ""
    if kind == "basic":
        layers = [(f"3x3 conv, {width}{s}", "conv"), (f"3x3 conv, {width}", "conv")]
        out = width
    else:
        layers = [
            (f"1x1 conv, {width}", "conv1x1"),
            (f"3x3 conv, {width}{s}", "conv"),
            (f"1x1 conv, {4 * width}", "conv1x1"),
        ]
        out = 4 * width
    c_in = out if c_in is None and not projection else c_in  # identity: as many in as out
    label = "x" if c_in is None else f"x: {c_in} ch"
    _, previous = _box(ax, 0.0, 0.0, label, "io", width=0.6 if c_in is None else 1.2)
    x_top = previous
    y = 0.8
    for i, (text, k) in enumerate(layers):
        bottom, top = _box(
            ax, 0.0, y, f"{text}\n+ BN" + (" + ReLU" if i < len(layers) - 1 else ""), k, height=0.55
        )
        _arrow(ax, previous, bottom)
        previous = top
        y += 0.8
    add_bottom, add_top = _box(ax, 0.0, y, "+", "add", width=0.45, height=0.4, fontsize=10)
    _arrow(ax, previous, add_bottom)
    relu_bottom, relu_top = _box(ax, 0.0, y + 0.7, f"ReLU: {out} channels", "io", width=1.7)
    _arrow(ax, add_top, relu_bottom)
    # The shortcut: right from x, up past the layers, left into the addition.
    style = "--" if projection else "-"
    right = 1.25
    ax.plot(
        [x_top[0] + (0.3 if c_in is None else 0.6), right, right],
        [0.0, 0.0, y],
        color="black",
        linewidth=0.9,
        linestyle=style,
    )
    _arrow(ax, (right, y), (0.23, y), style=style)
    label = "1x1 conv + BN" + (f", /{stride}" if stride != 1 else "") if projection else "identity"
    ax.text(
        right + 0.08, y / 2, label, fontsize=7, style="italic", ha="left", va="center", rotation=90
    )
    ax.set_title(f"{kind} block", fontsize=10)
    ax.set_xlim(-1.2, 1.8)
    ax.set_ylim(-0.4, y + 1.1)
    return fig


def draw_resnet_stage(blocks: int = 3, width: int = 128, ax=None):
    """A ResNet stage: its first block halves H and W (stride 2) and changes the width, so
    its shortcut is a projection (dashed); the other blocks keep the shape (identity)."""
    if blocks < 1:
        raise ValueError(f"a stage has at least one block, got {blocks}")
    fig, ax = _axes(ax, (2.5 * blocks + 3.4, 2.5))
    _, previous = _box(ax, 0.0, 0.0, "from the\nprevious stage", "io", width=1.3, height=0.6)
    previous = (0.65, 0.0)
    for i in range(blocks):
        x = 2.0 + 1.9 * i
        text = f"block {i + 1}\n{width} ch" + (", /2" if i == 0 else "")
        ax.add_patch(
            FancyBboxPatch(
                (x - 0.7, -0.3),
                1.4,
                0.6,
                boxstyle="round,pad=0.02",
                facecolor=COLOURS["conv"],
                edgecolor="black",
                linewidth=0.8,
            )
        )
        ax.text(x, 0.0, text, ha="center", va="center", fontsize=8)
        _arrow(ax, previous, (x - 0.7, 0.0))
        _arrow(ax, (x - 0.9, 0.3), (x + 0.75, 0.3), style="--" if i == 0 else "-", rad=-0.6)
        previous = (x + 0.7, 0.0)
    for i in range(blocks):
        label = "projection" if i == 0 else "identity"
        ax.text(2.0 + 1.9 * i, 1.05, label, fontsize=7, style="italic", ha="center")
    ax.set_title("a ResNet stage", fontsize=10)
    ax.set_xlim(-0.8, 2.0 + 1.9 * blocks)
    ax.set_ylim(-0.6, 1.4)
    return fig
