"""roi_align equals torchvision.ops.roi_align: every sampling_ratio, both aligned values, grads."""

import pytest
import torch
import torchvision.ops as tvo
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import ops
from course_utils.checks.instance import torchvision_bilinear  # roi_align of zero-size boxes


def random_rois(g, k, n, spread, empty_share=0.2):
    xy = torch.rand(k, 2, generator=g) * spread * 1.4 - spread * 0.2  # some leave the map
    wh = torch.rand(k, 2, generator=g) * spread * 0.8
    wh = wh * (torch.rand(k, 1, generator=g) > empty_share)  # some zero-area boxes
    index = torch.randint(0, n, (k, 1), generator=g).float()
    return torch.cat([index, xy, xy + wh], 1)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    k=st.integers(0, 9),
    out=st.sampled_from([1, 2, (2, 3), 7]),
    scale=st.sampled_from([1.0, 0.5, 0.25]),
    sampling_ratio=st.sampled_from([-1, 0, 1, 2, 3]),
    aligned=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_roi_align_equals_torchvision(h, w, k, out, scale, sampling_ratio, aligned, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, h, w, generator=g)
    rois = random_rois(g, k, 2, max(h, w) / scale)
    ours = ops.roi_align(x, rois, out, scale, sampling_ratio, aligned)
    theirs = tvo.roi_align(x, rois, out, scale, sampling_ratio, aligned)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_roi_align_gradients_equal_torchvision(sampling_ratio, aligned):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 9, 11, generator=g, requires_grad=True)
    rois = random_rois(g, 12, 2, 11.0)
    weight = torch.randn(12, 4, 3, 3, generator=g)
    grads = []
    for fn in (ops.roi_align, tvo.roi_align):
        (grad,) = torch.autograd.grad(
            (fn(x, rois, 3, 1.0, sampling_ratio, aligned) * weight).sum(), x
        )
        grads.append(grad)
    torch.testing.assert_close(*grads, atol=1e-5, rtol=1e-5)


def test_roi_align_list_form_and_unsorted_images():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, 8, 8, generator=g)
    boxes = [
        torch.tensor([[1.0, 1, 5, 6]]),
        torch.zeros(0, 4),
        torch.tensor([[0.0, 2, 7, 7], [2.5, 0.5, 3, 4]]),
    ]
    torch.testing.assert_close(
        ops.roi_align(x, boxes, 2, 1.0, 2), tvo.roi_align(x, boxes, 2, 1.0, 2)
    )
    rois = torch.tensor(
        [[2.0, 0, 2, 7, 7], [0, 1, 1, 5, 6], [2, 2.5, 0.5, 3, 4]]
    )  # not grouped by image
    torch.testing.assert_close(ops.roi_align(x, rois, 3), tvo.roi_align(x, rois, 3))
    assert ops.roi_align(x, torch.zeros(0, 5), (2, 3)).shape == (0, 2, 2, 3)


def test_roi_align_bad_input():
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="batch indices"):
        ops.roi_align(x, torch.tensor([[1.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="x2 < x1|x1 <= x2|smaller"):
        ops.roi_align(x, torch.tensor([[0.0, 3, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="output_size"):
        ops.roi_align(x, torch.tensor([[0.0, 0, 0, 2, 2]]), 0)
    with pytest.raises(ValueError, match="sampling_ratio"):
        ops.roi_align(x, torch.tensor([[0.0, 0, 0, 2, 2]]), 2, sampling_ratio=1.5)


def test_nms_threshold_compared_in_double_as_torchvision():
    # IoU exactly 1/3 in float32 rounds up past the double 1/3: torchvision suppresses the box
    pair = torch.tensor([[0.0, 0, 2, 1], [1, 0, 3, 1]])
    scores = torch.tensor([0.9, 0.8])
    assert ops.nms(pair, scores, 1 / 3).tolist() == tvo.nms(pair, scores, 1 / 3).tolist() == [0]


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), p=st.integers(0, 30), seed=st.integers(0, 9999))
def test_bilinear_interpolate_is_roi_align_of_a_point(h, w, p, seed):
    g = torch.Generator().manual_seed(seed)
    feature = torch.randn(3, h, w, generator=g, dtype=torch.float64)
    y = torch.rand(p, generator=g, dtype=torch.float64) * (h + 3) - 1.5  # some outside the map
    x = torch.rand(p, generator=g, dtype=torch.float64) * (w + 3) - 1.5
    torch.testing.assert_close(
        ops.bilinear_interpolate(feature, y, x), torchvision_bilinear(feature, y, x)
    )


def test_bilinear_interpolate_edges_and_errors():
    feature = torch.arange(6.0).view(1, 2, 3)  # rows [0 1 2], [3 4 5]
    y = torch.tensor([0.0, 0.5, 1.0, -0.5, 1.7, -1.01, 2.01, 0.5])
    x = torch.tensor([0.0, 0.5, 2.0, 0.0, 2.5, 0.0, 0.0, 3.2])
    # a pixel itself; the centre of four; the last pixel; half outside reads the edge (twice);
    # more than a pixel outside reads 0 (three times)
    expected = torch.tensor([[0.0, 2.0, 5.0, 0.0, 5.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(ops.bilinear_interpolate(feature, y, x), expected)
    points = torch.rand(2, 5)  # any shape of points
    assert ops.bilinear_interpolate(feature, points, points).shape == (1, 2, 5)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        ops.bilinear_interpolate(feature[None], y, x)
    with pytest.raises(ValueError, match="same shape"):
        ops.bilinear_interpolate(feature, y, x[:3])


@settings(max_examples=25, deadline=None)
@given(
    objects=st.integers(1, 4),
    regions=st.integers(0, 6),
    classes=st.integers(2, 5),
    m=st.sampled_from([4, 7, 14]),
    seed=st.integers(0, 2**16),
)
def test_mask_loss_equals_torchvision(objects, regions, classes, m, seed):
    from torchvision.models.detection.roi_heads import maskrcnn_loss

    from course_utils import losses

    g = torch.Generator().manual_seed(seed)
    masks = (torch.rand(objects, 20, 24, generator=g) > 0.5).to(torch.uint8)
    labels = torch.randint(1, classes, (objects,), generator=g)
    xy = torch.rand(regions, 2, generator=g) * 22 - 2  # some leave the image
    boxes = torch.cat([xy, xy + torch.rand(regions, 2, generator=g) * 12 + 0.5], 1)
    matched = torch.randint(0, objects, (regions,), generator=g)
    logits = torch.randn(regions, classes, m, m, generator=g, requires_grad=True)
    ours = losses.mask_loss(logits, boxes, masks, labels, matched)
    theirs = maskrcnn_loss(logits, [boxes], [masks], [labels], [matched])
    torch.testing.assert_close(ours, theirs)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_theirs,) = torch.autograd.grad(theirs, logits)
    torch.testing.assert_close(g_ours, g_theirs)


def test_mask_loss_rejects_bad_shapes():
    from course_utils import losses

    logits = torch.zeros(2, 3, 7, 7)
    masks, labels = torch.zeros(1, 10, 10), torch.ones(1, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\(P, C, M, M\)"):
        losses.mask_loss(torch.zeros(2, 3, 7), torch.zeros(2, 4), masks, labels, torch.zeros(2))
    with pytest.raises(ValueError, match="boxes must be"):
        losses.mask_loss(logits, torch.zeros(3, 4), masks, labels, torch.zeros(2))
    with pytest.raises(ValueError, match="gt_masks must be"):
        losses.mask_loss(logits, torch.zeros(2, 4), masks[0], labels, torch.zeros(2))
