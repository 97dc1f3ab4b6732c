"""box_iou, nms and roi_pool equal torchvision.ops on random and edge-case inputs."""

import pytest
import torch
import torchvision.ops as tvo
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import ops


def random_boxes(g, k, spread=40.0, size=30.0, empty_share=0.2):
    xy = torch.rand(k, 2, generator=g) * spread - spread / 5
    wh = torch.rand(k, 2, generator=g) * size
    wh = wh * (torch.rand(k, 1, generator=g) > empty_share)  # some zero-area boxes
    return torch.cat([xy, xy + wh], 1)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(0, 12), m=st.integers(0, 12), seed=st.integers(0, 10_000))
def test_box_iou_equals_torchvision(n, m, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = random_boxes(g, n), random_boxes(g, m)
    torch.testing.assert_close(ops.box_iou(a, b), tvo.box_iou(a, b), equal_nan=True)
    torch.testing.assert_close(ops.box_area(a), tvo.box_area(a))


def test_box_iou_by_hand():
    a = torch.tensor([[0.0, 0, 2, 2]])
    b = torch.tensor([[1.0, 1, 3, 3], [2.0, 0, 4, 2], [0.0, 0, 2, 2], [5.0, 5, 6, 6]])
    assert ops.box_iou(a, b)[0].tolist() == pytest.approx([1 / 7, 0.0, 1.0, 0.0])


@settings(max_examples=80, deadline=None)
@given(
    k=st.integers(0, 60),
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]),
    seed=st.integers(0, 10_000),
)
def test_nms_equals_torchvision(k, threshold, seed):
    g = torch.Generator().manual_seed(seed)
    boxes = random_boxes(g, k, spread=30.0)
    scores = torch.randperm(k, generator=g).float() / max(k, 1)  # distinct scores
    kept = ops.nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    assert torch.equal(kept, tvo.nms(boxes, scores, threshold))


def test_nms_keeps_the_best_of_duplicates():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 10, 10], [20.0, 20, 30, 30]])
    scores = torch.tensor([0.5, 0.9, 0.3])
    assert ops.nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert ops.nms(boxes, scores, 0.95).tolist() == [1, 0, 2]


@settings(max_examples=100, deadline=None)
@given(
    h=st.integers(1, 14),
    w=st.integers(1, 14),
    k=st.integers(0, 8),
    out=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    scale=st.sampled_from([1.0, 0.5, 0.25, 1 / 3, 1 / 16]),
    seed=st.integers(0, 10_000),
)
def test_roi_pool_equals_torchvision(h, w, k, out, scale, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, h, w, generator=g)
    boxes = random_boxes(g, k, spread=h / scale * 1.3, size=h / scale)  # some leave the map
    rois = torch.cat([torch.randint(0, 2, (k, 1), generator=g).float(), boxes], 1)
    torch.testing.assert_close(ops.roi_pool(x, rois, out, scale), tvo.roi_pool(x, rois, out, scale))


def test_roi_pool_list_form_int_size_and_gradients():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 9, 9, generator=g, requires_grad=True)
    boxes = [
        random_boxes(g, 3),
        torch.zeros(0, 4),
    ]
    ours, theirs = ops.roi_pool(x, boxes, 3, 0.25), tvo.roi_pool(x, boxes, 3, 0.25)
    torch.testing.assert_close(ours, theirs)
    (g1,) = torch.autograd.grad(ours.sum(), x)
    (g2,) = torch.autograd.grad(theirs.sum(), x)
    torch.testing.assert_close(g1, g2)  # random values: no ties for the maximum
    assert ops.roi_pool(x, [torch.zeros(0, 4)], 2).shape == (0, 4, 2, 2)


def test_half_pixel_coordinates_round_away_from_zero():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0.5, 0.5, 2.5, 2.5]])  # rounds to 1..3, not to 0..2
    torch.testing.assert_close(ops.roi_pool(x, rois, 1), tvo.roi_pool(x, rois, 1))
    assert ops.roi_pool(x, rois, 1).item() == 15.0


@pytest.mark.parametrize(
    "boxes, match",
    [
        (torch.tensor([[0.0, 0, 1]]), r"shape \(K, 4\)"),
        (torch.tensor([[2.0, 0, 1, 1]]), "x2 < x1"),
        (torch.tensor([[0.0, 0, 1, float("nan")]]), "NaN"),
        (torch.tensor([[True, False, True, True]]), "float"),
        ([[0.0, 0, 1, 1]], "torch.Tensor"),
    ],
)
def test_bad_boxes_are_clear_errors(boxes, match):
    good = torch.tensor([[0.0, 0, 1, 1]])
    with pytest.raises(ValueError, match=match):
        ops.box_iou(boxes, good)
    with pytest.raises(ValueError, match=match):
        ops.nms(boxes, torch.ones(1), 0.5)


def test_nms_wants_float_boxes_as_torchvision():
    # box_iou takes integer boxes (below); torchvision's nms kernel does not, nor does ours
    with pytest.raises(ValueError, match="float"):
        ops.nms(torch.tensor([[0, 0, 1, 1]]), torch.ones(1), 0.5)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 10),
    m=st.integers(0, 10),
    dtype=st.sampled_from([torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]),
    seed=st.integers(0, 10_000),
)
def test_integer_boxes_as_torchvision(n, m, dtype, seed):
    # torchvision upcasts 8- and 16-bit boxes to int32 before multiplying (a 100 x 100 int8
    # box has area 10,000, not 16) and returns float IoU for integer boxes
    g = torch.Generator().manual_seed(seed)
    a, b = (
        random_boxes(g, k, spread=20.0, size=100.0).clamp(min=0).round().to(dtype) for k in (n, m)
    )
    area = ops.box_area(a)
    assert area.dtype == (torch.int64 if dtype == torch.int64 else torch.int32)
    torch.testing.assert_close(area, tvo.box_area(a))
    iou = ops.box_iou(a, b)
    assert iou.dtype == torch.float32
    # torchvision subtracts 8-bit corners before it upcasts (two uint8 boxes apart wrap around
    # to a false overlap); we upcast first, so compare with its IoU of the int32 boxes
    torch.testing.assert_close(iou, tvo.box_iou(a.int(), b.int()), equal_nan=True)
    torch.testing.assert_close(iou, ops.box_iou(a.float(), b.float()), equal_nan=True)


def test_small_integer_boxes_do_not_overflow():
    box = torch.tensor([[0, 0, 100, 100]], dtype=torch.int8)
    assert ops.box_area(box).item() == 10_000
    assert ops.box_area(box.to(torch.int16) * 3).item() == 90_000
    apart = torch.tensor([[0, 0, 10, 10], [200, 200, 210, 210]], dtype=torch.uint8)
    assert ops.box_iou(apart, apart).tolist() == [[1.0, 0.0], [0.0, 1.0]]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 10), m=st.integers(0, 10), seed=st.integers(0, 10_000))
def test_float16_boxes_are_computed_in_float32(n, m, seed):
    # areas of boxes a few hundred pixels wide overflow float16 (largest value 65,504)
    g = torch.Generator().manual_seed(seed)
    a, b = (random_boxes(g, k, spread=600.0, size=400.0) for k in (n, m))
    iou = ops.box_iou(a.half(), b.half())
    # NaN only where the float16 boxes themselves are degenerate (a thin box can round to zero
    # area, and 0/0 is NaN in torchvision too), never from an area overflowing float16
    expected_nan = tvo.box_iou(a.half().float(), b.half().float()).isnan()
    assert iou.dtype == torch.float32 and torch.equal(iou.isnan(), expected_nan)
    # torchvision subtracts in float16 and then upcasts; we upcast first: equal to the float32
    # IoU of the float16 coordinates, and within float16's rounding of torchvision's
    torch.testing.assert_close(iou, ops.box_iou(a.half().float(), b.half().float()), equal_nan=True)
    torch.testing.assert_close(
        iou, tvo.box_iou(a.half(), b.half()), equal_nan=True, atol=2e-3, rtol=1e-2
    )
    assert ops.box_area(a.half()).dtype == torch.float32


def test_bad_roi_pool_input():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="batch indices"):
        ops.roi_pool(x, torch.tensor([[1.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        ops.roi_pool(x, torch.tensor([[0.0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="output_size"):
        ops.roi_pool(x, torch.tensor([[0.0, 0, 0, 2, 2]]), 0)
    with pytest.raises(ValueError, match="x2 < x1"):
        ops.roi_pool(x, torch.tensor([[0.0, 3, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.roi_pool(x[0], torch.tensor([[0.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="scores"):
        ops.nms(torch.zeros(2, 4), torch.ones(3), 0.5)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_box_convert_round_trips_and_equals_torchvision(fmt):
    boxes = random_boxes(torch.Generator().manual_seed(3), 10)
    converted = ops.box_convert(boxes, "xyxy", fmt)
    torch.testing.assert_close(converted, tvo.box_convert(boxes, "xyxy", fmt))
    torch.testing.assert_close(ops.box_convert(converted, fmt, "xyxy"), boxes)
    with pytest.raises(ValueError, match="format"):
        ops.box_convert(boxes, "xyxy", "yxyx")


def test_nms_long_suppression_chain():
    # 60 boxes in a row, each overlapping only its neighbours, scores falling along the row:
    # kept, dropped, kept, dropped: every box's fate depends on all the boxes before it.
    x = torch.arange(60.0) * 5
    boxes = torch.stack([x, torch.zeros(60), x + 10, torch.full((60,), 10.0)], 1)
    scores = torch.linspace(1, 0, 60)
    kept = ops.nms(boxes, scores, 0.3)
    assert torch.equal(kept, tvo.nms(boxes, scores, 0.3))
    assert kept.tolist() == list(range(0, 60, 2))


@pytest.mark.parametrize("k", [127, 128, 129, 300, 700])
def test_nms_across_blocks(k):
    # more boxes than one block (128): crowds of jittered copies, and a chain across blocks
    g = torch.Generator().manual_seed(k)
    centres = (torch.rand(6, 2, generator=g) * 60)[torch.randint(0, 6, (k,), generator=g)]
    centres = centres + torch.randn(k, 2, generator=g) * 2
    crowd = torch.cat([centres - 8, centres + 8], 1)
    x = torch.arange(float(k)) * 5
    chain = torch.stack([x, torch.zeros(k), x + 10, torch.full((k,), 10.0)], 1)
    for boxes in (crowd, chain):
        for scores in (torch.rand(k, generator=g), torch.linspace(1, 0, k)):
            for threshold in (0.3, 0.5, 0.7):
                assert torch.equal(
                    ops.nms(boxes, scores, threshold), tvo.nms(boxes, scores, threshold)
                )
