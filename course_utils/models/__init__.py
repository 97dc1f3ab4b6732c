"""The networks the notebooks train, small enough for a CPU.

- ``classification``: GAP and flatten heads (02), MiniAlexNet (03), residual blocks and ResNets (04)
- ``segmentation``: FCN with a coarse or skip-fused output and bilinear upsampling, U-Net (05)
"""

from .classification import *  # noqa: F403
from .classification import __all__ as _classification
from .segmentation import *  # noqa: F403
from .segmentation import __all__ as _segmentation

__all__ = [*_classification, *_segmentation]
