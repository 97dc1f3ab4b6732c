import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_utils import cost


@settings(max_examples=25, deadline=None)
@given(
    c_in=st.integers(1, 8),
    c_out=st.integers(1, 8),
    k=st.sampled_from([1, 3, 5]),
    out_h=st.integers(1, 6),
    out_w=st.integers(1, 6),
    bias=st.booleans(),
)
def test_conv2d_cost_matches_a_real_layer(c_in, c_out, k, out_h, out_w, bias):
    conv = nn.Conv2d(c_in, c_out, k, bias=bias)
    x = torch.zeros(2, c_in, out_h + k - 1, out_w + k - 1)
    assert conv(x).shape[-2:] == (out_h, out_w)
    params, macs = cost.conv2d_cost(c_in, c_out, k, out_h, out_w, bias)
    assert params == cost.count_parameters(conv)
    assert macs == cost.count_macs(conv, x)  # per image, though x holds 2


def test_count_macs_by_layer_type():
    linear = nn.Linear(10, 4)
    assert cost.count_macs(linear, torch.zeros(3, 10)) == 40
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)  # each filter sees 2 channels
    assert cost.count_macs(grouped, torch.zeros(1, 8, 5, 5)) == 8 * 5 * 5 * 2 * 9
    up = nn.ConvTranspose2d(4, 2, 2, stride=2)  # every input value meets 2*2*2 weights
    assert cost.count_macs(up, torch.zeros(1, 4, 3, 3)) == 4 * 3 * 3 * 2 * 4
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    assert cost.count_macs(net, torch.zeros(1, 1, 6, 6)) == 2 * 16 * 9 + 32 * 3
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed afterwards


def test_count_parameters_trainable_only():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    net[0].weight.requires_grad_(False)
    assert cost.count_parameters(net) == 8 + 3
    assert cost.count_parameters(net, trainable_only=True) == 2 + 3


def test_time_forward_is_positive():
    assert cost.time_forward(nn.Linear(4, 4), torch.zeros(1, 4), repeats=3) > 0


@pytest.mark.parametrize(
    "args", [(0, 1, 1, 1, 1), (1, 1, 1.5, 1, 1), (1, 1, 1, -2, 1), (True, 1, 1, 1, 1)]
)
def test_conv2d_cost_bad_arguments(args):
    with pytest.raises(ValueError, match="must be a positive int"):
        cost.conv2d_cost(*args)


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 40),
    k=st.integers(1, 7),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_conv_output_size_matches_real_layers(size, k, s, p, d):
    if size + 2 * p < d * (k - 1) + 1:
        with pytest.raises(ValueError, match="does not fit"):
            cost.conv_output_size(size, k, s, p, d)
        return
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    assert cost.conv_output_size(size, k, s, p, d) == conv(torch.zeros(1, 1, size, size)).shape[-1]


def test_layer_table():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    rows = cost.layer_table(net, torch.zeros(1, 1, 6, 6))
    assert rows == [
        ("0", "Conv2d", (1, 2, 4, 4), 20),
        ("1", "ReLU", (1, 2, 4, 4), 0),
        ("2", "Flatten", (1, 32), 0),
        ("3", "Linear", (1, 3), 99),
    ]
    assert not any(m._forward_hooks for m in net.modules())


def test_time_modules_counts_calls_rows_and_time():
    first, second = nn.Linear(3, 4), nn.Linear(4, 2)
    model = nn.Sequential(first, nn.ReLU(), second)
    stats = cost.time_modules(
        lambda: [model(torch.randn(n, 3)) for n in (5, 7)], {"first": first, "all": model}
    )
    assert stats["first"]["calls"] == 2 and stats["first"]["rows"] == 12
    assert stats["all"]["calls"] == 2 and stats["all"]["seconds"] >= stats["first"]["seconds"] > 0
    assert not first._forward_hooks and not first._forward_pre_hooks  # hooks removed
    with pytest.raises(ValueError, match="dict"):
        cost.time_modules(lambda: None, {})


def test_torch_flops_are_twice_the_macs_counted_by_hooks():
    from course_utils import models

    x = torch.zeros(2, 192, 28, 28)
    for module in [
        nn.Conv2d(192, 64, 3, padding=1),
        nn.Conv2d(192, 64, 3, bias=False, groups=4),
        models.Inception(192, 64, 96, 128, 16, 32, 32),
        models.Inception(192, 64, 96, 128, 16, 32, 32, reduce=False),
    ]:
        assert cost.torch_flops(module, x) == 2 * cost.count_macs(module, x)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    assert cost.torch_flops(linear, torch.zeros(3, 3, 2, 2)) == 2 * 12 * 5
    with pytest.raises(ValueError, match="batched input"):
        cost.torch_flops(linear, torch.zeros(3))
