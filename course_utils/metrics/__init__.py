"""Evaluation metrics, from scratch, each checked against torchmetrics / pycocotools in the tests.

- ``labels``: classification and semantic segmentation (confusion matrix, accuracy, mean
  accuracy, per-class and mean IoU, boundary IoU), notebooks 02 and 05
- ``ap``: average precision and its mean over classes, for boxes, masks and keypoints
  (06-08); ``matching``: the greedy matching of detections to objects that AP and PCK share
- ``keypoints``: PCK and the object keypoint similarity (08)

Device: every metric moves its tensor inputs to the CPU first and computes there (the metrics
are cheap and largely sequential, e.g. the greedy matching), and returns Python floats or CPU
tensors: pass a model's outputs from any device (CUDA, MPS) as they are. Each module does the
move where its inputs enter, once (``labels._scored_labels``, ``ap._field``, ...).
"""

from .ap import (
    average_precision,
    coco_mean_average_precision,
    mean_average_precision,
)
from .keypoints import (
    box_area,
    left_right_swaps,
    match_people,
    object_keypoint_similarity,
    pck,
    within_radius,
)
from .labels import (
    accuracy,
    boundary_iou,
    confusion_matrix,
    mean_accuracy,
    mean_iou,
    per_class_iou,
)
from .matching import greedy_assignment, match_detections

__all__ = [
    "accuracy",
    "average_precision",
    "boundary_iou",
    "box_area",
    "coco_mean_average_precision",
    "confusion_matrix",
    "greedy_assignment",
    "left_right_swaps",
    "match_detections",
    "match_people",
    "mean_accuracy",
    "mean_average_precision",
    "mean_iou",
    "object_keypoint_similarity",
    "pck",
    "per_class_iou",
    "within_radius",
]
