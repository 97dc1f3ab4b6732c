"""course_utils.sweep: several runs at once are the same runs as one after the other."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from course_utils import env, models, sweep, transforms


def digits_like(n=64, side=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, side, side, generator=g), torch.randint(0, 10, (n,), generator=g)


def one_run(make, lr, seed, x, y, iterations, batch_size, weight_decay=0.0, augment=None):
    """The same run, trained alone with torch.optim.SGD (the reference for a member)."""
    env.seed_everything(seed)
    net = make()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    for _ in range(iterations):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(x), generator=g)])
        idx, order = order[:batch_size], order[batch_size:]
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.mark.parametrize(
    "make",
    [
        partial(models.small_resnet, 8, 4),  # batch norm: running statistics per member
        partial(models.MiniAlexNet, "tanh", conv_widths=(4, 8), fc=16, input_size=8),
    ],
    ids=["resnet-with-batch-norm", "mini-alexnet"],
)
def test_each_member_is_the_run_it_would_be_alone(make):
    x, y = digits_like()
    members = sweep.grid([0.05, 0.2], [0, 1])
    result = sweep.fit(
        make,
        members,
        x,
        y,
        iterations=7,
        batch_size=16,
        weight_decay=1e-3,
        evaluate={"train": (x, y)},
        checkpoints=[7],
        progress=False,
    )
    for i, m in enumerate(result.members):
        alone = one_run(make, m.lr, m.seed, x, y, 7, 16, weight_decay=1e-3)
        with torch.no_grad():
            logits = alone(x)
        assert result.final("train_loss")[i] == pytest.approx(
            F.cross_entropy(logits, y).item(), abs=1e-4
        )
        err = (logits.argmax(1) != y).double().mean().item()
        assert result.final("train_error")[i] == pytest.approx(err, abs=1e-9)
        rebuilt = result.model(i)  # the trained member as an ordinary module
        with torch.no_grad():
            torch.testing.assert_close(rebuilt(x), logits, atol=1e-4, rtol=1e-4)


def test_a_diverging_member_does_not_touch_the_others():
    x, y = digits_like()
    make = partial(models.MiniAlexNet, "relu", conv_widths=(4,), fc=8, input_size=8)
    members = [sweep.Member(0.01, 0), sweep.Member(1e38, 0)]
    kw = dict(iterations=5, batch_size=8, evaluate={"train": (x, y)}, checkpoints=[1, 5])
    both = sweep.fit(make, members, x, y, progress=False, **kw)
    alone = sweep.fit(make, members[:1], x, y, progress=False, **kw)
    assert both.diverged_at[1] is not None and both.diverged_at[0] is None
    assert math.isnan(both.final("train_loss")[1])
    assert both.final("train_loss")[0] == pytest.approx(
        alone.final("train_loss")[0].item(), abs=1e-5
    )


def test_checkpoints_first_below_select_subset_and_concatenate():
    x, y = digits_like()
    make = partial(models.MiniAlexNet, "relu", conv_widths=(4,), fc=8, input_size=8)
    r = sweep.fit(
        make,
        sweep.grid([0.01, 0.03], [0, 1]),
        x,
        y,
        iterations=6,
        batch_size=8,
        evaluate={"train": (x, y)},
        evaluate_at_end={"test": (x[:10], y[:10])},
        checkpoints=[2, 4, 6],
        progress=False,
    )
    assert r.iterations == [2, 4, 6]
    assert r.curves["train_error"].shape == (4, 3) and r.curves["test_error"].shape == (4, 1)
    assert r.select(lr=0.03, seed=1) == [3]
    first = r.first_below("train_error", 2.0)  # every error is below 2: the first checkpoint
    assert first.tolist() == [2.0] * 4
    assert torch.isinf(r.first_below("train_error", -1.0)).all()
    part = r.subset(r.select(lr=0.01))
    assert [m.seed for m in part.members] == [0, 1]
    joined = sweep.concatenate([part, r.subset(r.select(lr=0.03))])
    torch.testing.assert_close(joined.curves["train_error"], r.curves["train_error"])
    assert sweep.log_spaced_checkpoints(100, per_decade=2, first=10) == [10, 32, 100]


def test_augmentation_only_for_the_members_that_ask():
    x, y = digits_like(side=12)
    calls = []

    def shift(batch, generator):
        calls.append(len(batch))
        return transforms.random_shift(batch, generator, max_shift=2)

    make = partial(models.MiniAlexNet, "relu", conv_widths=(4,), fc=8, input_size=12)
    members = [sweep.Member(0.01, 0, augment=False), sweep.Member(0.01, 0, augment=True)]
    kw = dict(iterations=3, batch_size=8, evaluate={"train": (x, y)}, checkpoints=[3])
    r = sweep.fit(make, members, x, y, augment=shift, progress=False, **kw)
    plain = sweep.fit(make, members[:1], x, y, progress=False, **kw)
    assert calls == [8, 8, 8]  # one member's batch per step
    assert r.final("train_loss")[0] == pytest.approx(plain.final("train_loss")[0].item(), abs=1e-5)
    assert r.final("train_loss")[1] != pytest.approx(r.final("train_loss")[0].item(), abs=1e-6)


def test_clear_errors():
    x, y = digits_like()
    make = partial(models.small_resnet, 8, 4)
    with pytest.raises(ValueError, match="members is empty"):
        sweep.fit(make, [], x, y, iterations=1, progress=False)
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        sweep.fit(make, sweep.grid([0.1], [0]), x, y, iterations=0, progress=False)
    with pytest.raises(ValueError, match="expected images"):
        sweep.fit(make, sweep.grid([0.1], [0]), x[:, 0], y, iterations=1, progress=False)
    with pytest.raises(ValueError, match="no augment function"):
        sweep.fit(make, [sweep.Member(0.1, 0, True)], x, y, iterations=1, progress=False)
    with pytest.raises(ValueError, match="schedule must be one of"):
        sweep.fit(make, sweep.grid([0.1], [0]), x, y, iterations=1, schedule="step", progress=False)
    with pytest.raises(ValueError, match="checkpoints must lie in"):
        sweep.fit(make, sweep.grid([0.1], [0]), x, y, iterations=2, checkpoints=[3], progress=False)
    with pytest.raises(ValueError, match="start has 2 networks for 1 members"):
        sweep.fit(
            make, sweep.grid([0.1], [0]), x, y, iterations=1, start=[make(), make()], progress=False
        )
    with pytest.raises(ValueError, match="same checkpoints"):
        a = sweep.fit(
            make, sweep.grid([0.1], [0]), x, y, iterations=2, checkpoints=[1, 2], progress=False
        )
        b = sweep.fit(
            make, sweep.grid([0.1], [0]), x, y, iterations=2, checkpoints=[2], progress=False
        )
        sweep.concatenate([a, b])


def test_start_trains_given_networks_further_without_changing_them():
    x, y = digits_like()
    env.seed_everything(3)
    net = models.small_resnet(8, 4).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    r = sweep.fit(
        lambda: models.small_resnet(8, 4),
        [sweep.Member(0.1, 0)],
        x,
        y,
        iterations=3,
        batch_size=8,
        start=[net],
        evaluate={"train": (x, y)},
        checkpoints=[3],
        progress=False,
    )
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # a copy trained
    assert not torch.equal(r.model(0).conv1.weight, net.conv1.weight)


def test_an_augmented_member_does_not_depend_on_the_other_members():
    x, y = digits_like(side=12)
    make = partial(models.MiniAlexNet, "relu", conv_widths=(4,), fc=8, input_size=12)
    shift = partial(transforms.random_shift, max_shift=2)
    me = sweep.Member(0.01, 5, augment=True)
    kw = dict(
        iterations=4,
        batch_size=8,
        augment=shift,
        evaluate={"train": (x, y)},
        checkpoints=[4],
        progress=False,
    )
    alone = sweep.fit(make, [me], x, y, **kw)
    crowded = sweep.fit(make, [sweep.Member(0.03, 1, True), me, sweep.Member(0.01, 2)], x, y, **kw)
    assert crowded.final("train_loss")[1] == pytest.approx(
        alone.final("train_loss")[0].item(), abs=1e-5
    )


def test_running_error_averages_the_training_batches():
    x, y = digits_like()
    make = partial(models.MiniAlexNet, "relu", conv_widths=(4,), fc=8, input_size=8)
    r = sweep.fit(
        make,
        sweep.grid([0.01, 0.05], [0]),
        x,
        y,
        iterations=12,
        batch_size=8,
        checkpoints=[12],
        progress=False,
    )
    assert r.batch_error.shape == (2, 12)
    running = r.running_error(window=4)
    torch.testing.assert_close(running[:, 7], r.batch_error[:, 4:8].mean(1))
    torch.testing.assert_close(running[:, 0], r.batch_error[:, 0])  # padded with the first
    first = r.first_iteration_below(2.0, window=4)
    assert first.tolist() == [1.0, 1.0]
    assert torch.isinf(r.first_iteration_below(-1.0)).all()
    assert r.subset([1]).batch_error.shape == (1, 12)
