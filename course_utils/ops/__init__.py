"""From-scratch reference ops, each checked against its library twin (tests/test_ops*.py).

- ``convolution``: ``conv1x1`` (notebook 01), ``global_avg_pool`` and ``class_activation_maps`` (02)
- ``boxes``: ``box_iou``, ``nms`` and box format conversions (06), as ``torchvision.ops``
- ``masks``: ``mask_iou`` (06-07)
- ``roi``: ``roi_pool`` (06), as ``torchvision.ops.roi_pool``, and ``roi_pool_bins``, the pixels
  each of its bins pools (for the figures)
- ``align``: ``bilinear_interpolate`` (07), ``roi_align`` (06-08) as ``torchvision.ops.roi_align``
- ``keypoints``: ``keypoints_to_heatmap``, ``heatmaps_to_keypoints`` (08), as torchvision's
  Keypoint R-CNN encodes and decodes landmarks; ``flip_keypoints`` (08), a horizontal flip that
  swaps left and right landmarks

``_utils`` holds what they share: the argument checks, torchvision's upcasting, C's rounding.

Pure PyTorch and vectorised; same signatures, box format (x1, y1, x2, y2) and results as
torchvision; bad input raises ``ValueError`` saying what is wrong.
"""

from .align import bilinear_interpolate, roi_align
from .boxes import box_area, box_convert, box_iou, nms
from .convolution import class_activation_maps, conv1x1, global_avg_pool
from .keypoints import flip_keypoints, heatmaps_to_keypoints, keypoints_to_heatmap
from .masks import mask_iou
from .roi import roi_pool, roi_pool_bins

__all__ = [
    "bilinear_interpolate",
    "box_area",
    "box_convert",
    "box_iou",
    "class_activation_maps",
    "conv1x1",
    "flip_keypoints",
    "global_avg_pool",
    "heatmaps_to_keypoints",
    "keypoints_to_heatmap",
    "mask_iou",
    "nms",
    "roi_align",
    "roi_pool",
    "roi_pool_bins",
]
