"""Notebook 05's library code: segmentation metrics, losses, FCN / U-Net, data, overlay."""

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_jaccard_index,
)
from torchvision.transforms import v2

from course_utils import datasets, losses, metrics, models, train, viz

# ---------------------------------------------------------------- metrics


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(2, 7),
    shape=st.sampled_from([(5,), (3, 4), (2, 5, 6)]),
    dropped=st.sets(st.integers(0, 6), max_size=3),
    predicted_only=st.booleans(),
    ignore=st.sampled_from([None, 255, 0]),
    seed=st.integers(0, 10_000),
)
def test_mean_iou_and_mean_accuracy_match_torchmetrics(
    k, shape, dropped, predicted_only, ignore, seed
):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randint(0, k, shape, generator=g)
    target = torch.randint(0, k, shape, generator=g)
    for c in dropped:  # classes absent from both maps
        pred[pred == c] = k - 1
        target[target == c] = k - 1
    if predicted_only:  # class 1 predicted but never true
        target[target == 1] = 0
    if ignore == 255:
        target[torch.rand(shape, generator=g) < 0.3] = 255
    if ignore is not None and (target != ignore).sum() == 0:
        return
    if ignore != 0:  # see test_ignore_index_that_is_a_class_label
        ours = metrics.mean_iou(pred, target, k, ignore)
        theirs = multiclass_jaccard_index(pred, target, k, ignore_index=ignore).item()
        assert ours == pytest.approx(theirs, abs=1e-6)
    ours = metrics.mean_accuracy(pred, target, k, ignore)
    theirs = multiclass_accuracy(pred, target, k, ignore_index=ignore).item()
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_ignore_index_that_is_a_class_label():
    # Target pixels of class 0 are not scored; class 0 still counts where it is predicted on
    # other pixels (false positives), so its IoU is 0 here. torchmetrics' Jaccard index
    # instead drops class 0 from the mean altogether (its accuracy does not): we follow the
    # contract, "positions whose target is ignore_index are not counted", and no more.
    pred, target = torch.tensor([0, 1, 1, 0, 1]), torch.tensor([1, 1, 1, 1, 1])
    assert metrics.mean_iou(pred, target, 2, ignore_index=0) == pytest.approx((0 + 3 / 5) / 2)
    assert multiclass_jaccard_index(pred, target, 2, ignore_index=0).item() == pytest.approx(0.6)


def test_per_class_iou_by_hand():
    target = torch.tensor([[0, 0, 1], [0, 2, 2]])
    pred = torch.tensor([[0, 0, 1], [0, 1, 1]])
    iou = metrics.per_class_iou(pred, target, 4)
    assert iou[:3].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert torch.isnan(iou[3])  # absent from both: undefined
    assert metrics.mean_iou(pred, target, 4) == pytest.approx((1 + 1 / 3) / 3)
    assert metrics.mean_accuracy(pred, target, 4) == pytest.approx((1 + 1 + 0) / 3)


def test_all_background_prediction_has_high_pixel_accuracy_but_low_miou():
    target = torch.zeros(10, 10, dtype=torch.long)
    target[:2, :2] = 1
    lazy = torch.zeros_like(target)
    assert metrics.accuracy(lazy, target) == pytest.approx(0.96)
    assert metrics.mean_iou(lazy, target, 2) == pytest.approx(0.48)
    assert metrics.mean_accuracy(lazy, target, 2) == pytest.approx(0.5)


def test_metrics_need_something_to_score():
    target = torch.full((3, 3), 255)
    with pytest.raises(ValueError, match="ignored"):
        metrics.mean_iou(torch.zeros(3, 3, dtype=torch.long), target, 2, ignore_index=255)
    with pytest.raises(ValueError, match="ignored"):
        metrics.mean_accuracy(torch.zeros(3, 3, dtype=torch.long), target, 2, ignore_index=255)
    with pytest.raises(ValueError, match="same shape"):
        metrics.mean_iou(torch.zeros(3, 3, dtype=torch.long), torch.zeros(3, 4).long(), 2)


def square_map(lo, hi, size=16):
    m = torch.zeros(size, size, dtype=torch.long)
    m[lo:hi, lo:hi] = 1
    return m


def test_boundary_iou_by_hand():
    target = square_map(4, 12)  # an 8x8 square: its 1-pixel band is 28 pixels
    assert metrics.boundary_iou(target, target, 2, width=1) == 1.0
    shifted = torch.roll(target, 1, dims=1)
    b = metrics.boundary_iou(shifted, target, 2, width=1)
    m = metrics.mean_iou(shifted, target, 2)
    assert b < m < 1  # a one-pixel shift costs the boundary more than the area
    # the square's band in class 1: 28 pixels; the band of class 0 (the frame around it): 36
    band1 = metrics.labels._inner_band(target[None, None] == 1, 1)
    band0 = metrics.labels._inner_band(target[None, None] == 0, 1)
    assert int(band1.sum()) == 28 and int(band0.sum()) == 36


def test_the_image_edge_is_not_a_contour():
    target = torch.zeros(12, 12, dtype=torch.long)
    target[:, 6:] = 1  # two halves: the only contour is the middle line
    classes = torch.arange(2)[None, :, None, None]
    bands = metrics.labels._inner_band(target[None, None] == classes, 1)[0]
    assert bands[0].sum(0).tolist() == [0] * 5 + [12] + [0] * 6  # column 5 only
    assert bands[1].sum(0).tolist() == [0] * 6 + [12] + [0] * 5  # column 6 only
    spurious = target.clone()
    spurious[2, 2] = 1  # a wrong blob inside: a new contour in the prediction
    assert metrics.boundary_iou(spurious, target, 2, width=1) < 1.0
    assert metrics.mean_iou(spurious, target, 2) > 0.98


def test_boundary_iou_bad_input():
    t = square_map(2, 6, 8)
    with pytest.raises(ValueError, match="width"):
        metrics.boundary_iou(t, t, 2, width=0)
    with pytest.raises(ValueError, match="single class"):
        metrics.boundary_iou(torch.zeros(4, 4).long(), torch.zeros(4, 4).long(), 2)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        metrics.boundary_iou(t.reshape(-1), t.reshape(-1), 2)


# ---------------------------------------------------------------- losses


@settings(max_examples=30, deadline=None)
@given(
    shape=st.sampled_from([(3, 4), (2, 3, 5), (2, 4, 3, 5)]),
    scale=st.sampled_from([1.0, 30.0, 1000.0]),
    seed=st.integers(0, 10_000),
)
def test_losses_match_torch_and_their_gradients_too(shape, scale, seed):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(shape, generator=g) * scale).requires_grad_()
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    onehot = F.one_hot(target, shape[1]).movedim(-1, 1).float()
    for ours, theirs in [
        (losses.softmax_cross_entropy, lambda z: F.cross_entropy(z, target)),
        (losses.sigmoid_cross_entropy, lambda z: F.binary_cross_entropy_with_logits(z, onehot)),
    ]:
        a, b = ours(logits, target), theirs(logits)
        assert torch.isfinite(a)
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)
        (ga,) = torch.autograd.grad(a, logits)
        (gb,) = torch.autograd.grad(b, logits)
        torch.testing.assert_close(ga, gb, atol=2e-5, rtol=1e-3)  # float32 rounding differs


@pytest.mark.parametrize(
    "logits, target, match",
    [
        (torch.zeros(2, 3, 4), torch.zeros(2, 4), "integer"),
        (torch.zeros(2, 3, 4), torch.zeros(2, 5).long(), "shape"),
        (torch.zeros(2, 3, 4), torch.full((2, 4), 3), r"0\.\.2"),
        (torch.zeros(2, 3, 4).long(), torch.zeros(2, 4).long(), "float"),
    ],
)
def test_losses_bad_input(logits, target, match):
    for fn in (losses.softmax_cross_entropy, losses.sigmoid_cross_entropy):
        with pytest.raises(ValueError, match=match):
            fn(logits, target)


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("skips, stride", [(0, 16), (1, 8), (2, 4), (3, 2)])
def test_fcn_shapes_and_output_stride(skips, stride):
    fcn = models.FCN(5, skips=skips)
    assert fcn.output_stride == stride and fcn.name == f"FCN-{stride}s"
    assert fcn(torch.randn(2, 3, 32, 48)).shape == (2, 5, 32, 48)


def test_coarse_fcn_output_is_its_score_map_upsampled():
    torch.manual_seed(0)
    fcn = models.FCN(3, skips=0).eval()
    x = torch.randn(1, 3, 32, 32)
    features = x
    for stage in fcn.stages:
        features = stage(features)
    coarse = fcn.score(features)
    assert coarse.shape[-2:] == (2, 2)
    expected = F.interpolate(coarse, scale_factor=16, mode="bilinear", align_corners=False)
    torch.testing.assert_close(fcn(x), expected)


def test_fcn_paper_upsampling_learns_the_2x_steps_and_fixes_the_last():
    fcn = models.FCN(3, widths=(8, 8, 8), skips=2, upsample="transposed", final_upsample="bilinear")
    assert all(isinstance(up, torch.nn.ConvTranspose2d) for up in fcn.skip_ups)
    assert sum(p.numel() for p in fcn.final_up.parameters()) == 0  # fixed interpolation
    learned = models.FCN(3, widths=(8, 8, 8), skips=2, upsample="transposed")
    assert isinstance(learned.final_up, torch.nn.ConvTranspose2d)
    assert fcn(torch.randn(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="mode"):
        models.FCN(3, final_upsample="nearest")


def test_fcn_and_unet_bad_input():
    with pytest.raises(ValueError, match="skips"):
        models.FCN(3, skips=4)
    with pytest.raises(ValueError, match="divisible by 16"):
        models.FCN(3)(torch.randn(1, 3, 24, 24))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        models.UNet(3)(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="divisible by 8"):
        models.UNet(3)(torch.randn(1, 3, 20, 20))
    with pytest.raises(ValueError, match="two levels"):
        models.UNet(3, widths=(8,))
    with pytest.raises(ValueError, match="skip"):
        models.UNetUp(8, 4, 4)(torch.randn(1, 8, 3, 3), torch.randn(1, 4, 7, 7))


@pytest.mark.parametrize("widths", [(8, 16), (16, 32, 64), (8, 8, 16, 32)])
def test_unet_shapes(widths):
    unet = models.UNet(4, in_channels=1, widths=widths)
    side = 2 ** (len(widths) - 1) * 3
    assert unet(torch.randn(2, 1, side, side)).shape == (2, 4, side, side)
    assert len(unet.up) == len(widths) - 1


@pytest.mark.parametrize("factor", [2, 4, 8, 16])
def test_transposed_upsampler_is_bilinear_inside(factor):
    x = torch.randn(2, 3, 5, 6)
    up = models.upsampler(3, factor, "transposed")
    a = up(x)
    b = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert a.shape == b.shape == (2, 3, 5 * factor, 6 * factor)
    f = factor
    torch.testing.assert_close(a[..., f:-f, f:-f], b[..., f:-f, f:-f], atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in up.parameters()) == 3 * (2 * f) ** 2  # learnable, per channel
    assert sum(p.numel() for p in models.upsampler(3, f).parameters()) == 0


def test_bilinear_kernel_and_upsampler_errors():
    k = models.bilinear_kernel(2)
    assert k[0].tolist() == pytest.approx([0.0625, 0.1875, 0.1875, 0.0625])
    with pytest.raises(ValueError, match="even"):
        models.bilinear_kernel(3)
    with pytest.raises(ValueError, match="mode"):
        models.upsampler(3, 2, "nearest")


# ---------------------------------------------------------------- data, training, figures

SCENES = dict(image_size=32, classes=("square", "star", "ring"), size_range=(0.25, 0.5))


def test_semantic_scenes_are_the_shapes_scenes_label_maps():
    images, labels = datasets.semantic_scenes(5, seed=4, **SCENES)
    assert images.shape == (5, 3, 32, 32) and labels.shape == (5, 32, 32)
    assert labels.dtype == torch.int64 and int(labels.max()) <= 3
    scenes = datasets.ShapesScenes(5, seed=4, **SCENES)
    for i in range(5):
        image, target = scenes[i]
        assert torch.equal(images[i], image.as_subclass(torch.Tensor))
        assert torch.equal(labels[i], target["semantic"].as_subclass(torch.Tensor))
    with pytest.raises(ValueError, match="num_images"):
        datasets.semantic_scenes(0)


def test_segmentation_pairs_with_an_elastic_transform_stay_aligned():
    images, labels = datasets.semantic_scenes(4, seed=1, **SCENES)
    plain = datasets.SegmentationPairs(images, labels)
    assert len(plain) == 4 and torch.equal(plain[2][1], labels[2])
    torch.manual_seed(0)
    warped = datasets.SegmentationPairs(images, labels, v2.ElasticTransform(40.0, 4.0))
    image, label = warped[0]
    assert type(image) is torch.Tensor and type(label) is torch.Tensor  # plain tensors out
    assert label.dtype == torch.int64
    assert set(label.unique().tolist()) <= set(labels[0].unique().tolist())
    assert not torch.equal(label, labels[0])
    # a warp of an image whose pixels hold their own label maps onto the warped labels
    coded = labels[:1, None].float().expand(1, 3, 32, 32) / 3
    image, label = datasets.SegmentationPairs(coded, labels[:1], v2.ElasticTransform(40.0, 4.0))[0]
    agree = (image[0] * 3).round().long() == label
    assert agree.float().mean() > 0.9  # equal except where bilinear blends two labels


def test_segmentation_pairs_bad_input():
    with pytest.raises(ValueError, match="pair up"):
        datasets.SegmentationPairs(torch.zeros(3, 3, 8, 8), torch.zeros(2, 8, 8).long())
    with pytest.raises(ValueError, match="integer"):
        datasets.SegmentationPairs(torch.zeros(2, 3, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        datasets.SegmentationPairs(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8).long())


def test_fit_logs_validation_metrics_for_label_maps():
    images, labels = datasets.semantic_scenes(16, seed=1, **SCENES)
    loader = DataLoader(datasets.SegmentationPairs(images, labels), batch_size=8)
    torch.manual_seed(0)
    model = models.UNet(4, widths=(8, 16))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    history = train.fit(
        model,
        loader,
        opt,
        epochs=2,
        val_loader=loader,
        progress=False,
        val_metrics={"mIoU": lambda p, t: metrics.mean_iou(p, t, 4)},
    )
    assert len(history["val_mIoU"]) == 2 and 0 <= history["val_mIoU"][-1] <= 1
    result = train.evaluate(model, loader, metrics={"mIoU": lambda p, t: 0.5})
    assert result["mIoU"] == 0.5 and set(result) == {"loss", "accuracy", "mIoU"}


def test_overlay_label_map():
    images, labels = datasets.semantic_scenes(1, seed=1, **SCENES)
    names = ("background", *SCENES["classes"])
    fig = viz.overlay_label_map(images[0], labels[0], names, title="x")
    assert fig.axes[0].get_title() == "x"
    plt.close(fig)
    with pytest.raises(ValueError, match="label_map"):
        viz.overlay_label_map(images[0], labels[0, :4], names)
    with pytest.raises(ValueError, match="labels must be in"):
        viz.overlay_label_map(images[0], labels[0] + 5, names)


def test_cell_scenes_are_seeded_thin_walls_between_cells():
    images, labels = datasets.cell_scenes(6, seed=3)
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (6, 32, 32) and labels.dtype == torch.int64
    assert 0 <= images.min() and images.max() <= 1
    assert set(labels.unique().tolist()) == {0, 1} and datasets.CELL_CLASSES == ("cell", "wall")
    assert 0.05 < labels.float().mean() < 0.5  # walls are a minority of the pixels
    walls = images[:, 0][labels == 1].mean()
    assert walls < images[:, 0][labels == 0].mean()  # walls are dark
    again = datasets.cell_scenes(6, seed=3)
    assert torch.equal(again[0], images) and torch.equal(again[1], labels)
    assert not torch.equal(datasets.cell_scenes(6, seed=4)[1], labels)
    with pytest.raises(ValueError, match="num_images"):
        datasets.cell_scenes(0)
    with pytest.raises(ValueError, match="wall"):
        datasets.cell_scenes(2, wall=0)
