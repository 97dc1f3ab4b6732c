"""Evaluation metrics, from scratch, each checked against torchmetrics / pycocotools in the tests.

- ``labels``: classification and semantic segmentation (confusion matrix, accuracy, mean
  accuracy, per-class and mean IoU, boundary IoU), notebooks 02 and 05
- ``detection``: average precision and its mean over classes, for boxes and masks (06, 07)
"""

from .detection import average_precision, match_detections, mean_average_precision
from .labels import (
    accuracy,
    boundary_iou,
    confusion_matrix,
    mean_accuracy,
    mean_iou,
    per_class_iou,
)

__all__ = [
    "accuracy",
    "average_precision",
    "boundary_iou",
    "confusion_matrix",
    "match_detections",
    "mean_accuracy",
    "mean_average_precision",
    "mean_iou",
    "per_class_iou",
]
