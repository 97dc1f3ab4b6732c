"""Figures: image grids, boxes, masks, label maps, training curves, confusion matrices.

Every function draws with matplotlib and returns the ``Figure`` (or draws into a given
``ax``), so notebooks can show, save or test it. Images are tensors (C, H, W) or (H, W),
float in [0, 1] or uint8, as the datasets return them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors as mcolors
from matplotlib.patches import Patch, Rectangle
from torchvision.utils import draw_segmentation_masks

from .history import History
from .ops import box_area, box_iou, roi_pool_bins
from .regions import anchor_boxes as anchors_at  # the name notebook 06 knows

__all__ = [
    "anchors_at",
    "draw_anchors",
    "draw_detections",
    "draw_iou",
    "draw_roi_sampling",
    "label_colors",
    "log_axis",
    "overlay_label_map",
    "plot_confusion_matrix",
    "plot_history",
    "plot_pr_curves",
    "plot_runs",
    "show_images",
    "show_label_map",
    "to_numpy_image",
]


def to_numpy_image(image) -> np.ndarray:
    """An image for ``imshow``: tensors are (C, H, W) or (H, W); arrays (H, W, C) or (H, W).

    Returns a float array (H, W, 3) or (H, W); uint8 tensors are scaled to [0, 1].
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype == torch.uint8:
            image = image.float() / 255
        if image.ndim == 3:
            image = image.permute(1, 2, 0)
        image = image.float().numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(
            f"expected a tensor (C, H, W) / (H, W) or an array (H, W, C) / (H, W) with 1, 3 "
            f"or 4 channels, got shape {tuple(image.shape)}"
        )
    return image


def show_images(
    images,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.6,
    cmap: str = "gray",
    suptitle: str | None = None,
):
    """Show a grid of images (a batch tensor (N, C, H, W) or a list of images)."""
    images = list(images)
    if not images:
        raise ValueError("no images to show")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * bool(suptitle))
    )
    axes = np.atleast_1d(axes).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(images):
            img = to_numpy_image(images[i])
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def label_colors(num_classes: int) -> np.ndarray:
    """A fixed palette: (num_classes, 3) floats, black for class 0 (background)."""
    base = plt.get_cmap("tab10").colors + plt.get_cmap("Set3").colors
    colours = [(0.0, 0.0, 0.0)] + [base[i % len(base)] for i in range(num_classes - 1)]
    return np.array(colours[:num_classes])


def show_label_map(label_map, class_names: Sequence[str], ax=None, legend: bool = True):
    """Draw an (H, W) integer label map with one colour per class and a legend."""
    labels = np.asarray(label_map.cpu() if isinstance(label_map, torch.Tensor) else label_map)
    if labels.ndim != 2:
        raise ValueError(f"label_map must be (H, W), got shape {labels.shape}")
    n = len(class_names)
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"labels must be in 0..{n - 1} for {n} class names")
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    colours = label_colors(n)
    ax.imshow(
        labels,
        cmap=mcolors.ListedColormap(colours),
        vmin=-0.5,
        vmax=n - 0.5,
        interpolation="nearest",
    )
    ax.axis("off")
    if legend:
        handles = [Patch(color=colours[i], label=name) for i, name in enumerate(class_names)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return ax.figure


def overlay_label_map(
    image, label_map, class_names: Sequence[str], ax=None, alpha: float = 0.55, title=None
):
    """Draw an image with a label map over it: each class but the background (0) in its colour.

    Uses ``torchvision.utils.draw_segmentation_masks``. image: (3, H, W) float in [0, 1] or
    uint8; label_map: (H, W) integer labels in ``0..len(class_names) - 1``.
    """
    img = image.detach().cpu() if isinstance(image, torch.Tensor) else torch.as_tensor(image)
    labels = torch.as_tensor(label_map).detach().cpu()
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got {tuple(img.shape)}")
    if labels.shape != img.shape[1:]:
        raise ValueError(
            f"label_map must be (H, W) = {tuple(img.shape[1:])}, got {tuple(labels.shape)}"
        )
    n = len(class_names)
    if labels.numel() and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"labels must be in 0..{n - 1} for {n} class names")
    if img.dtype != torch.uint8:
        img = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    colours = label_colors(n)
    masks = labels[None] == torch.arange(1, n)[:, None, None]
    cols = [tuple(int(255 * v) for v in colours[k]) for k in range(1, n)]
    if n > 1:
        img = draw_segmentation_masks(img, masks, alpha=alpha, colors=cols)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax.figure


def draw_detections(
    image,
    boxes=None,
    labels=None,
    masks=None,
    scores=None,
    class_names: Sequence[str] | None = None,
    ax=None,
    mask_alpha: float = 0.45,
    keypoints=None,
    skeleton: Sequence[tuple[int, int]] = (),
    show_hidden: bool = False,
    captions: Sequence[str] | None = None,
):
    """Draw an image with its instance masks (filled), boxes (outlines), labels and keypoints.

    Each box's label (caption, class name, score) sits above its top-left corner, or is moved
    down until it overlaps no label drawn before it.

    Args:
        image: (3, H, W) float in [0, 1] (or uint8).
        boxes: (N, 4) XYXY in pixels; labels: (N,) int; masks: (N, H, W) bool/0-1;
        scores: (N,) optional, written after the class name.
        class_names: names indexed by label (``class_names[0]`` is the background).
        keypoints: (N, K, 3) x, y, visibility: landmarks with visibility > 0 are drawn as
            dots joined by the ``skeleton``'s bones (pairs of landmark indices).
        show_hidden: draw visibility-1 landmarks (hidden by another object) as hollow dots.
        captions: (N,) optional texts written before each box's class name (e.g. "TP").
    """
    img = image.detach().cpu() if isinstance(image, torch.Tensor) else torch.as_tensor(image)
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got {tuple(img.shape)}")
    if img.dtype != torch.uint8:
        img = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    n = 0 if boxes is None else len(boxes)
    palette = label_colors(max(len(class_names or ()), 10) + 1)
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} boxes")
    if captions is not None and len(captions) != n:
        raise ValueError(f"got {len(captions)} captions for {n} boxes")

    def colour_of(i):
        return (
            tuple(palette[1 + (int(labels[i]) - 1) % (len(palette) - 1)])
            if labels is not None
            else tuple(palette[1 + i % (len(palette) - 1)])
        )

    if masks is not None and len(masks):
        m = torch.as_tensor(masks).detach().cpu().bool()
        cols = [tuple(int(255 * c) for c in colour_of(i)) for i in range(len(m))]
        img = draw_segmentation_masks(img, m, alpha=mask_alpha, colors=cols)
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(img.permute(1, 2, 0).numpy())
    ax.axis("off")
    placed = []  # the labels drawn so far, to keep new ones off them
    for i in range(n):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        colour = colour_of(i)
        ax.add_patch(
            Rectangle(
                (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5
            )
        )
        text = [] if captions is None else [str(captions[i])]
        if labels is not None:
            lab = int(labels[i])
            text.append(class_names[lab] if class_names is not None else str(lab))
        if scores is not None:
            text.append(f"{float(scores[i]):.2f}")
        if text:
            placed.append(
                _place_label(
                    ax,
                    (x1 - 0.5, y1 - 1),
                    " ".join(text),
                    colour,
                    placed,
                )
            )
    if keypoints is not None:
        if len(keypoints) != n:
            raise ValueError(f"got keypoints for {len(keypoints)} instances and {n} boxes")
        for i in range(n):
            _draw_skeleton(
                ax, torch.as_tensor(keypoints[i]).cpu(), skeleton, colour_of(i), show_hidden
            )
    return ax.figure


def _place_label(ax, xy, text: str, colour, placed: list, max_moves: int = 12):
    """Write ``text`` at ``xy`` (data units); move it down a line at a time while its box
    overlaps one of the ``placed`` labels. Returns the text artist."""
    label = ax.text(
        *xy,
        text,
        fontsize=7,
        color="white",
        bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "linewidth": 0},
    )
    renderer = ax.figure.canvas.get_renderer()
    to_data = ax.transData.inverted()
    for _ in range(max_moves):
        box = label.get_window_extent(renderer).expanded(1.0, 1.15)
        if not any(box.overlaps(other.get_window_extent(renderer)) for other in placed):
            break
        (_, y0), (_, y1) = to_data.transform([(box.x0, box.y0), (box.x0, box.y1)])
        x, y = label.get_position()
        label.set_position((x, y + abs(y1 - y0)))  # down one label height (y grows downwards)
    return label


def _draw_skeleton(ax, points: torch.Tensor, skeleton, colour, show_hidden: bool) -> None:
    """One instance's (K, 3) landmarks: bones in white over the colour, dots at the joints."""
    x, y, v = points[:, 0] - 0.5, points[:, 1] - 0.5, points[:, 2]  # pixel centres at integers
    for a, b in skeleton:
        if v[a] > 0 and v[b] > 0:
            ax.plot(x[[a, b]], y[[a, b]], color="white", linewidth=2.2, solid_capstyle="round")
            ax.plot(x[[a, b]], y[[a, b]], color=colour, linewidth=1.2, solid_capstyle="round")
    shown = v == 2 if show_hidden else v > 0
    ax.scatter(x[shown], y[shown], s=9, color=colour, edgecolors="white", linewidths=0.5, zorder=3)
    if show_hidden:
        hidden = v == 1
        ax.scatter(x[hidden], y[hidden], s=9, facecolors="none", edgecolors="white", zorder=3)


def plot_history(
    history: History | Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    title: str | None = None,
):
    """Plot training curves: losses on the left, accuracies on the right, per epoch (or per
    window of iterations, for a detector's history).

    ``history``: a :class:`~course_utils.train.History` (what ``train.fit`` and
    ``train.fit_detector`` return), or a dict of per-epoch curves ``{name: values}`` (several
    runs' curves gathered under new names, say).
    """
    if isinstance(history, History):
        curves, unit, step = history.curves, history.unit, history.step
    elif isinstance(history, Mapping):
        curves, unit, step = dict(history), "epoch", 1
    else:
        raise TypeError(
            "history must be a course_utils.train.History (what train.fit returns) or a dict "
            f"{{name: values}} of per-epoch curves, got {type(history).__name__}"
        )
    keys = list(keys) if keys is not None else list(curves)
    missing = [k for k in keys if k not in curves]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(curves)}")
    groups = {
        "loss": [k for k in keys if "loss" in k],
        "other": [k for k in keys if "loss" not in k],
    }
    groups = {g: ks for g, ks in groups.items() if ks}
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.2), squeeze=False)
    for ax, (group, ks) in zip(axes[0], groups.items(), strict=True):
        for k in ks:
            ax.plot([step * (i + 1) for i in range(len(curves[k]))], curves[k], marker=".", label=k)
        ax.set_xlabel(unit)
        names = {k.split("_", 1)[-1] for k in ks}  # "train_accuracy" -> "accuracy"
        ax.set_ylabel("loss" if group == "loss" else " / ".join(sorted(names)))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_runs(ax, x, runs, label: str | None = None, color=None, style: str = "-"):
    """Several runs of one experiment (seeds) as their mean and, shaded, the range from the
    lowest to the highest run at each x. ``runs``: (R, T) values, ``x``: T positions.
    NaN values (a diverged run) are left out of the mean and the range. Returns the line."""
    values = torch.as_tensor(runs, dtype=torch.float64)
    if values.ndim != 2 or values.shape[1] != len(x):
        raise ValueError(f"runs must be (runs, {len(x)}) values, got shape {tuple(values.shape)}")
    finite = torch.isfinite(values)
    low = torch.where(finite, values, torch.inf).amin(0)
    high = torch.where(finite, values, -torch.inf).amax(0)
    mean = torch.where(finite, values, 0).sum(0) / finite.sum(0).clamp(min=1)
    mean[finite.sum(0) == 0] = torch.nan
    (line,) = ax.plot(x, mean.numpy(), style, color=color, label=label)
    ax.fill_between(x, low.numpy(), high.numpy(), color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def log_axis(ax, axis: str = "x"):
    """Put ``ax``'s x (or y) axis on a log scale labelled with plain numbers at 1, 2 and 5 times
    the powers of ten (``20, 50, 100, 200``), without matplotlib's crowded minor-tick labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    which = ax.xaxis if axis == "x" else ax.yaxis
    which.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    which.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    which.set_minor_formatter(NullFormatter())
    return ax


def plot_confusion_matrix(
    cm,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    ax=None,
    title: str = "confusion matrix",
):
    """Draw a confusion matrix (rows: true class, columns: predicted class) with counts."""
    cm = np.asarray(cm.cpu() if isinstance(cm, torch.Tensor) else cm, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be square (C, C), got shape {cm.shape}")
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"got {len(names)} class names for a {n}x{n} matrix")
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * n + 2, 0.45 * n + 1.6))
    ax.imshow(shown, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                dark = shown[i, j] > 0.6 * shown.max()
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(n), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def draw_iou(box_a, box_b, size: int = 64, ax=None):
    """Two xyxy boxes on a ``size`` x ``size`` canvas, their intersection filled, and the IoU
    with its two areas in the title (the static twin of ``widgets.iou_explorer``)."""
    a, b = (torch.as_tensor(box, dtype=torch.float32) for box in (box_a, box_b))
    for name, box in (("box_a", a), ("box_b", b)):
        if box.shape != (4,) or not bool((box[2:] >= box[:2]).all()):
            raise ValueError(
                f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, got {box.tolist()}"
            )
    top_left, bottom_right = torch.max(a[:2], b[:2]), torch.min(a[2:], b[2:])
    inter_wh = (bottom_right - top_left).clamp(min=0)  # the rectangle to fill
    inter = float(inter_wh.prod())
    union = float(box_area(torch.stack([a, b])).sum()) - inter
    iou = float(box_iou(a[None].double(), b[None].double()).nan_to_num(0.0))  # 0 / 0: 0
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    if inter > 0:
        x, y = top_left.tolist()
        w, h = inter_wh.tolist()
        ax.add_patch(Rectangle((x, y), w, h, color="tab:purple", alpha=0.45, linewidth=0))
    for box, colour, label in ((a, "tab:blue", "A"), (b, "tab:red", "B")):
        x1, y1, x2, y2 = box.tolist()
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, lw=2))
        ax.text(x1 + 0.5, y1 + 0.5, label, color=colour, va="top", fontsize=9, weight="bold")
    ax.set_xlim(0, size)
    ax.set_ylim(size, 0)  # image coordinates: y grows downwards
    ax.set_aspect("equal")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(f"IoU = {inter:.0f} / {union:.0f} = {iou:.2f}", fontsize=9)
    return ax.figure


def draw_anchors(
    image, anchors, stride: int | None = None, ax=None, colour=None, linewidth: float = 1.2
):
    """Draw anchor (or any) boxes on an image, optionally with the feature map's grid of ``stride``.

    Boxes take the colours of ``tab10`` in turn, or all ``colour``. Drawing on an ``ax`` that
    already shows an image adds the boxes to it.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    if not ax.images:
        ax.imshow(to_numpy_image(image))
    if stride:
        for t in range(0, image.shape[-1] + 1, stride):
            ax.axvline(t - 0.5, color="white", linewidth=0.3, alpha=0.5)
            ax.axhline(t - 0.5, color="white", linewidth=0.3, alpha=0.5)
    colours = plt.cm.tab10.colors
    for i, (x1, y1, x2, y2) in enumerate(torch.as_tensor(anchors).tolist()):
        ax.add_patch(
            Rectangle(
                (x1 - 0.5, y1 - 0.5),
                x2 - x1,
                y2 - y1,
                fill=False,
                linewidth=linewidth,
                edgecolor=colours[i % 10] if colour is None else colour,
            )
        )
    ax.set_xlim(-0.5, image.shape[-1] - 0.5)
    ax.set_ylim(image.shape[-2] - 0.5, -0.5)
    ax.axis("off")
    return ax.figure


def plot_pr_curves(
    curves: dict, class_names: Sequence[str], per_class_ap: dict | None = None, ax=None
):
    """Precision-recall curves, one per class, from ``mean_average_precision(...)["curves"]``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    for label, (precision, recall) in sorted(curves.items()):
        name = class_names[label]
        if per_class_ap is not None:
            name += f" (AP {per_class_ap[label]:.3f})"
        ax.step(recall.tolist(), precision.tolist(), where="post", label=name)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    return ax.figure


def _roi_align_points(start: float, end: float, bins: int, grid: int, aligned: bool):
    """RoIAlign's bin edges and sampling points along one axis, in cell coordinates
    (cell i spans [i, i + 1); torchvision's pixel index i sits at i + 0.5)."""
    offset = 0.5 if aligned else 0.0
    first = start - offset
    length = end - start if aligned else max(end - start, 1.0)
    step = length / bins
    edges = first + 0.5 + step * np.arange(bins + 1)
    points = first + 0.5 + step * (np.arange(bins * grid) + 0.5) / grid
    return edges, points


def draw_roi_sampling(
    box,
    output_size: int = 2,
    sampling_ratio: int = 2,
    aligned: bool = True,
    feature=None,
    map_size: tuple[int, int] = (8, 8),
    axes=None,
):
    """Where RoIPool's bins land and where RoIAlign samples, for one box on a feature map.

    Args:
        box: (x1, y1, x2, y2) in feature-map cells (the image box times ``spatial_scale``).
        output_size: bins per side; sampling_ratio: RoIAlign's samples per bin and axis (>= 1).
        aligned: RoIAlign's half-pixel correction; without it the samples sit half a cell off.
        feature: optional (H, W) map drawn underneath (then ``map_size`` is its shape).
        axes: two matplotlib axes (RoIPool, RoIAlign), or None for a new figure.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 >= x1 and y2 >= y1):
        raise ValueError(f"box must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, got {box}")
    if not isinstance(sampling_ratio, int) or sampling_ratio < 1:
        raise ValueError(f"sampling_ratio must be an int >= 1 here, got {sampling_ratio!r}")
    if not isinstance(output_size, int) or output_size < 1:
        raise ValueError(f"output_size must be a positive int, got {output_size!r}")
    if feature is not None:
        feature = np.asarray(torch.as_tensor(feature).detach().cpu(), dtype=float)
        map_size = feature.shape
    height, width = map_size
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7, 3.6))
    colours = plt.cm.tab10.colors
    for ax in axes:
        if feature is not None:
            ax.imshow(feature, cmap="gray", extent=(0, width, height, 0), alpha=0.6)
        for t in range(width + 1):
            ax.axvline(t, color="0.6", linewidth=0.5)
        for t in range(height + 1):
            ax.axhline(t, color="0.6", linewidth=0.5)
        ax.add_patch(
            Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, linestyle="--", linewidth=1.5)
        )
        ax.set_xlim(-0.5, width + 0.5)
        ax.set_ylim(height + 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xlabel("feature-map column")
        ax.set_ylabel("feature-map row")
    (r_lo, r_hi), (c_lo, c_hi) = roi_pool_bins(
        torch.tensor([[x1, y1, x2, y2]], dtype=torch.float64), output_size, 1.0, (height, width)
    )
    rows = list(zip(r_lo[0].tolist(), r_hi[0].tolist(), strict=True))
    cols = list(zip(c_lo[0].tolist(), c_hi[0].tolist(), strict=True))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            colour = colours[(i * output_size + j) % 10]
            axes[0].add_patch(
                Rectangle((c0, r0), c1 - c0, r1 - r0, color=colour, alpha=0.3, linewidth=0)
            )
            axes[0].add_patch(
                Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, edgecolor=colour, linewidth=1.5)
            )
    axes[0].set_title("RoIPool: rounded to whole cells")
    y_edges, y_points = _roi_align_points(y1, y2, output_size, sampling_ratio, aligned)
    x_edges, x_points = _roi_align_points(x1, x2, output_size, sampling_ratio, aligned)
    for e in x_edges:
        axes[1].plot([e, e], [y_edges[0], y_edges[-1]], color="tab:blue", linewidth=1)
    for e in y_edges:
        axes[1].plot([x_edges[0], x_edges[-1]], [e, e], color="tab:blue", linewidth=1)
    yy, xx = np.meshgrid(y_points, x_points, indexing="ij")
    axes[1].scatter(xx.ravel(), yy.ravel(), s=12, color="tab:red", zorder=3)
    shift = "" if aligned else " (not aligned)"
    axes[1].set_title(f"RoIAlign: {sampling_ratio}x{sampling_ratio} samples per bin{shift}")
    for ax in axes:
        ax.title.set_fontsize(9)
    axes[0].figure.tight_layout()
    return axes[0].figure
