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
        (torch.tensor([[0, 0, 1, 1]]), "float"),
        ([[0.0, 0, 1, 1]], "torch.Tensor"),
    ],
)
def test_bad_boxes_are_clear_errors(boxes, match):
    good = torch.tensor([[0.0, 0, 1, 1]])
    with pytest.raises(ValueError, match=match):
        ops.box_iou(boxes, good)
    with pytest.raises(ValueError, match=match):
        ops.nms(boxes, torch.ones(1), 0.5)


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


def test_nms_long_suppression_chain_falls_back_to_the_greedy_loop():
    # 60 boxes in a row, each overlapping only its neighbours, scores falling along the row:
    # kept, dropped, kept, dropped... needs one round per box, so the fallback runs.
    x = torch.arange(60.0) * 5
    boxes = torch.stack([x, torch.zeros(60), x + 10, torch.full((60,), 10.0)], 1)
    scores = torch.linspace(1, 0, 60)
    kept = ops.nms(boxes, scores, 0.3)
    assert torch.equal(kept, tvo.nms(boxes, scores, 0.3))
    assert kept.tolist() == list(range(0, 60, 2))
