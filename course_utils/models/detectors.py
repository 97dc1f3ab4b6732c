"""The detectors of notebook 06 (and the backbones of 07-08), small enough for a CPU.

- ``Backbone``: a plain conv-BN-ReLU stack with one output feature map (stride 4 by default);
- ``RCNN`` and ``FastRCNN``: the two classic region-based detectors, built from the same conv
  stack and the same head so that only *where the image is split into regions* differs: R-CNN
  warps every proposal out of the image and runs the CNN on each; Fast R-CNN runs the CNN once
  on the image and RoI-pools each proposal out of the feature map;
- ``faster_rcnn``, ``mask_rcnn`` (07) and ``keypoint_rcnn`` (08): torchvision's
  ``FasterRCNN``, ``MaskRCNN`` and ``KeypointRCNN`` around a ``Backbone``, with small heads
  (torchvision's defaults are sized for ImageNet backbones) and RoI poolers that use
  ``course_utils.ops.roi_align``.

R-CNN and Fast R-CNN run torchvision's C++ ``roi_align`` (the warp) and ``roi_pool``, so that
timing them compares the two designs, not two implementations of an op; ``course_utils.ops``
gives the same numbers (tests/test_ops_detection.py). They follow torchvision's detection
interface: ``model(images, targets)`` in
training mode returns a dict of losses; in eval mode ``model(images)`` returns one dict per image
with ``boxes`` (D, 4) xyxy, ``scores`` (D,) and ``labels`` (D,).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FasterRCNN, KeypointRCNN, MaskRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import roi_align as tv_roi_align
from torchvision.ops import roi_pool as tv_roi_pool

from ..datasets.targets import plain
from ..ops.align import roi_align
from ..regions import encode_boxes, label_proposals, postprocess, sample_balanced
from .classification import conv_bn_relu

__all__ = [
    "Backbone",
    "FastRCNN",
    "RCNN",
    "RegionDetector",
    "RoIAlignPooler",
    "faster_rcnn",
    "keypoint_rcnn",
    "mask_rcnn",
]


class Backbone(nn.Sequential):
    """3x3 conv-BN-ReLU layers; ``out_channels`` and ``stride`` describe the output map.

    Args:
        widths: output channels of each layer.
        strides: stride of each layer (1 or 2); the output stride is their product.
    """

    def __init__(
        self, widths: Sequence[int] = (32,) * 6, strides: Sequence[int] = (2, 1, 2, 1, 1, 1)
    ):
        if len(widths) != len(strides) or not widths:
            raise ValueError(f"need one stride per width, got {len(widths)} and {len(strides)}")
        if any(s not in (1, 2) for s in strides) or any(w < 1 for w in widths):
            raise ValueError(f"strides must be 1 or 2 and widths positive: {strides}, {widths}")
        chans = (3, *widths)
        super().__init__(
            *(
                conv_bn_relu(a, b, 3, s)
                for a, b, s in zip(chans[:-1], chans[1:], strides, strict=True)
            )
        )
        self.out_channels = widths[-1]
        self.stride = math.prod(strides)


def _batch(images) -> torch.Tensor:
    if isinstance(images, (list, tuple)):
        images = torch.stack([torch.as_tensor(i) for i in images])
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"expected square RGB images (N, 3, S, S), got {tuple(images.shape)}")
    return plain(images)


class RegionDetector(nn.Module):
    """What R-CNN and Fast R-CNN share: fixed proposals, a per-region head, training, output.

    Subclasses define ``region_features(images, rois) -> (K, feature_dim)`` for RoIs given as
    (K, 5) rows of (image index, x1, y1, x2, y2).

    Args:
        num_classes: object classes (labels 1..C; 0 is the background).
        proposals: (P, 4) boxes proposed for every image (e.g. sliding windows). In training, a
            target may carry its own image's (P_i, 4) boxes under ``"proposals"`` (e.g. from
            selective search), which are then sampled instead; at inference set
            ``model.proposals`` to an image's boxes before calling the model on that image.
        feature_dim: size of a region's feature vector.
        representation: width of the head's hidden layer.
        regions_per_image, positive_fraction: training samples this many proposals per image,
            at most this fraction of them objects (R-CNN's balanced sampling).
    """

    def __init__(
        self,
        num_classes: int,
        proposals: torch.Tensor,
        feature_dim: int,
        representation: int = 128,
        regions_per_image: int = 64,
        positive_fraction: float = 0.25,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("proposals", proposals.float().clone(), persistent=False)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(feature_dim, representation), nn.ReLU())
        self.classifier = nn.Linear(representation, num_classes + 1)
        self.box_regressor = nn.Linear(representation, 4 * num_classes)
        self.regions_per_image = regions_per_image
        self.positive_fraction = positive_fraction

    def region_features(self, images: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _sample(self, target: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        proposals = target.get("proposals", self.proposals)
        labels, matched = label_proposals(proposals, target["boxes"], target["labels"])
        pick = torch.cat(
            sample_balanced(
                (labels > 0).nonzero().squeeze(1),
                (labels == 0).nonzero().squeeze(1),
                self.regions_per_image,
                self.positive_fraction,
            )
        )
        boxes = proposals[pick]
        gt = target["boxes"][matched[pick]] if len(target["boxes"]) else boxes
        return boxes, labels[pick], encode_boxes(boxes, gt)

    def forward(self, images, targets: Sequence[dict] | None = None):
        images = _batch(images)
        if self.training:
            if targets is None:
                raise ValueError("in training mode the model needs targets")
            samples = [self._sample(t) for t in targets]
            rois = torch.cat(
                [F.pad(boxes, (1, 0), value=float(i)) for i, (boxes, _, _) in enumerate(samples)]
            )
            labels = torch.cat([s[1] for s in samples])
            deltas = torch.cat([s[2] for s in samples])
            hidden = self.head(self.region_features(images, rois))
            logits, regression = self.classifier(hidden), self.box_regressor(hidden)
            pos = (labels > 0).nonzero().squeeze(1)
            predicted = regression.view(len(labels), self.num_classes, 4)[pos, labels[pos] - 1]
            box_loss = F.smooth_l1_loss(predicted, deltas[pos], beta=1 / 9, reduction="sum")
            return {
                "loss_classifier": F.cross_entropy(logits, labels),
                "loss_box_reg": box_loss / max(len(labels), 1),
            }
        # One image at a time: a batch's R-CNN crops (P per image) would fill the memory.
        rois = F.pad(self.proposals, (1, 0), value=0.0)
        detections = []
        for image in images:
            hidden = self.head(self.region_features(image[None], rois))
            logits, regression = self.classifier(hidden), self.box_regressor(hidden)
            detections.append(postprocess(self.proposals, logits, regression, images.shape[-1]))
        return detections


class RCNN(RegionDetector):
    """R-CNN: warp every proposal to ``crop_size`` x ``crop_size`` pixels, run the CNN on each.

    The warp is a bilinear crop-and-resize (``roi_align`` on the image itself). The CNN is
    :class:`FastRCNN`'s (stride 4) followed by a max-pool that brings its output to 4 x 4 cells
    for the default 32-pixel crops, so that both detectors feed the same head the same size of
    feature. A 32x32 crop is a quarter of a 64x64 scene, about the share of the image that R-CNN's
    227x227 crops had of a 500x375 Pascal VOC photo.
    """

    def __init__(self, num_classes, proposals, crop_size: int = 32, widths=(16, 32, 32, 32), **kw):
        cnn = Backbone(widths, (1, 2, 2, 1))
        side = crop_size // cnn.stride // 2
        super().__init__(num_classes, proposals, cnn.out_channels * side * side, **kw)
        self.cnn = cnn
        self.pool = nn.MaxPool2d(2)
        self.crop_size = crop_size

    def warp(self, images: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """(K, 3, crop, crop): each RoI's pixels resampled to the CNN's fixed input size."""
        return tv_roi_align(images, rois, self.crop_size, 1.0, sampling_ratio=1, aligned=True)

    def region_features(self, images, rois):
        return self.pool(self.cnn(self.warp(images, rois)))


class FastRCNN(RegionDetector):
    """Fast R-CNN: run the CNN once per image; RoIPool each proposal from its feature map.

    The same :class:`Backbone` as :class:`RCNN` (stride 4); RoIPool to ``pool_size`` bins
    gives each region a feature of the same size as R-CNN's.
    """

    def __init__(self, num_classes, proposals, pool_size: int = 4, widths=(16, 32, 32, 32), **kw):
        cnn = Backbone(widths, (1, 2, 2, 1))
        super().__init__(num_classes, proposals, cnn.out_channels * pool_size * pool_size, **kw)
        self.cnn = cnn
        self.pool_size = pool_size

    def region_features(self, images, rois):
        features = self.cnn(images)
        return tv_roi_pool(features, rois, self.pool_size, 1.0 / self.cnn.stride)


class RoIAlignPooler(MultiScaleRoIAlign):
    """torchvision's RoI pooler for a one-map backbone, running ``course_utils.ops.roi_align``.

    Its backward pass (two matrix products per image) is several times faster on a CPU than
    torchvision's C++ kernel at these sizes (``benchmarks/detection_ops.py``), which makes
    training the detectors of notebooks 06-08 faster. ``stride`` is the backbone's.
    """

    def __init__(self, output_size: int, sampling_ratio: int = 1, stride: int = 4):
        super().__init__(["0"], output_size, sampling_ratio)
        self.stride = stride

    def forward(self, x, boxes, image_shapes):  # same arguments as MultiScaleRoIAlign
        features = x["0"] if isinstance(x, dict) else x
        return roi_align(
            features, list(boxes), self.output_size, 1.0 / self.stride, self.sampling_ratio
        )


def _detector_parts(
    num_classes: int,
    backbone: Backbone | None = None,
    *,
    image_size: int = 64,
    anchor_sizes: Sequence[int] = (8, 16, 32),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    pool_size: int = 7,
    representation: int = 128,
    **overrides,
) -> tuple[Backbone, dict]:
    """The backbone and the ``FasterRCNN`` arguments that Faster and Mask R-CNN share."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            f"num_classes must be a positive int (without background), got {num_classes!r}"
        )
    backbone = backbone if backbone is not None else Backbone()
    options = {
        "min_size": image_size,
        "max_size": image_size,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.25, 0.25, 0.25],
        "rpn_pre_nms_top_n_train": 300,
        "rpn_post_nms_top_n_train": 100,
        "rpn_pre_nms_top_n_test": 150,
        "rpn_post_nms_top_n_test": 50,
        "rpn_batch_size_per_image": 64,
        "box_batch_size_per_image": 64,
        "box_detections_per_img": 50,
        "num_classes": None,  # given by the predictor below
        "rpn_anchor_generator": AnchorGenerator((tuple(anchor_sizes),), (tuple(aspect_ratios),)),
        "box_roi_pool": RoIAlignPooler(pool_size, 1, backbone.stride),
        "box_head": TwoMLPHead(backbone.out_channels * pool_size * pool_size, representation),
        "box_predictor": FastRCNNPredictor(representation, num_classes + 1),
    }
    options.update(overrides)
    return backbone, options


def faster_rcnn(num_classes: int, backbone: Backbone | None = None, **kwargs) -> FasterRCNN:
    """torchvision's Faster R-CNN with a small backbone and heads, for 64x64 scenes.

    Args:
        num_classes: object classes, without the background (labels 1..C).
        backbone: defaults to ``Backbone()`` (6 layers of width 32, stride 4).
        image_size: the images' side (default 64): torchvision resizes nothing.
        anchor_sizes, aspect_ratios: the anchors at every feature-map position (default
            (8, 16, 32) x (0.5, 1, 2) = 9).
        pool_size: RoIAlign output size of the box head (default 7); representation: its
            hidden width (default 128).
        **kwargs: also override any other ``FasterRCNN`` argument.
    """
    backbone, options = _detector_parts(num_classes, backbone, **kwargs)
    return FasterRCNN(backbone, **options)


def mask_rcnn(
    num_classes: int,
    backbone: Backbone | None = None,
    *,
    mask_pool_size: int = 7,
    mask_layers: Sequence[int] = (32, 32),
    **kwargs,
) -> MaskRCNN:
    """torchvision's Mask R-CNN: ``faster_rcnn``'s detector plus a small mask head.

    The mask head is a small FCN on every positive RoI: RoIAlign to ``mask_pool_size`` cells,
    3x3 conv-ReLU layers of widths ``mask_layers``, a stride-2 transposed conv, then a 1x1 conv
    to one mask logit map per class (2 x ``mask_pool_size`` cells a side). The loss is a
    per-pixel sigmoid cross-entropy on the ground-truth class's map only, so the classes do not
    compete for pixels; the box head decides the class. ``**kwargs``: ``faster_rcnn``'s
    arguments.

    ``mask_pool_size`` 7 (torchvision's is 14) suits the shapes scenes, whose objects span 4-8
    cells of a stride-4 map: on notebook 07's scenes 14 trained 60% slower and scored no better.
    """
    if not mask_layers:
        raise ValueError("mask_layers must name at least one conv layer width")
    backbone, options = _detector_parts(num_classes, backbone, **kwargs)
    options.setdefault("mask_roi_pool", RoIAlignPooler(mask_pool_size, 1, backbone.stride))
    options.setdefault("mask_head", MaskRCNNHeads(backbone.out_channels, list(mask_layers), 1))
    options.setdefault(
        "mask_predictor", MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], num_classes + 1)
    )
    return MaskRCNN(backbone, **options)


def keypoint_rcnn(
    num_keypoints: int,
    num_classes: int = 1,
    backbone: Backbone | None = None,
    *,
    keypoint_pool_size: int = 7,
    keypoint_layers: Sequence[int] = (64, 64, 64),
    **kwargs,
) -> KeypointRCNN:
    """torchvision's Keypoint R-CNN: ``faster_rcnn``'s detector plus a small keypoint head.

    The keypoint head runs on every positive RoI: RoIAlign to ``keypoint_pool_size`` cells,
    3x3 conv-ReLU layers of widths ``keypoint_layers``, then torchvision's predictor (a
    stride-2 transposed conv to one map per landmark, upsampled 2x): K heatmaps of
    4 x ``keypoint_pool_size`` cells a side. Its loss is a softmax over each heatmap's cells
    (``course_utils.losses.keypoint_loss``). ``**kwargs``: ``faster_rcnn``'s arguments.

    torchvision's own head (eight 512-wide layers on a 14x14 pool) and predictor have 17.8M
    parameters; these, with the defaults and K = 11, 0.1M: they train in a minute on a CPU.
    """
    if not isinstance(num_keypoints, int) or num_keypoints < 1:
        raise ValueError(f"num_keypoints must be a positive int, got {num_keypoints!r}")
    if not keypoint_layers:
        raise ValueError("keypoint_layers must name at least one conv layer width")
    backbone, options = _detector_parts(num_classes, backbone, **kwargs)
    options.setdefault("keypoint_roi_pool", RoIAlignPooler(keypoint_pool_size, 1, backbone.stride))
    options.setdefault(
        "keypoint_head", KeypointRCNNHeads(backbone.out_channels, list(keypoint_layers))
    )
    options.setdefault(
        "keypoint_predictor", KeypointRCNNPredictor(keypoint_layers[-1], num_keypoints)
    )
    return KeypointRCNN(backbone, **options)
