"""The networks the notebooks train, small enough for a CPU.

- ``classification``: GAP and flatten heads (02), MiniAlexNet (03), residual blocks and ResNets (04)
- ``segmentation``: FCN with a coarse or skip-fused output and bilinear upsampling, U-Net (05)
- ``detectors``: a small backbone, R-CNN, Fast R-CNN; torchvision Faster, Mask
  and Keypoint R-CNN (06-08)
"""

from .classification import *  # noqa: F403
from .classification import __all__ as _classification
from .detectors import *  # noqa: F403
from .detectors import __all__ as _detectors
from .segmentation import *  # noqa: F403
from .segmentation import __all__ as _segmentation

__all__ = [*_classification, *_detectors, *_segmentation]
