"""course_utils.transforms: one random affine per image, equal to torchvision's affine."""

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
