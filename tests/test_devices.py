"""course_utils is device-safe: a model and its inputs on a GPU must just work. Tested without one.

The bug this guards against is silent on a CPU: a helper makes a new tensor without ``device=``
(``torch.arange(n)``, ``torch.zeros(p)``), so it lands on the CPU, and the next operation mixes
it with the model's CUDA tensors: "Expected all tensors to be on the same device". Two layers:

1. Static (:func:`test_every_tensor_factory_names_its_device`): parse every module of
   ``course_utils`` with ``ast`` and flag each call ``torch.<factory>(...)`` (:data:`FACTORIES`:
   ``zeros``, ``arange``, ``rand``, ``tensor``, ``as_tensor``, ``from_numpy``, ``Generator``...)
   that has no ``device=`` keyword, unless :data:`ALLOWED` lists it, by module, function and
   factory (not by line), with the reason why the CPU is right there. A new ``torch.zeros(n)``
   in a helper fails here until it says where its tensor goes.

2. Dynamic (:func:`test_helper_keeps_to_its_inputs_device`): run the helpers (ops, detection,
   losses, metrics, transforms, the models' forward, the training loops) with their inputs on a
   pretend device. :class:`OnDevice` is a tensor subclass that wraps a real CPU tensor and
   reports ``device == "meta"``; under :func:`on_fake_device` a ``TorchDispatchMode`` sees every
   ATen operation, runs it on the wrapped CPU tensors (so data-dependent ops such as
   ``nonzero``, boolean masks, ``nms`` and ``.item()`` work, which the real meta device cannot
   do) and wraps the results again. It raises :class:`DeviceMixError` when

   - one operation combines a device tensor with a CPU tensor that is not a 0-dim scalar (a
     CPU scalar is what CUDA accepts too). This is stricter than CUDA in one way: CUDA also
     accepts CPU *indices* into a CUDA tensor (a hidden copy and sync); here those fail too;
   - a CPU ``torch.Generator`` draws numbers for the device (CUDA refuses that as well).

   ``.to(device)``, ``.cpu()`` and ``copy_`` are transfers and may cross; factories called with
   ``device=x.device`` make device tensors (``torch.tensor`` and ``as_tensor`` through a
   ``TorchFunctionMode``). Each case then checks where its results are: on the inputs' device,
   or on the CPU for the metrics (course_utils.metrics moves its inputs to the CPU first, by
   design), and that they equal the same call on the CPU. A helper that returns CPU zeros for an
   empty input (label_proposals did) fails there.

:func:`test_the_checker_catches_bug_1_labels_on_the_cpu_in_postprocess` and its neighbours
re-introduce real bugs and show that both layers fail on them while the CPU run still passes.
:func:`test_every_public_helper_has_a_device_case` makes a new public helper of ops, detection,
losses, metrics or transforms come with a case. ``sweep.fit`` is not run here (it moves a model
to the real meta device for ``torch.func``, which the pretend device would take over); the static
layer covers it.
"""

from __future__ import annotations

import ast
import contextlib
import math
import pathlib

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_leaves, tree_map

import course_utils
from course_utils import (
    cost,
    datasets,
    env,
    losses,
    metrics,
    models,
    ops,
    pretrained,
    regions,
    train,
    transforms,
)

FAKE = torch.device("meta")  # the pretend accelerator
CPU = torch.device("cpu")
PACKAGE = pathlib.Path(course_utils.__file__).parent

# ---------------------------------------------------------------------------- the static layer

#: ``torch.<name>(...)`` calls that make a new tensor (or generator) on the CPU unless told.
#: ``*_like`` and ``x.new_*`` are left out: they follow their input's device.
FACTORIES = {
    "Generator",
    "arange",
    "as_tensor",
    "asarray",
    "empty",
    "empty_strided",
    "eye",
    "from_numpy",
    "full",
    "linspace",
    "logspace",
    "ones",
    "rand",
    "randint",
    "randn",
    "randperm",
    "scalar_tensor",
    "tensor",
    "tril_indices",
    "triu_indices",
    "zeros",
}

#: (module or package, function ("*": all), factory ("*": all)) -> why the CPU is right there.
ALLOWED = {
    ("course_utils.checks", "*", "*"): (
        "exercise checks build their cases on the CPU and compare there (their behaviour is fixed)"
    ),
    ("course_utils.grading", "*", "*"): "the grading sandbox passes tensors between processes",
    ("course_utils.datasets", "*", "*"): (
        "data is made on the CPU; the training loops move each batch to the model's device"
    ),
    ("course_utils.viz", "*", "*"): "drawing: inputs go to the CPU first (matplotlib reads NumPy)",
    ("course_utils.regions", "sliding_window_proposals", "torch.arange"): (
        "no tensor input to follow: CPU boxes, which callers move (a detector's buffer follows it)"
    ),
    ("course_utils.regions", "anchor_boxes", "torch.tensor"): (
        "no tensor input to follow: CPU boxes, like sliding_window_proposals"
    ),
    ("course_utils.proposals", "selective_search", "torch.from_numpy"): (
        "a NumPy algorithm: CPU boxes, like sliding_window_proposals"
    ),
    ("course_utils.models.segmentation", "bilinear_kernel", "torch.arange"): (
        "a constant built with the module and copied into its parameter"
    ),
    ("course_utils.models.detectors", "_batch", "torch.as_tensor"): (
        "as_tensor of image tensors keeps their device"
    ),
    ("course_utils.ops.roi", "rois_from_boxes", "torch.zeros"): (
        "an empty list of boxes has no device; roi_pool/roi_align then return input.new_zeros"
    ),
    ("course_utils.metrics.ap", "_field", "torch.as_tensor"): (
        "moves an entry of a prediction to the CPU, where every metric computes"
    ),
    ("course_utils.metrics.keypoints", "_cpu", "torch.as_tensor"): (
        "moves an entry of a prediction to the CPU, where every metric computes"
    ),
    ("course_utils.sweep", "SweepResult", "torch.empty"): "the empty default of a CPU curve",
    ("course_utils.sweep", "SweepResult.subset", "torch.as_tensor"): (
        "row indices from a Python list, moved to each tensor's device where used"
    ),
    ("course_utils.sweep", "fit", "torch.Generator"): (
        "each member's CPU generators: orders drawn on the CPU and moved, the same on any device"
    ),
    ("course_utils.sweep", "fit", "torch.empty"): "the empty start of a member's CPU order",
    ("course_utils.sweep", "fit.next_indices", "torch.randperm"): (
        "drawn from a member's CPU generator; the batch indices are then moved to the device"
    ),
}


def unplaced_factories(source: str, module: str) -> list[tuple[str, str, str, int]]:
    """``(module, function, "torch.<factory>", line)`` for every factory call without
    ``device=`` in ``source``; the function is dotted (``Class.method``, ``outer.inner``),
    ``<module>`` at the top level."""
    found = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, [*scope, child.name])
                continue
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and isinstance(child.func.value, ast.Name)
                and child.func.value.id == "torch"
                and child.func.attr in FACTORIES
                and not any(k.arg == "device" for k in child.keywords)
            ):
                call = f"torch.{child.func.attr}"
                found.append((module, ".".join(scope) or "<module>", call, child.lineno))
            visit(child, scope)

    visit(ast.parse(source), [])
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("course_utils", *path.relative_to(PACKAGE).with_suffix("").parts)
        yield ".".join(p for p in parts if p != "__init__"), path.read_text()


def _allowed_by(module: str, function: str, call: str):
    for key in ALLOWED:
        where, func, factory = key
        if (
            (module == where or module.startswith(where + "."))
            and func in ("*", function)
            and factory in ("*", call)
        ):
            return key
    return None


def _all_unplaced():
    return [v for module, source in _modules() for v in unplaced_factories(source, module)]


def test_every_tensor_factory_names_its_device():
    problems = [
        f"{module}.{function} (line {line}): {call}(...) without device="
        for module, function, call, line in _all_unplaced()
        if _allowed_by(module, function, call) is None
    ]
    assert not problems, (
        "new tensors must go where their inputs are (device=x.device); if the CPU is right, add "
        "the call to ALLOWED in tests/test_devices.py with the reason:\n" + "\n".join(problems)
    )


def test_the_allow_list_has_no_stale_entries():
    used = {_allowed_by(m, f, c) for m, f, c, _ in _all_unplaced()}
    assert set(ALLOWED) <= used, f"entries that allow nothing any more: {set(ALLOWED) - used}"


def test_the_static_check_catches_bug_1_reintroduced():
    source = (PACKAGE / "regions.py").read_text()
    fixed = "torch.arange(1, num_classes + 1, device=class_logits.device)"
    assert fixed in source
    found = unplaced_factories(source.replace(fixed, "torch.arange(1, num_classes + 1)"), "m")
    assert [v[1:3] for v in found if v[1] == "postprocess"] == [("postprocess", "torch.arange")]
    assert _allowed_by("course_utils.regions", "postprocess", "torch.arange") is None


# --------------------------------------------------------------------------- the dynamic layer


class DeviceMixError(AssertionError):
    """An operation mixed device and CPU tensors, or drew device numbers from a CPU generator."""


class OnDevice(torch.Tensor):
    """A tensor on the pretend device: a wrapper around a real CPU tensor, ``elem``."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        wrapper = torch.Tensor._make_wrapper_subclass(
            cls,
            elem.shape,
            strides=elem.stride(),
            storage_offset=elem.storage_offset(),
            dtype=elem.dtype,
            layout=elem.layout,
            device=FAKE,
            requires_grad=False,  # autograd, above this layer, sets it on the wrapper
        )
        wrapper.elem = elem
        return wrapper

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})

    def tolist(self):  # torch refuses .tolist() on tensor subclasses; CUDA tensors allow it
        return self.elem.tolist()

    def __repr__(self):
        return f"OnDevice({self.elem!r})"


_TRANSFERS = {"_to_copy", "copy_"}  # their job is to cross devices


def _unwrap(x):
    return x.elem if isinstance(x, OnDevice) else x


def _run(func, args, kwargs):
    """Check one ATen operation for mixed devices, run it on the CPU data, re-wrap the results."""
    tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
    on_device = [t for t in tensors if isinstance(t, OnDevice)]
    on_cpu = [t for t in tensors if not isinstance(t, OnDevice)]
    elsewhere = [t.device for t in on_cpu if t.device != CPU]
    if elsewhere:
        raise RuntimeError(f"{func}: a real {elsewhere[0]} tensor, which the checker cannot run")
    device = kwargs.get("device")
    to_device = device is not None and torch.device(device) == FAKE
    transfer = func.overloadpacket.__name__ in _TRANSFERS
    if on_device and not transfer and any(t.dim() > 0 for t in on_cpu):
        raise DeviceMixError(
            f"{func} mixes device tensors {[tuple(t.shape) for t in on_device]} with CPU tensors "
            f"{[tuple(t.shape) for t in on_cpu if t.dim()]}"
        )
    generator = kwargs.get("generator")
    if generator is not None and (to_device or (on_device and not transfer)):
        raise DeviceMixError(f"{func} draws numbers for the device from a CPU generator")
    if to_device:
        kwargs = {**kwargs, "device": CPU}
    out = func(*tree_map(_unwrap, args), **tree_map(_unwrap, kwargs))
    if transfer and func.overloadpacket.__name__ == "_to_copy":
        wrap = to_device or (bool(on_device) and device is None)
    else:
        wrap = bool(on_device) or to_device
    inputs = {id(_unwrap(t)): t for t in tensors}  # in-place and out= ops return an input

    def place(x):
        if not isinstance(x, torch.Tensor):
            return x
        if id(x) in inputs:
            return inputs[id(x)]
        return OnDevice(x) if wrap else x

    return tree_map(place, out)


class _Checker(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _run(func, args, kwargs or {})


_FROM_DATA = {torch.tensor, torch.as_tensor, torch.asarray}


class _FromData(TorchFunctionMode):
    """``torch.tensor(data, device=FAKE)`` and friends build outside the dispatcher's reach:
    build them on the CPU and move them."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        device = kwargs.get("device")
        if func in _FROM_DATA and device is not None and torch.device(device) == FAKE:
            return func(*args, **{**kwargs, "device": CPU}).to(FAKE)
        if func is torch.Tensor.new_tensor and isinstance(args[0], OnDevice) and device is None:
            return args[0].elem.new_tensor(*args[1:], **kwargs).to(FAKE)
        return func(*args, **kwargs)


@contextlib.contextmanager
def on_fake_device():
    """Within: :data:`FAKE` is a device to move to, and every operation is checked."""
    with _FromData(), _Checker():
        yield


def to_device(tree):
    """Tensors and modules of a (nested) structure moved to the pretend device."""
    return tree_map(lambda x: x.to(FAKE) if isinstance(x, (torch.Tensor, nn.Module)) else x, tree)


def same(tree):
    return tree


def _devices(tree) -> set[torch.device]:
    return {t.device for t in tree_leaves(tree) if isinstance(t, torch.Tensor)}


def _assert_equal(got, want) -> None:
    got_leaves, got_spec = tree_flatten(tree_map(_unwrap, got))
    want_leaves, want_spec = tree_flatten(want)
    assert got_spec == want_spec
    for a, b in zip(got_leaves, want_leaves, strict=True):
        if isinstance(b, torch.Tensor):
            torch.testing.assert_close(a, b, equal_nan=True)
        elif isinstance(b, float) and math.isnan(b):
            assert math.isnan(a)
        else:
            assert a == b


# The cases: ``fn(d)`` builds its inputs on the CPU (seeded), passes them through ``d`` (the move
# to the device, or nothing) and returns what the helper returned. ``where``: where the results
# belong, "device" (the inputs') or "cpu" (metrics). ``covers``: the public helpers it runs.
CASES: dict[str, tuple] = {}


def case(where: str = "device", covers=()):
    def register(fn):
        CASES[fn.__name__.removeprefix("case_")] = (fn, where, covers)
        return fn

    return register


def _boxes(g: torch.Generator, n: int, size: float = 48.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * size
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * size / 2 + 1], 1)


def _g() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@case(covers=(ops.box_iou, ops.box_area, ops.box_convert))
def case_boxes(d):
    g = _g()
    a, b = d((_boxes(g, 7), _boxes(g, 5)))
    return ops.box_iou(a, b), ops.box_area(a), ops.box_convert(a, "xyxy", "cxcywh")


@case(covers=(ops.nms,))
def case_nms(d):
    g = _g()
    return ops.nms(*d((_boxes(g, 300), torch.rand(300, generator=g))), 0.3)  # > one block


@case(covers=(ops.roi_pool, ops.roi_pool_bins, ops.roi_align))
def case_roi_ops(d):
    g = _g()
    feature = torch.randn(2, 3, 12, 12, generator=g)
    boxes = _boxes(g, 6)
    rois = torch.cat([torch.randint(0, 2, (6, 1), generator=g).float(), boxes], 1)
    feature, boxes, rois = d((feature, boxes, rois))
    return (
        ops.roi_pool(feature, rois, 3, 0.25),
        ops.roi_pool(feature, [boxes[:2], boxes[2:]], (2, 3), 0.25),
        ops.roi_pool(feature, [], 2),
        ops.roi_pool_bins(boxes, 3, 0.25, (12, 12)),
        ops.roi_align(feature, rois, 3, 0.25, -1, False),
        ops.roi_align(feature, [boxes[:4], boxes[4:]], 2, 0.25, 2, True),
        ops.roi_align(feature, [], 2),
    )


@case(covers=(ops.bilinear_interpolate, ops.mask_iou))
def case_interpolation_and_masks(d):
    g = _g()
    feature, y, x = d((torch.randn(2, 5, 6, generator=g), torch.rand(9) * 8 - 1.5, torch.rand(9)))
    m1, m2 = d((torch.rand(3, 8, 8, generator=g) > 0.5, torch.rand(4, 8, 8, generator=g) > 0.5))
    return ops.bilinear_interpolate(feature, y, x * 7), ops.mask_iou(m1, m2)


@case(covers=(ops.conv1x1, ops.global_avg_pool, ops.class_activation_maps))
def case_convolution(d):
    g = _g()
    x, w, b = d((torch.randn(2, 4, 5, 5, generator=g), torch.randn(3, 4), torch.randn(3)))
    return ops.conv1x1(x, w, b), ops.global_avg_pool(x), ops.class_activation_maps(x, w)


@case(covers=(ops.keypoints_to_heatmap, ops.heatmaps_to_keypoints, ops.flip_keypoints))
def case_keypoint_ops(d):
    g = _g()
    rois = _boxes(g, 3)
    keypoints = torch.cat([rois[:, None, :2] + 10 * torch.rand(3, 5, 2, generator=g)], -1)
    keypoints = torch.cat([keypoints, torch.randint(0, 3, (3, 5, 1), generator=g).float()], -1)
    keypoints, rois, logits = d((keypoints, rois, torch.randn(3, 5, 6, 6, generator=g)))
    return (
        ops.keypoints_to_heatmap(keypoints, rois, 6),
        ops.heatmaps_to_keypoints(logits, rois),
        ops.flip_keypoints(keypoints, 64, [0, 2, 1, 4, 3]),
    )


@case(covers=(regions.label_proposals, regions.encode_boxes, regions.decode_boxes))
def case_label_proposals(d):
    g = _g()
    proposals, gt = d((_boxes(g, 20), _boxes(g, 3)))
    labels, matched = regions.label_proposals(proposals, gt, d(torch.tensor([1, 2, 3])))
    deltas = regions.encode_boxes(proposals, gt[matched])
    return labels, matched, deltas, regions.decode_boxes(proposals, deltas)


@case()
def case_label_proposals_without_objects(d):  # bug 2: CPU zeros for an empty scene
    proposals, gt, labels = d((_boxes(_g(), 20), torch.zeros(0, 4), torch.zeros(0).long()))
    return regions.label_proposals(proposals, gt, labels)


@case(covers=(regions.label_anchors, regions.sample_anchors, regions.sample_balanced))
def case_anchors(d):
    g = _g()
    anchors, gt = d((_boxes(g, 40), _boxes(g, 3)))
    labels = regions.label_anchors(anchors, gt, 0.5, 0.2)
    positive, negative = regions.sample_anchors(labels, 16, 0.25)
    picked = regions.sample_balanced(*d((torch.arange(9), torch.arange(20))), 8, 0.5)
    empty = regions.label_anchors(anchors, d(torch.zeros(0, 4)))
    return labels, positive, negative, picked, empty


@case(covers=(regions.BoxCoder,))
def case_box_coder(d):
    g = _g()
    coder = regions.BoxCoder((10.0, 10.0, 5.0, 5.0))
    anchors, boxes = d((_boxes(g, 6), _boxes(g, 6)))
    return coder.decode(anchors, coder.encode(anchors, boxes))


@case(covers=(regions.postprocess,))
def case_postprocess(d):  # bug 1: class labels made on the CPU, masked on the device
    g = _g()
    proposals, logits, deltas = d(
        (_boxes(g, 12), torch.randn(12, 4, generator=g), torch.randn(12, 12, generator=g) * 0.1)
    )
    return regions.postprocess(proposals, logits, deltas, 64, score_threshold=0.1)


@case(covers=(losses.softmax_cross_entropy, losses.sigmoid_cross_entropy, losses.keypoint_loss))
def case_losses(d):
    g = _g()
    logits, target = d((torch.randn(2, 3, 4, 4, generator=g), torch.randint(0, 3, (2, 4, 4))))
    heatmaps, cells = d((torch.randn(2, 5, 4, 4, generator=g), torch.randint(0, 16, (2, 5))))
    valid = d(torch.rand(2, 5, generator=g) > 0.5)
    return (
        losses.softmax_cross_entropy(logits, target),
        losses.sigmoid_cross_entropy(logits, target),
        losses.keypoint_loss(heatmaps, cells, valid),
        losses.keypoint_loss(heatmaps, cells, torch.zeros_like(valid)),
    )


@case(covers=(losses.mask_loss,))
def case_mask_loss(d):
    g = _g()
    logits, boxes = d((torch.randn(3, 4, 7, 7, generator=g), _boxes(g, 3, 30)))
    masks, labels = d((torch.rand(2, 64, 64, generator=g) > 0.5, torch.tensor([1, 3])))
    matched = d(torch.tensor([0, 1, 1]))
    return (
        losses.mask_loss(logits, boxes, masks, labels, matched),
        losses.mask_loss(logits[:0], boxes[:0], masks, labels, matched[:0]),
    )


@case(covers=(transforms.affine, transforms.random_shift, transforms.random_affine))
def case_batch_transforms(d):
    g = _g()
    images = d(torch.rand(3, 2, 8, 8, generator=g))
    angle, shift = d((torch.tensor([0.0, 30.0, -45.0]), torch.randn(3, 2, generator=g)))
    return (
        transforms.affine(images, angle, shift),
        transforms.random_shift(images, _g(), max_shift=2),
        transforms.random_affine(images, _g()),
    )


@case(covers=(transforms.random_elastic, transforms.elastic_warp))
def case_elastic(d):
    g = _g()
    images, labels = d((torch.rand(2, 3, 9, 9, generator=g), torch.randint(0, 3, (2, 9, 9))))
    field = d(torch.randn(2, 2, 9, 9, generator=g))
    return (
        transforms.random_elastic(images, labels, _g(), std=2.0),
        transforms.elastic_warp(images, None, field, padding_mode="zeros"),
    )


@case(
    "cpu",
    covers=(
        metrics.confusion_matrix,
        metrics.accuracy,
        metrics.mean_iou,
        metrics.mean_accuracy,
        metrics.per_class_iou,
        metrics.boundary_iou,
    ),
)
def case_label_metrics(d):
    g = _g()
    pred, target = d((torch.randint(0, 3, (2, 8, 8), generator=g), torch.randint(0, 3, (2, 8, 8))))
    return (
        metrics.confusion_matrix(pred, target, 3),
        metrics.accuracy(pred, target),
        metrics.mean_iou(pred, target, 3, ignore_index=2),
        metrics.mean_accuracy(pred, target, 3),
        metrics.per_class_iou(pred, target, 4),
        metrics.boundary_iou(pred, target, 3, width=1),
    )


def _detections(g: torch.Generator, n: int, with_masks: bool = False) -> dict:
    out = {
        "boxes": _boxes(g, n),
        "labels": torch.randint(1, 3, (n,), generator=g),
        "scores": torch.rand(n, generator=g),
        "keypoints": torch.cat([torch.rand(n, 4, 2, generator=g) * 60, torch.ones(n, 4, 1)], -1),
    }
    if with_masks:
        out["masks"] = torch.rand(n, 16, 16, generator=g) > 0.5
    return out


@case(
    "cpu",
    covers=(
        metrics.mean_average_precision,
        metrics.coco_mean_average_precision,
        metrics.average_precision,
        metrics.match_detections,
        metrics.greedy_assignment,
    ),
)
def case_detection_metrics(d):
    g = _g()
    preds = [_detections(g, 6, True), _detections(g, 4, True)]
    targets = [_detections(g, 3, True), _detections(g, 2, True)]
    preds, targets = d((preds, targets))
    iou = ops.box_iou(preds[0]["boxes"], targets[0]["boxes"])
    return (
        metrics.mean_average_precision(preds, targets, 0.3),
        metrics.mean_average_precision(preds, targets, 0.3, "segm", "coco"),
        metrics.mean_average_precision(preds, targets, 0.3, "keypoints"),
        metrics.coco_mean_average_precision(preds, targets),
        metrics.average_precision(preds[0]["scores"], preds[0]["scores"] > 0.5, 4, "coco"),
        metrics.match_detections(iou, 0.2),
        metrics.greedy_assignment(iou, 0.2),
    )


@case(
    "cpu",
    covers=(
        metrics.pck,
        metrics.object_keypoint_similarity,
        metrics.match_people,
        metrics.left_right_swaps,
        metrics.within_radius,
    ),
)
def case_keypoint_metrics(d):
    g = _g()
    preds, targets = d(([_detections(g, 4)], [_detections(g, 3)]))
    pred, target, boxes = metrics.match_people(preds, targets, 0.1)
    areas = metrics.box_area(targets[0]["boxes"])
    return (
        (pred, target, boxes),
        metrics.pck(pred, target, boxes, 0.2),
        metrics.pck(pred, target, boxes, 0.2, per_keypoint=True),
        metrics.object_keypoint_similarity(preds[0]["keypoints"], targets[0]["keypoints"], areas),
        metrics.left_right_swaps(pred, target, boxes, [1, 0, 3, 2], 0.3),
        metrics.within_radius(pred, target, boxes),
    )


@case()
def case_classifiers(d):
    x = torch.rand(2, 1, 16, 16, generator=_g())
    nets = [
        models.GAPNet(),
        models.FlattenNet(),
        models.small_resnet(8),
        models.resnet_cifar(models.Bottleneck, 1, 4, shortcut="projection"),
        models.MiniAlexNet(dropout=0.5),
    ]
    return [net(d(x)) for net in d(nets)]  # training mode: batch norm and dropout as in fit


@case()
def case_segmenters(d):
    x = torch.rand(2, 3, 16, 16, generator=_g())
    nets = [models.FCN(3, widths=(8, 16), skips=1, upsample="transposed"), models.UNet(3)]
    return [net.eval()(d(x)) for net in d(nets)]


def _scenes(n: int = 2, **options) -> tuple[list, list]:
    images, targets = [], []
    for image, target in (datasets.ShapesScenes(n, seed=3, **options)[i] for i in range(n)):
        images.append(image.as_subclass(torch.Tensor))
        targets.append(
            {k: target[k].as_subclass(torch.Tensor) for k in ("boxes", "labels", "masks")}
            | ({"keypoints": target["keypoints"]} if "keypoints" in target else {})
        )
    return images, targets


@case()
def case_region_detectors(d):  # notebook 06's R-CNN and Fast R-CNN: sampling, losses, outputs
    images, targets = _scenes()
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    targets = [{k: t[k] for k in ("boxes", "labels")} for t in targets[:1]] + [empty]
    proposals = regions.sliding_window_proposals(64, stride=8)
    results = []
    for net in (models.RCNN(3, proposals, regions_per_image=8), models.FastRCNN(3, proposals)):
        net = d(net)
        with torch.no_grad():
            results.append(net(d(torch.stack(images)), d(targets)))
            results.append(net.eval()(d(images)))
    return results


@case()
def case_torchvision_detectors(d):  # course_utils' Faster, Mask and Keypoint R-CNN
    shapes, people = _scenes(), _scenes(1, classes=("person",))
    nets = [(models.faster_rcnn(3), shapes), (models.mask_rcnn(3), shapes)]
    nets.append((models.keypoint_rcnn(11), people))
    results = []
    with torch.no_grad():
        for net, (images, targets) in nets:
            net = d(net)
            results.append(net(d(images), d(targets)))
            results.append(net.eval()(d(images)))
    return results


@case("cpu")  # train.detect returns CPU results, by design
def case_training_loops(d):  # train.fit, evaluate, fit_detector and detect, with backward
    g = _g()
    net = d(models.GAPNet(width=4))
    data = [(torch.rand(4, 1, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))] * 2
    optimizer = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9)
    history = train.fit(net, data, optimizer, epochs=2, val_loader=data, progress=False)
    images, targets = _scenes()
    targets = [{k: t[k] for k in ("boxes", "labels")} for t in targets]
    detector = d(models.FastRCNN(3, regions.sliding_window_proposals(64, stride=8)))
    optimizer = torch.optim.AdamW(detector.parameters(), 1e-3)
    fitted = train.fit_detector(
        detector, [(images, targets)], optimizer, iterations=2, log_every=1, progress=False
    )
    return history.curves, fitted.curves, train.detect(detector, images)


#: Public helpers the dynamic cases need not run, and why.
NOT_RUN = {
    regions.sliding_window_proposals: "no tensor input: CPU boxes (statically allowed)",
    regions.anchor_boxes: "no tensor input: CPU boxes (statically allowed)",
    transforms.unet_displacement: "no tensor input: draws on the generator's device",
    transforms.horizontal_flip: "torchvision's v2 flip on tv_tensors; keypoints: flip_keypoints",
    transforms.RandomHorizontalFlip: "horizontal_flip behind a coin flip",
}


def test_every_public_helper_has_a_device_case():
    covered = {helper for _, _, covers in CASES.values() for helper in covers}
    missing = [
        f"{module.__name__}.{name}"
        for module in (ops, regions, losses, metrics, transforms)
        for name in module.__all__
        if getattr(module, name) not in covered and getattr(module, name) not in NOT_RUN
    ]
    assert not missing, f"add a case to tests/test_devices.py for: {missing}"


def run_on_fake_device(name: str):
    """Run case ``name`` on the CPU and on the pretend device; check where its results are and
    that they equal the CPU's. Raises :class:`DeviceMixError` on a mixed operation."""
    fn, where, _ = CASES[name]
    torch.manual_seed(0)
    want = fn(same)
    torch.manual_seed(0)
    with on_fake_device():
        got = fn(to_device)
    expected = FAKE if where == "device" else CPU
    assert _devices(got) <= {expected}, f"{name}: results on {_devices(got)}, expected {expected}"
    _assert_equal(got, want)
    return got


@pytest.mark.parametrize("name", list(CASES))
def test_helper_keeps_to_its_inputs_device(name):
    run_on_fake_device(name)


class _TorchWithout:
    """``torch`` as a module sees it, except that ``names`` ignore their ``device=``."""

    def __init__(self, *names: str):
        self._names = names

    def __getattr__(self, name: str):
        value = getattr(torch, name)
        if name not in self._names:
            return value
        return lambda *args, device=None, **kwargs: value(*args, **kwargs)


def test_the_checker_catches_bug_1_labels_on_the_cpu_in_postprocess(monkeypatch):
    monkeypatch.setattr(regions, "torch", _TorchWithout("arange"))
    CASES["postprocess"][0](same)  # silent on the CPU
    with pytest.raises(DeviceMixError, match="aten.index"):
        run_on_fake_device("postprocess")


def test_the_checker_catches_bug_2_cpu_zeros_for_a_scene_without_objects(monkeypatch):
    monkeypatch.setattr(regions, "torch", _TorchWithout("zeros"))
    CASES["label_proposals_without_objects"][0](same)
    with pytest.raises(AssertionError, match="results on {device\\(type='cpu'\\)}"):
        run_on_fake_device("label_proposals_without_objects")


def test_the_checker_catches_a_metric_that_builds_its_levels_on_the_cpu(monkeypatch):
    monkeypatch.setattr(metrics.ap, "_field", lambda item, key, *_: item[key])  # no .cpu()
    monkeypatch.setattr(metrics.matching, "torch", _TorchWithout("full", "zeros"))
    with pytest.raises(DeviceMixError):
        run_on_fake_device("detection_metrics")


def test_the_checker_catches_draws_from_a_cpu_generator():
    x = torch.zeros(3)
    with on_fake_device(), pytest.raises(DeviceMixError, match="CPU generator"):
        torch.rand(3, generator=torch.Generator(), device=to_device(x).device)
    with on_fake_device(), pytest.raises(DeviceMixError, match="mixes"):
        to_device(x) + torch.rand(3, generator=torch.Generator())  # drawn, but not moved
    with on_fake_device():  # drawn on the CPU and moved: fine
        to_device(x) + torch.rand(3, generator=torch.Generator()).to(FAKE)


def test_pretrained_models_run_on_the_device_they_are_given(monkeypatch):
    seen = []
    predict = pretrained.predict

    def spy(task, model, photos):
        seen.append(next(model.parameters()).device)
        return predict(task, model, photos)

    monkeypatch.setattr(pretrained, "predict", spy)
    with on_fake_device():
        result = pretrained.show_on_photos(
            "classification", photos=("coffee",), weights=None, size=48, device=FAKE
        )
    assert seen == [FAKE]
    assert _devices(result[1]) == {CPU}  # drawn, and returned, on the CPU
    plt.close(result[0])
    assert next(pretrained.load("classification", None).parameters()).device == CPU


def test_timers_wait_for_the_gpu(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    env.synchronize("cpu")
    assert calls == []
    env.synchronize()
    env.synchronize("cuda")
    assert calls == [None, "cuda"]
    calls.clear()
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    stats = cost.time_modules(lambda: net(torch.zeros(1, 2)), {"linear": net[0], "all": net})
    assert stats["all"]["calls"] == 1 and len(calls) == 4  # a start and a stop per module
    assert F.relu(torch.ones(1)).item() == 1.0  # torch itself untouched by the patches
