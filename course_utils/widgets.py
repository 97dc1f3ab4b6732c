"""ipywidgets explorers (notebook 06 on): move a slider, see the boxes change.

Each explorer has a static twin in :mod:`course_utils.viz` that draws the same thing for a few
fixed settings, so a notebook shows the idea without a running kernel (on GitHub, in CI).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt

from . import viz
from .ops import nms
from .regions import anchor_boxes

__all__ = ["anchor_explorer", "iou_explorer", "nms_explorer", "roi_align_explorer"]


#: What a reader without a kernel sees in place of the sliders (GitHub shows a widget's text).
PLACEHOLDER = "[an explorer with sliders: run this cell in JupyterLab or Colab to use it]"


def _interact(function, **controls):
    """Show ``function``'s output under sliders (as ``ipywidgets.interact``) and return them."""
    import ipywidgets  # imported here: the rest of course_utils does not need it
    from IPython.display import display

    widget = ipywidgets.interactive(function, **controls)  # draws the first figure
    # Room for the longest name: the default label is 80 px wide and cut "iou_threshold" and
    # "sampling_ratio" to "iou_thres..." and "sampling_...". One width for all, so that the
    # sliders line up, and as much more for the whole row, so that the tracks keep their length.
    width = max((len(c.description) for c in widget.kwargs_widgets), default=0) + 2
    for control in widget.kwargs_widgets:
        control.style.description_width = f"{width}ch"
        control.layout.width = f"calc({width}ch + 220px)"
    bundle = getattr(widget, "_repr_mimebundle_", None)
    if callable(bundle):  # ipywidgets 8: replace the "interactive(children=..." text
        display({**bundle(), "text/plain": PLACEHOLDER}, raw=True)
    else:  # ipywidgets 7 (Colab's) displays itself
        display(widget)
    return widget


def iou_explorer(box_a=(12, 14, 40, 42), size: int = 64):
    """Box A fixed, sliders for box B's position and size: the intersection, union and IoU."""
    x1, y1, x2, y2 = (float(v) for v in box_a)

    def show(x=24, y=22, width=28, height=28):
        fig, ax = plt.subplots(figsize=(3.5, 3.5))
        viz.draw_iou((x1, y1, x2, y2), (x, y, x + width, y + height), size=size, ax=ax)
        plt.show()

    return _interact(show, x=(0, size - 1), y=(0, size - 1), width=(1, size), height=(1, size))


def nms_explorer(image, boxes, scores, labels=None, class_names: Sequence[str] | None = None):
    """A slider over NMS's IoU threshold: the boxes kept, drawn on the image."""

    def show(iou_threshold=0.5):
        keep = nms(boxes, scores, iou_threshold)
        fig, ax = plt.subplots(figsize=(3.5, 3.5))
        viz.draw_detections(
            image,
            boxes[keep],
            None if labels is None else labels[keep],
            scores=scores[keep],
            class_names=class_names,
            ax=ax,
        )
        ax.set_title(f"IoU threshold {iou_threshold:.2f}: {len(keep)} of {len(boxes)} kept")
        plt.show()

    return _interact(show, iou_threshold=(0.05, 0.95, 0.05))


def anchor_explorer(image, stride: int = 4):
    """Sliders for the anchors at one feature-map position: its place, sizes, aspect ratios."""
    size = image.shape[-1]
    cells = size // stride

    def show(column=cells // 2, row=cells // 2, smallest=8, scales=3, ratio=2.0):
        sizes = tuple(smallest * 2**i for i in range(scales))
        ratios = (1 / ratio, 1.0, ratio) if ratio != 1 else (1.0,)
        anchors = anchor_boxes(sizes, ratios, (column * stride, row * stride))  # as torchvision
        fig, ax = plt.subplots(figsize=(3.5, 3.5))
        viz.draw_anchors(image, anchors, stride=stride, ax=ax)
        ax.set_title(f"{len(anchors)} anchors at cell ({row}, {column})")
        plt.show()

    return _interact(
        show,
        column=(0, cells - 1),
        row=(0, cells - 1),
        smallest=(4, 24, 2),
        scales=(1, 4),
        ratio=(1.0, 4.0, 0.5),
    )


def roi_align_explorer(feature=None, map_size: tuple[int, int] = (8, 8)):
    """Sliders for a box on a feature map (in cells), the bins and RoIAlign's sampling points:
    RoIPool's rounded bins on the left, RoIAlign's bins and samples on the right."""
    if feature is not None:
        map_size = tuple(feature.shape[-2:])
    height, width = map_size

    def show(x1=1.3, y1=2.6, x2=6.1, y2=5.4, output_size=2, sampling_ratio=2, aligned=True):
        box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
        viz.draw_roi_sampling(box, output_size, sampling_ratio, aligned, feature, map_size)
        plt.show()

    return _interact(
        show,
        x1=(0.0, float(width), 0.1),
        y1=(0.0, float(height), 0.1),
        x2=(0.0, float(width), 0.1),
        y2=(0.0, float(height), 0.1),
        output_size=(1, 7),
        sampling_ratio=(1, 4),
        aligned=True,
    )
