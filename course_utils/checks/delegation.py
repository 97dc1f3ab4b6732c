"""What each exercise may not call (see :mod:`course_utils.checks.guard`), and why.

Keyed by the name the exercise defines. ``ops`` are dispatcher op names or patterns (what a
``TorchDispatchMode`` sees, whatever Python name reached them: ``aten::*conv*`` is every
convolution kernel, ``aten::convolution`` and ``aten::_slow_conv2d_forward`` alike);
``functions`` are import paths of functions, classes (all their methods) or modules and
packages (any function in them), the course's own twin first. Only what the exercise
re-implements is blocked, never what an honest answer needs; ``allowed`` says what an answer
may use that a student might wonder about.

Some shortcuts reach only ops an honest answer uses too (``F.adaptive_avg_pool2d(x, 1)`` reaches
``aten::mean``; ``F.dropout`` on the CPU reaches ``aten::bernoulli_``; ``F.linear`` reaches
``aten::addmm``): those are caught by function, not by op.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Blocked:
    """What one exercise may not call, and what it is told when it does."""

    ops: tuple[str, ...] = ()
    functions: tuple[
        str, ...
    ] = ()  # import paths: a function, a class (all its methods) or a package
    message: str = ""
    allowed: str = ""  # library pieces an answer may use, as its instructions say


BLOCKED: dict[str, Blocked] = {
    "conv1x1": Blocked(
        ops=("aten::*conv*",),
        functions=(
            "course_utils.ops.convolution.conv1x1",
            "torch.nn.modules.conv",
            "torch.nn.modules.linear",
            "torch.nn.functional.linear",
            "torch.nn.functional.conv2d",
        ),
        message=(
            "conv1x1 re-implements nn.Conv2d with a 1x1 kernel: write it as a matrix product,"
            " do not call a convolution or a linear layer."
        ),
        allowed=(
            "torch.einsum, torch.matmul or @, reshaping/indexing weight[:, :, 0, 0] and "
            "broadcasting the bias."
        ),
    ),
    "conv2d_cost": Blocked(
        ops=("aten::*conv*",),
        functions=(
            "course_utils.cost",
            "torch.utils.flop_counter",
            "torch.nn.modules.conv._ConvNd",
        ),
        message=(
            "conv2d_cost asks you to count parameters and multiply-adds from the formula: do "
            "not build a convolution or call a counter (course_utils.cost, FlopCounterMode)."
        ),
        allowed="plain integer arithmetic on the arguments.",
    ),
    "inception_3a_macs": Blocked(
        ops=("aten::*conv*",),
        functions=(
            "course_utils.cost",
            "torch.utils.flop_counter",
            "torch.nn.modules.conv._ConvNd",
            "course_utils.models.classification.Inception",
            "torchvision.models.googlenet.Inception",
        ),
        message=(
            "inception_3a_macs is a prediction: work the multiply-adds out with Exercise 2's "
            "formula, do not build the modules or call cost / a FLOP counter."
        ),
        allowed=(
            "arithmetic by hand, or the student's own conv2d_cost from Exercise 2 (the "
            "notebook's function, not course_utils.cost.conv2d_cost)."
        ),
    ),
    "Inception": Blocked(
        ops=(),
        functions=(
            "course_utils.models.classification.Inception",
            "torchvision.models.googlenet.Inception",
        ),
        message=(
            "Inception re-implements the course's / torchvision's Inception module: build the"
            " four branches yourself from conv_relu and nn.MaxPool2d."
        ),
        allowed=(
            "models.conv_relu (course_utils.models.classification.conv_relu, required by the "
            "instructions), nn.Conv2d, nn.MaxPool2d, nn.Sequential and torch.cat."
        ),
    ),
    "global_avg_pool": Blocked(
        ops=("aten::*avg_pool*",),
        functions=(
            "course_utils.ops.convolution.global_avg_pool",
            "torch.nn.modules.pooling",
            "torch.nn.functional.adaptive_avg_pool2d",
            "torch.nn.functional.adaptive_avg_pool3d",
            "torch.nn.functional.adaptive_avg_pool1d",
            "torch._C._nn.adaptive_avg_pool2d",
            "torch.nn.functional.avg_pool2d",
        ),
        message=(
            "global_avg_pool re-implements nn.AdaptiveAvgPool2d(1): take the mean over the "
            "spatial dimensions yourself, do not call a pooling function."
        ),
        allowed="x.mean(dim=(2, 3)), or a sum over H and W divided by H * W.",
    ),
    "class_activation_maps": Blocked(
        ops=(),
        functions=("course_utils.ops.convolution.class_activation_maps",),
        message=(
            "class_activation_maps must compute the maps from the features and weights: do "
            "not call the course's class_activation_maps."
        ),
        allowed=(
            "torch.einsum / matmul with broadcasting; a 1x1 convolution of the features with "
            "the classifier's weights (F.conv2d, or course_utils.ops.conv1x1) is an honest "
            "way to compute it."
        ),
    ),
    "conv_output_size": Blocked(
        ops=("aten::*conv*", "aten::*max_pool*", "aten::*avg_pool*"),
        functions=(
            "course_utils.cost",
            "torch.nn.modules.conv._ConvNd",
            "torch.nn.modules.pooling._MaxPoolNd",
            "torch.nn.modules.pooling._AvgPoolNd",
        ),
        message=(
            "conv_output_size asks for the formula: compute the output side from the "
            "arguments, do not run a real layer or call course_utils.cost."
        ),
        allowed="integer arithmetic (// for the floor).",
    ),
    "dropout": Blocked(
        ops=("aten::*dropout*",),
        functions=(
            "torch.nn.functional.dropout",
            "torch.nn.functional.dropout1d",
            "torch.nn.functional.dropout2d",
            "torch.nn.functional.dropout3d",
            "torch.nn.functional.alpha_dropout",
            "torch.nn.functional.feature_alpha_dropout",
            "torch.nn.modules.dropout",
            "torch.dropout",
            "torch.native_dropout",
        ),
        message=(
            "dropout re-implements nn.Dropout: draw the mask yourself, do not call F.dropout "
            "or nn.Dropout."
        ),
        allowed=(
            "torch.rand_like / torch.rand (the reference), torch.bernoulli or "
            "Tensor.bernoulli_ for the mask, drawn from the global generator; comparisons, "
            "multiplication and division."
        ),
    ),
    "stack_of_3x3": Blocked(
        ops=("aten::*conv*",),
        functions=(
            "torch.nn.modules.conv._ConvNd",
            "course_utils.cost",
            "torch.utils.flop_counter",
        ),
        message=(
            "stack_of_3x3 asks you to work out the receptive field and the weights: do not "
            "build the layers (the instructions say so)."
        ),
        allowed="integer arithmetic.",
    ),
    "BasicBlock": Blocked(
        ops=(),
        functions=(
            "course_utils.models.classification.BasicBlock",
            "torchvision.models.resnet.BasicBlock",
        ),
        message=(
            "BasicBlock re-implements torchvision's BasicBlock: build it from layers, do not "
            "use or subclass torchvision's or the course's block."
        ),
        allowed="nn.Conv2d, nn.BatchNorm2d, nn.ReLU / torch.relu, nn.Sequential.",
    ),
    "Bottleneck": Blocked(
        ops=(),
        functions=(
            "course_utils.models.classification.Bottleneck",
            "torchvision.models.resnet.Bottleneck",
        ),
        message=(
            "Bottleneck re-implements torchvision's Bottleneck: build it from layers, do not "
            "use or subclass torchvision's or the course's block."
        ),
        allowed="nn.Conv2d, nn.BatchNorm2d, nn.ReLU / torch.relu, nn.Sequential.",
    ),
    "ResNetCIFAR": Blocked(
        ops=(),
        functions=(
            "course_utils.models.classification.ResNet",
            "course_utils.models.classification.resnet_cifar",
            "course_utils.models.classification.small_resnet",
            "torchvision.models.resnet.ResNet",
        ),
        message=(
            "ResNetCIFAR re-implements the course's ResNet: stack the blocks yourself, do not"
            " build course_utils' or torchvision's ResNet."
        ),
        allowed=(
            "the block class it is given (the check passes the course's BasicBlock), "
            "nn.Conv2d, nn.BatchNorm2d, nn.Sequential, nn.Linear, ReLU, and "
            "nn.AdaptiveAvgPool2d(1) or x.mean for the global average pooling."
        ),
    ),
    "confusion_matrix": Blocked(
        ops=(),
        functions=(
            "course_utils.metrics.labels.confusion_matrix",
            "torchmetrics",
            "sklearn.metrics",
        ),
        message=(
            "confusion_matrix re-implements torchmetrics' multiclass_confusion_matrix: count "
            "the pairs yourself with a tensor operation, do not call a metrics library."
        ),
        allowed=(
            "the counting function the hint points to, reshape, boolean masks for ignore_index."
        ),
    ),
    "mean_iou": Blocked(
        ops=(),
        functions=(
            "course_utils.metrics.labels.mean_iou",
            "course_utils.metrics.labels.per_class_iou",
            "torchmetrics",
            "sklearn.metrics",
        ),
        message=(
            "mean_iou must compute the IoUs from the confusion matrix: do not call the "
            "course's mean_iou / per_class_iou or torchmetrics' jaccard index."
        ),
        allowed=(
            "metrics.confusion_matrix (course_utils.metrics.labels.confusion_matrix, named by"
            " the instructions) or the student's own, then diagonal/sum/mean."
        ),
    ),
    "softmax_cross_entropy": Blocked(
        ops=("aten::*log_softmax*", "aten::*nll_loss*", "aten::*cross_entropy*"),
        functions=(
            "course_utils.losses.softmax_cross_entropy",
            "torch.nn.functional.cross_entropy",
            "torch.nn.functional.log_softmax",
            "torch.nn.functional.nll_loss",
            "torch.nn.functional.binary_cross_entropy_with_logits",
            "torch.nn.modules.loss",
        ),
        message=(
            "softmax_cross_entropy re-implements F.cross_entropy: write it with logsumexp (or"
            " max, exp and log), without cross_entropy, log_softmax, nll_loss or another "
            "library loss."
        ),
        allowed=(
            "torch.logsumexp (named by the instructions), max/exp/log, gather or indexing, "
            "F.one_hot."
        ),
    ),
    "sigmoid_cross_entropy": Blocked(
        ops=("aten::*log_softmax*", "aten::*nll_loss*", "aten::*cross_entropy*"),
        functions=(
            "course_utils.losses.sigmoid_cross_entropy",
            "torch.nn.functional.binary_cross_entropy_with_logits",
            "torch.nn.functional.binary_cross_entropy",
            "torch.nn.functional.cross_entropy",
            "torch.nn.functional.log_softmax",
            "torch.nn.modules.loss",
        ),
        message=(
            "sigmoid_cross_entropy re-implements F.binary_cross_entropy_with_logits: write "
            "the stable formula yourself, do not call a library loss."
        ),
        allowed=(
            "F.one_hot (named by the instructions), clamp/abs/exp/log1p, and the stable "
            "building blocks F.softplus or F.logsigmoid."
        ),
    ),
    "UNetUp": Blocked(
        ops=(),
        functions=("course_utils.models.segmentation.UNetUp",),
        message=(
            "UNetUp re-implements the course's UNetUp: build it from nn.ConvTranspose2d and "
            "models.double_conv, do not use models.UNetUp."
        ),
        allowed=(
            "nn.ConvTranspose2d, models.double_conv "
            "(course_utils.models.segmentation.double_conv) and torch.cat, all named by the "
            "instructions."
        ),
    ),
    "box_iou": Blocked(
        ops=(),
        functions=(
            "course_utils.ops.boxes.box_iou",
            "torchvision.ops.boxes.box_iou",
            "torchvision.ops.boxes._box_inter_union",
            "torchmetrics",
        ),
        message=(
            "box_iou re-implements torchvision.ops.box_iou: compute the intersections and "
            "unions yourself."
        ),
        allowed=(
            "torch.max/min (or maximum/minimum) with broadcasting, clamp, prod; a box area "
            "helper (torchvision.ops.box_area, course_utils.ops.box_area) is not the thing "
            "re-implemented."
        ),
    ),
    "match_detections": Blocked(
        ops=(),
        functions=(
            "course_utils.metrics.matching.match_detections",
            "course_utils.metrics.matching.greedy_assignment",
            "course_utils.metrics.ap",
            "torchmetrics",
            "pycocotools",
        ),
        message=(
            "match_detections re-implements the course's greedy matching: write the loop "
            "yourself, do not call course_utils.metrics, torchmetrics or pycocotools."
        ),
        allowed=(
            "a Python loop over the detections (the instructions allow it), argmax, masked_fill."
        ),
    ),
    "average_precision": Blocked(
        ops=(),
        functions=(
            "course_utils.metrics.ap",
            "torchmetrics",
            "sklearn.metrics",
            "pycocotools",
        ),
        message=(
            "average_precision re-implements all-point AP: compute precision, recall and the "
            "envelope yourself, do not call a metrics library."
        ),
        allowed="argsort, cumsum, flip and cummax (all named by the instructions).",
    ),
    "nms": Blocked(
        ops=("torchvision::*nms*",),
        functions=(
            "course_utils.ops.boxes.nms",
            "course_utils.ops.boxes._greedy",
            "torchvision.ops.boxes.nms",
            "torchvision.ops.boxes.batched_nms",
        ),
        message=(
            "nms re-implements torchvision.ops.nms: write the greedy loop yourself (you may "
            "use ops.box_iou), do not call an NMS function."
        ),
        allowed=(
            "ops.box_iou (course_utils.ops.boxes.box_iou) or the student's box_iou, and "
            "torchvision.ops.box_iou; a loop over the kept boxes; argsort."
        ),
    ),
    "roi_pool": Blocked(
        ops=("torchvision::*roi_pool*", "aten::*adaptive_max_pool*"),
        functions=(
            "course_utils.ops.roi.roi_pool",
            "torchvision.ops.roi_pool.roi_pool",
            "torchvision.ops.roi_pool.RoIPool",
            "torch.nn.functional._adaptive_max_pool2d",
            "torch.nn.functional.adaptive_max_pool2d_with_indices",
        ),
        message=(
            "roi_pool re-implements torchvision.ops.roi_pool: round the box, cut the bins and"
            " max-pool them yourself."
        ),
        allowed=(
            "loops over RoIs and bins (the instructions allow them), math.floor/ceil, "
            "amax/max over a slice of the feature map."
        ),
    ),
    "label_anchors": Blocked(
        ops=(),
        functions=(
            "course_utils.regions.label_anchors",
            "torchvision.models.detection._utils.Matcher",
        ),
        message=(
            "label_anchors re-implements torchvision's Matcher(0.7, 0.3, "
            "allow_low_quality_matches=True): label the anchors yourself from the IoUs."
        ),
        allowed=(
            "ops.box_iou (course_utils.ops.boxes.box_iou), the student's own box_iou, or "
            "torchvision.ops.box_iou; max over dimensions and boolean masks."
        ),
    ),
    "sample_anchors": Blocked(
        ops=(),
        functions=(
            "course_utils.regions.sample_anchors",
            "course_utils.regions.sample_balanced",
            "torchvision.models.detection._utils.BalancedPositiveNegativeSampler",
        ),
        message=(
            "sample_anchors re-implements torchvision's BalancedPositiveNegativeSampler: draw"
            " the batch yourself with torch.randperm."
        ),
        allowed=(
            "torch.randperm on the global generator (the check's message names it), nonzero, "
            "boolean masks."
        ),
    ),
    "BoxCoder": Blocked(
        ops=(),
        functions=(
            "course_utils.regions.BoxCoder",
            "course_utils.regions.encode_boxes",
            "course_utils.regions.decode_boxes",
            "torchvision.models.detection._utils.BoxCoder",
            "torchvision.models.detection._utils.encode_boxes",
        ),
        message=(
            "BoxCoder re-implements torchvision's BoxCoder: write encode and decode yourself,"
            " do not call torchvision's or the course's coder."
        ),
        allowed=(
            "torch.log/exp/clamp/stack, math.log for the limit, and "
            "torchvision.ops.box_convert for the xyxy <-> centre-size conversion."
        ),
    ),
    "mask_iou": Blocked(
        ops=(),
        functions=("course_utils.ops.masks.mask_iou", "pycocotools", "torchmetrics"),
        message=(
            "mask_iou re-implements the IoU of masks: count the intersections with a matrix "
            "product yourself."
        ),
        allowed=(
            "flatten and one matrix product (the hint), sums, clamp or where for the empty case."
        ),
    ),
    "bilinear_interpolate": Blocked(
        ops=("torchvision::*roi_align*", "aten::*grid_sampler*"),
        functions=(
            "course_utils.ops.align.bilinear_interpolate",
            "course_utils.ops.align.roi_align",
            "torchvision.ops.roi_align.roi_align",
            "torchvision.ops.roi_align.RoIAlign",
            "torch.nn.functional.grid_sample",
        ),
        message=(
            "bilinear_interpolate re-implements RoIAlign's bilinear read: weight the four "
            "neighbours yourself, do not call roi_align or grid_sample."
        ),
        allowed=(
            "floor, clamp, advanced indexing feature[:, rows, cols] (named by the "
            "instructions), boolean masks."
        ),
    ),
    "roi_align": Blocked(
        ops=("torchvision::*roi_align*",),
        functions=(
            "course_utils.ops.align.roi_align",
            "torchvision.ops.roi_align.roi_align",
            "torchvision.ops.roi_align.RoIAlign",
            "torchvision.ops.poolers.MultiScaleRoIAlign",
            "course_utils.models.detectors.RoIAlignPooler",
        ),
        message=(
            "roi_align re-implements torchvision.ops.roi_align: place the samples and average"
            " them yourself (ops.bilinear_interpolate is allowed)."
        ),
        allowed=(
            "ops.bilinear_interpolate (course_utils.ops.align.bilinear_interpolate, named by "
            "the instructions) or the student's own, torch.arange/meshgrid, view and mean; a "
            ".tolist() of the box coordinates."
        ),
    ),
    "mask_loss": Blocked(
        ops=(),
        functions=(
            "course_utils.losses.mask_loss",
            "torchvision.models.detection.roi_heads.maskrcnn_loss",
            "torchvision.models.detection.roi_heads.project_masks_on_boxes",
        ),
        message=(
            "mask_loss re-implements torchvision's maskrcnn_loss: crop the targets with "
            "roi_align and compute the loss yourself, without maskrcnn_loss or "
            "project_masks_on_boxes."
        ),
        allowed=(
            "ops.roi_align or torchvision.ops.roi_align to crop the targets (named by the "
            "instructions), and F.binary_cross_entropy_with_logits for the loss."
        ),
    ),
    "keypoints_to_heatmap": Blocked(
        ops=(),
        functions=(
            "course_utils.ops.keypoints.keypoints_to_heatmap",
            "torchvision.models.detection.roi_heads.keypoints_to_heatmap",
        ),
        message=(
            "keypoints_to_heatmap re-implements torchvision's keypoints_to_heatmap: compute "
            "each landmark's cell yourself."
        ),
        allowed=(
            "floor/long, torch.where, broadcasting rois[:, 0, None] (named by the "
            "instructions), comparisons."
        ),
    ),
    "keypoint_loss": Blocked(
        ops=(),
        functions=(
            "course_utils.losses.keypoint_loss",
            "torchvision.models.detection.roi_heads.keypointrcnn_loss",
        ),
        message=(
            "keypoint_loss re-implements torchvision's keypointrcnn_loss: select the valid "
            "landmarks and apply a cross-entropy over their cells yourself."
        ),
        allowed=(
            "F.cross_entropy (or log_softmax / logsumexp) on the valid landmarks' flattened "
            "m*m cells, boolean indexing."
        ),
    ),
    "heatmaps_to_keypoints": Blocked(
        ops=(),
        functions=(
            "course_utils.ops.keypoints.heatmaps_to_keypoints",
            "torchvision.models.detection.roi_heads.heatmaps_to_keypoints",
            "torchvision.models.detection.roi_heads.keypointrcnn_inference",
        ),
        message=(
            "heatmaps_to_keypoints re-implements the course's decoding: take the arg-max cell"
            " and map its centre back yourself."
        ),
        allowed=(
            "argmax over the flattened cells, % m and // m (named by the instructions), "
            "broadcasting."
        ),
    ),
    "flip_keypoints": Blocked(
        ops=(),
        functions=(
            "course_utils.ops.keypoints.flip_keypoints",
            "course_utils.transforms.horizontal_flip",
            "course_utils.transforms.RandomHorizontalFlip",
            "torchvision.transforms.v2.functional._geometry.horizontal_flip",
            "torchvision.transforms.v2.functional._geometry.horizontal_flip_keypoints",
            "torchvision.transforms.v2.functional._geometry.horizontal_flip_bounding_boxes",
            "torchvision.transforms.v2._geometry.RandomHorizontalFlip",
        ),
        message=(
            "flip_keypoints re-implements the course's keypoint flip: permute the landmarks "
            "and mirror x yourself."
        ),
        allowed="indexing with flip_index (it copies), clone, and width - x.",
    ),
}
