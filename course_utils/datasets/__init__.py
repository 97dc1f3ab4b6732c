"""Data for the notebooks: no download ever happens at run time.

- :func:`digits`: scikit-learn's 1,797 real 8x8 handwritten digits, fixed train/val/test split;
  :func:`digits_on_canvas`: the same, each at a random position of a larger image
- :func:`sample_image`: real photos shipped by scikit-image and scikit-learn
- :class:`ShapesScenes`: seeded synthetic scenes of coloured shapes on textured backgrounds,
  with boxes, labels, instance masks, a semantic label map and, for stick-figure people,
  keypoints (detection, segmentation, pose)
- :func:`semantic_scenes`, :class:`SegmentationPairs`: scenes as (image, label map) tensors for
  semantic segmentation, with joint transforms (elastic deformation); :func:`cell_scenes`:
  touching cells and their walls, whose labels survive a smooth deformation
- :func:`detection_collate`: detection samples in batches; :func:`plain`: a sample's tv_tensors
  as plain tensors, for the metrics and models
"""

from .digits import DIGITS_SPLIT_SIZES, digits, digits_on_canvas
from .photos import PHOTOS, sample_image
from .segmentation import CELL_CLASSES, SegmentationPairs, cell_scenes, semantic_scenes
from .shapes import (
    PERSON_FLIP_INDEX,
    PERSON_KEYPOINTS,
    PERSON_SKELETON,
    SHAPE_CLASSES,
    SHAPES,
    ShapesScenes,
    render_scene,
)
from .targets import detection_collate, plain

__all__ = [
    "CELL_CLASSES",
    "DIGITS_SPLIT_SIZES",
    "PERSON_FLIP_INDEX",
    "PERSON_KEYPOINTS",
    "PERSON_SKELETON",
    "PHOTOS",
    "SHAPES",
    "SHAPE_CLASSES",
    "SegmentationPairs",
    "ShapesScenes",
    "cell_scenes",
    "detection_collate",
    "digits",
    "digits_on_canvas",
    "plain",
    "render_scene",
    "sample_image",
    "semantic_scenes",
]
