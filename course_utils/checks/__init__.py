"""What the exercise check cells call: ``checks.check_<exercise>(answer)`` prints one line.

- ``core``: how a check runs cases and reports (``run_cases``, ``compare_tensors``, ``report``)
- ``classification``: notebooks 01-04 (1x1 convolutions, global average pooling, AlexNet, ResNet)
- ``segmentation``: notebook 05 (confusion matrix, mean IoU, the two losses, the U-Net decoder)
- ``object_detection``: notebook 06 (box IoU, matching, average precision, NMS, RoIPool)
- ``instance``: notebook 07 (mask IoU, bilinear interpolation, RoIAlign, the mask loss)
- ``pose``: notebook 08 (keypoint heatmap targets, the keypoint loss, decoding)
"""

from .classification import *  # noqa: F403
from .classification import __all__ as _classification
from .core import Case, compare_tensors, passed_or_twin, report, run_cases
from .instance import *  # noqa: F403
from .instance import __all__ as _instance
from .object_detection import *  # noqa: F403
from .object_detection import __all__ as _object_detection
from .pose import *  # noqa: F403
from .pose import __all__ as _pose
from .segmentation import *  # noqa: F403
from .segmentation import __all__ as _segmentation

__all__ = [
    "Case",
    "compare_tensors",
    "passed_or_twin",
    "report",
    "run_cases",
    *_classification,
    *_object_detection,
    *_instance,
    *_pose,
    *_segmentation,
]
