"""course_utils.transforms: one random affine per image, equal to torchvision's affine; the
horizontal flip of detection samples with keypoints (left and right swapped)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from course_utils import transforms


@settings(max_examples=25, deadline=None)
@given(
    angle=st.floats(-45, 45, allow_subnormal=False),
    dx=st.integers(-3, 3),
    dy=st.integers(-3, 3),
    scale=st.floats(0.7, 1.3, allow_subnormal=False),
    h=st.integers(3, 12),
    w=st.integers(3, 12),
)
def test_affine_equals_torchvision_per_image(angle, dx, dy, scale, h, w):
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h * 100 + w))
    ours = transforms.affine(
        x, torch.tensor([angle, 0.0]), torch.tensor([[dx, dy], [0, 0]]), torch.tensor([scale, 1.0])
    )
    expected = TF.affine(
        x[0],
        angle=angle,
        translate=[dx, dy],
        scale=scale,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )
    torch.testing.assert_close(ours[0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[1], x[1], atol=1e-6, rtol=0)  # the identity leaves image 1


def test_whole_pixel_affine_shifts_move_values():
    x = torch.rand(1, 1, 6, 7)
    out = transforms.affine(x, torch.zeros(1), torch.tensor([[2.0, -1.0]]))
    torch.testing.assert_close(out[0, 0, :-1, 2:], x[0, 0, 1:, :-2], atol=1e-6, rtol=0)
    assert out[0, 0, :, :2].abs().max() < 1e-6 and out[0, 0, -1].abs().max() < 1e-6


def test_random_shift_keeps_the_ink_inside_a_margin():
    digits = torch.nn.functional.pad(torch.rand(50, 1, 8, 8), (2, 2, 2, 2))
    g = torch.Generator().manual_seed(0)
    shifted = transforms.random_shift(digits, g, max_shift=2)
    torch.testing.assert_close(shifted.sum((1, 2, 3)), digits.sum((1, 2, 3)), atol=1e-5, rtol=0)
    assert not torch.allclose(shifted, digits)  # something moved
    again = transforms.random_shift(digits, torch.Generator().manual_seed(0), max_shift=2)
    assert torch.equal(shifted, again)  # seeded


def test_random_affine_draws_one_transform_per_image():
    x = torch.zeros(4, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # a dot in the middle of each image
    out = transforms.random_affine(
        x, torch.Generator().manual_seed(1), degrees=0, max_shift=3, scale=(1, 1)
    )
    positions = {tuple((o[0] == o[0].max()).nonzero()[0].tolist()) for o in out}
    assert len(positions) > 1  # the images moved differently


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        transforms.random_shift(torch.rand(8, 8), torch.Generator())
    with pytest.raises(ValueError, match="float"):
        transforms.affine(
            torch.zeros(1, 1, 4, 4, dtype=torch.uint8), torch.zeros(1), torch.zeros(1, 2)
        )
    with pytest.raises(ValueError, match="one angle, shift and scale per image"):
        transforms.affine(torch.rand(2, 1, 4, 4), torch.zeros(1), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="max_shift must be >= 0"):
        transforms.random_shift(torch.rand(1, 1, 4, 4), torch.Generator(), max_shift=-1)
    with pytest.raises(ValueError, match="degrees >= 0"):
        transforms.random_affine(torch.rand(1, 1, 4, 4), torch.Generator(), degrees=-1)


def test_random_shift_is_exact_and_equals_whole_pixel_affine():
    x = torch.rand(20, 2, 7, 9)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    shifted = transforms.random_shift(x, g1, max_shift=3)
    dx, dy = torch.randint(-3, 4, (2, 20, 1), generator=g2)  # the same draws
    expected = transforms.affine(x, torch.zeros(20), torch.stack([dx[:, 0], dy[:, 0]], 1).float())
    torch.testing.assert_close(shifted, expected, atol=1e-6, rtol=0)
    values = set(x.flatten().tolist()) | {0.0}
    assert set(shifted.flatten().tolist()) <= values  # moved, never blended


# ------------------------------------------------------------------ elastic deformation (05)


@settings(max_examples=15, deadline=None)
@given(
    h=st.integers(4, 20),
    w=st.integers(4, 20),
    std=st.floats(0, 5, allow_subnormal=False),
    seed=st.integers(0, 99),
)
def test_elastic_warp_equals_torchvision_elastic_with_the_same_field(h, w, std, seed):
    g = torch.Generator().manual_seed(seed)
    images, labels = (
        torch.rand(2, 3, h, w, generator=g),
        torch.randint(0, 4, (2, h, w), generator=g),
    )
    field = transforms.unet_displacement(2, h, w, g, std=std)
    warped, moved = transforms.elastic_warp(images, labels, field, padding_mode="zeros")
    for i in range(2):
        d = torch.stack([field[i, 0] * 2 / w, field[i, 1] * 2 / h], dim=-1)[None]
        expected = TF.elastic(images[i], d, fill=None)
        torch.testing.assert_close(warped[i], expected, atol=1e-5, rtol=1e-5)
        expected_labels = TF.elastic(labels[i][None], d, InterpolationMode.NEAREST, fill=None)
        assert torch.equal(moved[i], expected_labels[0])


def test_unet_displacement_is_the_coarse_grid_interpolated():
    g = torch.Generator().manual_seed(0)
    field = transforms.unet_displacement(500, 17, 17, g, grid=3, std=10.0)
    coarse = torch.randn(500, 2, 3, 3, generator=torch.Generator().manual_seed(0)) * 10
    torch.testing.assert_close(field[..., ::8, ::8], coarse, atol=1e-4, rtol=1e-4)  # grid points
    assert 9 < float(field[..., ::8, ::8].std()) < 11  # 10-pixel standard deviation there
    assert float(field[..., 1:, :].sub(field[..., :-1, :]).abs().max()) < 20  # smooth
    assert torch.equal(transforms.unet_displacement(3, 5, 5, g, std=0.0), torch.zeros(3, 2, 5, 5))


def test_random_elastic_moves_image_and_labels_together():
    labels = torch.zeros(6, 24, 24, dtype=torch.long)
    labels[:, 8:16, 6:18] = 2
    images = labels[:, None].float().expand(-1, 3, -1, -1) / 2  # the image is its label map
    warped, moved = transforms.random_elastic(
        images, labels, torch.Generator().manual_seed(1), std=3.0
    )
    assert moved.dtype == torch.long and set(moved.unique().tolist()) <= {0, 2}
    assert not torch.equal(moved, labels)  # something moved, each image its own way
    assert not torch.equal(moved[0], moved[1])
    # where the warped image is clearly inside or outside the object, the label agrees
    inside, outside = warped[:, 0] > 0.75, warped[:, 0] < 0.25
    assert (moved[inside] == 2).all() and (moved[outside] == 0).all()
    again = transforms.random_elastic(images, labels, torch.Generator().manual_seed(1), std=3.0)
    assert torch.equal(again[1], moved)  # seeded
    identity = transforms.elastic_warp(images, labels, torch.zeros(6, 2, 24, 24))
    torch.testing.assert_close(identity[0], images)
    assert torch.equal(identity[1], labels)


def test_elastic_bad_inputs_are_clear_errors():
    images, labels = torch.rand(2, 3, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long)
    g = torch.Generator()
    with pytest.raises(ValueError, match="displacement"):
        transforms.elastic_warp(images, labels, torch.zeros(2, 2, 8, 7))
    with pytest.raises(ValueError, match="labels"):
        transforms.elastic_warp(images, labels[:1], torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="integer"):
        transforms.elastic_warp(images, labels.float(), torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="padding_mode"):
        transforms.elastic_warp(images, labels, torch.zeros(2, 2, 8, 8), padding_mode="border")
    with pytest.raises(ValueError, match="grid"):
        transforms.unet_displacement(2, 8, 8, g, grid=1)
    with pytest.raises(ValueError, match="std"):
        transforms.random_elastic(images, labels, g, std=-1.0)
    with pytest.raises(ValueError, match="images"):
        transforms.random_elastic(images[0], labels, g)


def test_horizontal_flip_moves_everything_and_swaps_left_and_right():
    from course_utils.datasets import PERSON_FLIP_INDEX, ShapesScenes

    data = ShapesScenes(4, seed=3, classes=("person",), size_range=(0.45, 0.8), back_facing=0.5)
    for image, target in data:
        fimage, ftarget = transforms.horizontal_flip(image, target, PERSON_FLIP_INDEX)
        assert torch.equal(fimage, image.flip(-1))
        assert isinstance(ftarget["boxes"], type(target["boxes"]))
        w = image.shape[-1]
        boxes = target["boxes"].as_subclass(torch.Tensor)
        expected = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        assert torch.equal(ftarget["boxes"].as_subclass(torch.Tensor), expected)
        assert torch.equal(ftarget["masks"], target["masks"].flip(-1))
        assert torch.equal(ftarget["semantic"], target["semantic"].flip(-1))
        index = list(PERSON_FLIP_INDEX)
        kps = target["keypoints"]
        assert torch.allclose(ftarget["keypoints"][..., 0], w - kps[:, index, 0])
        assert torch.equal(ftarget["keypoints"][..., 1:], kps[:, index, 1:])
        assert ftarget["labels"] is target["labels"] and ftarget["image_id"] == target["image_id"]
    with pytest.raises(ValueError, match="flip_index"):
        transforms.horizontal_flip(image, target)
    with pytest.raises(ValueError, match="BoundingBoxes"):
        transforms.horizontal_flip(image, {"boxes": torch.zeros(0, 4)})


def test_random_horizontal_flip_draws_per_sample():
    from course_utils.datasets import PERSON_FLIP_INDEX, ShapesScenes

    image, target = ShapesScenes(1, seed=3, classes=("person",))[0]
    never = transforms.RandomHorizontalFlip(PERSON_FLIP_INDEX, p=0.0)
    always = transforms.RandomHorizontalFlip(PERSON_FLIP_INDEX, p=1.0)
    assert never(image, target)[0] is image
    assert torch.equal(always(image, target)[0], image.flip(-1))
    half = transforms.RandomHorizontalFlip(
        PERSON_FLIP_INDEX, generator=torch.Generator().manual_seed(0)
    )
    flips = [not torch.equal(half(image, target)[0], image) for _ in range(200)]
    assert 60 < sum(flips) < 140
    with pytest.raises(ValueError, match="probability"):
        transforms.RandomHorizontalFlip(PERSON_FLIP_INDEX, p=2)
