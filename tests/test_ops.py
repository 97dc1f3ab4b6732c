import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_utils import ops

dims = st.integers(1, 6)


@settings(max_examples=40, deadline=None)
@given(
    n=dims, c_in=dims, c_out=dims, h=dims, w=dims, with_bias=st.booleans(), seed=st.integers(0, 999)
)
def test_conv1x1_equals_conv2d(n, c_in, c_out, h, w, with_bias, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, h, w, generator=g)
    weight = torch.randn(c_out, c_in, 1, 1, generator=g)
    bias = torch.randn(c_out, generator=g) if with_bias else None
    expected = F.conv2d(x, weight, bias)
    torch.testing.assert_close(ops.conv1x1(x, weight, bias), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        ops.conv1x1(x, weight[:, :, 0, 0], bias), expected, atol=1e-5, rtol=1e-5
    )


def test_conv1x1_gradients_match_conv2d():
    conv = nn.Conv2d(3, 4, 1)
    x = torch.randn(2, 3, 5, 6, requires_grad=True)
    conv(x).square().sum().backward()
    expected = x.grad.clone(), conv.weight.grad.clone(), conv.bias.grad.clone()
    x.grad = None
    w = conv.weight.detach().clone().requires_grad_()
    b = conv.bias.detach().clone().requires_grad_()
    ops.conv1x1(x, w, b).square().sum().backward()
    for got, exp in zip((x.grad, w.grad, b.grad), expected, strict=True):
        torch.testing.assert_close(got, exp, atol=1e-5, rtol=1e-5)


def test_conv1x1_bad_input():
    x = torch.randn(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.conv1x1(torch.randn(3, 4, 4), torch.randn(2, 3, 1, 1))
    with pytest.raises(ValueError, match="3 channels"):
        ops.conv1x1(x, torch.randn(2, 5, 1, 1))
    with pytest.raises(ValueError, match="must be 1x1"):
        ops.conv1x1(x, torch.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="bias must have shape"):
        ops.conv1x1(x, torch.randn(2, 3, 1, 1), torch.randn(3))
    with pytest.raises(ValueError, match="torch.Tensor"):
        ops.conv1x1(x.numpy(), torch.randn(2, 3, 1, 1))


@settings(max_examples=40, deadline=None)
@given(n=dims, c=dims, h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 999))
def test_global_avg_pool_equals_adaptive_avg_pool(n, c, h, w, seed):
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 10
    expected = nn.AdaptiveAvgPool2d(1)(x).flatten(1)
    torch.testing.assert_close(ops.global_avg_pool(x), expected, atol=1e-5, rtol=1e-5)


def test_global_avg_pool_bad_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ops.global_avg_pool(torch.randn(3, 4))


@settings(max_examples=30, deadline=None)
@given(n=dims, k=dims, c=dims, h=dims, w=dims, seed=st.integers(0, 999))
def test_class_activation_maps_average_to_the_scores(n, k, c, h, w, seed):
    """A GAP head's score minus its bias is the mean of the class's map (notebook 02)."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, k, h, w, generator=g).relu()
    head = nn.Linear(k, c)
    maps = ops.class_activation_maps(features, head.weight.detach())
    assert maps.shape == (n, c, h, w)
    scores = head(features.mean((2, 3)))
    torch.testing.assert_close(maps.mean((2, 3)) + head.bias, scores, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(maps, F.conv2d(features, head.weight[:, :, None, None].detach()))
    with pytest.raises(ValueError, match=r"\(C, K\) weight"):
        ops.class_activation_maps(features, head.weight.detach()[0])
