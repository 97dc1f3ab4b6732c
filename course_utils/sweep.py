"""Train several small classifiers at once: a sweep over seeds and learning rates (03, 04).

An experiment that a sceptical reader accepts trains every variant at several learning rates
and several seeds. On a CPU a small network spends most of a training step in per-layer
overhead, not in arithmetic, so :func:`fit` stacks the M runs (the *members*) into one
batched model with ``torch.func.vmap``: M runs cost about as much as two or three.

Each member is an independent run, as if trained on its own:

- its own initial weights (the model built after ``env.seed_everything(member.seed)``),
- its own order of the training images (a generator seeded with ``member.seed``),
- its own learning rate and, when ``member.augment`` is set, its own stream of random
  augmentations (seeded with its seed),
- its own batch-norm statistics,
- its own dropout masks (drawn from the global generator: independent of the other members',
  but not the very masks that a run alone would draw).

The optimiser is SGD with momentum and weight decay (as in the AlexNet and ResNet papers),
written out in :func:`_sgd_step` so that each member has its own learning rate.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .env import seed_everything, synchronize
from .progress import progress_bar

__all__ = ["Member", "SweepResult", "concatenate", "fit", "grid", "log_spaced_checkpoints"]


@dataclass(frozen=True)
class Member:
    """One run of a sweep: its learning rate, its seed, and whether its images are augmented."""

    lr: float
    seed: int
    augment: bool = False


def grid(lrs: Sequence[float], seeds: Sequence[int], augment: Sequence[bool] = (False,)):
    """Every combination of learning rate, seed and augmentation, as a list of members."""
    return [Member(lr, s, a) for a in augment for lr in lrs for s in seeds]


def log_spaced_checkpoints(iterations: int, per_decade: int = 12, first: int = 5) -> list[int]:
    """Iterations at which to evaluate: dense early (where curves change fast), sparse later."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    points = {iterations}
    t = float(min(first, iterations))
    while t < iterations:
        points.add(round(t))
        t *= 10 ** (1 / per_decade)
    return sorted(points)


@dataclass
class SweepResult:
    """What :func:`fit` measured: one row per member, one column per checkpoint.

    ``curves["train_error"]`` is a (M, T) tensor: the error of every member on the training
    set (evaluated in eval mode: no dropout, batch norm with its running statistics) at each
    of the T ``iterations``. Diverged members have NaN from the checkpoint where they diverged.
    """

    members: list[Member]
    iterations: list[int]
    curves: dict[str, torch.Tensor] = field(default_factory=dict)
    diverged_at: list[int | None] = field(default_factory=list)
    seconds: float = 0.0
    states: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    make_model: Callable[[], nn.Module] | None = field(default=None, repr=False)
    batch_error: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0), repr=False)

    def running_error(self, window: int = 10) -> torch.Tensor:
        """(M, iterations): each member's error on the mini-batches it trained on (in training
        mode, before each update), averaged over the last ``window`` iterations: the training
        error measured at every iteration for free. (For a network with dropout or batch norm it
        differs from the eval-mode ``train_error``.)"""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        kernel = torch.ones(
            1, 1, window, dtype=self.batch_error.dtype, device=self.batch_error.device
        )
        kernel = kernel / window
        padded = torch.cat([self.batch_error[:, :1].expand(-1, window - 1), self.batch_error], 1)
        return torch.nn.functional.conv1d(padded[:, None], kernel)[:, 0]

    def first_iteration_below(self, threshold: float, window: int = 10) -> torch.Tensor:
        """Per member, the first iteration at which :meth:`running_error` <= threshold
        (``inf`` if never within the budget)."""
        below = self.running_error(window) <= threshold
        its = torch.arange(1, below.shape[1] + 1, dtype=torch.float64, device=below.device)
        return torch.where(below, its, torch.full_like(its, math.inf)).amin(1)

    def model(self, i: int) -> nn.Module:
        """Member ``i``'s trained network, as an ordinary module (weights and batch-norm
        statistics included), in eval mode."""
        if self.make_model is None:
            raise ValueError("this result has no model builder")
        net = self.make_model()
        net.load_state_dict({k: v[i].detach().clone() for k, v in self.states.items()})
        return net.eval()

    def select(self, **where) -> list[int]:
        """Indices of the members whose attributes equal ``where`` (e.g. ``lr=0.01``)."""
        return [
            i
            for i, m in enumerate(self.members)
            if all(getattr(m, k) == v for k, v in where.items())
        ]

    def subset(self, indices: Sequence[int]) -> SweepResult:
        """The same result restricted to some members (e.g. ``result.select(augment=True)``)."""
        index = torch.as_tensor(list(indices), dtype=torch.long)

        def rows(v: torch.Tensor) -> torch.Tensor:  # states live on the training device
            return v[index.to(v.device)]

        return SweepResult(
            members=[self.members[i] for i in index.tolist()],
            iterations=list(self.iterations),
            curves={k: rows(v) for k, v in self.curves.items()},
            diverged_at=[self.diverged_at[i] for i in index.tolist()],
            seconds=self.seconds,
            states={k: rows(v) for k, v in self.states.items()},
            make_model=self.make_model,
            batch_error=rows(self.batch_error),
        )

    def first_below(self, name: str, threshold: float) -> torch.Tensor:
        """Per member, the first checkpoint iteration at which ``name`` <= threshold
        (``inf`` if never: not within the budget, or diverged)."""
        curve = self.curves[name]
        reached = curve <= threshold  # NaN compares False
        its = torch.tensor(self.iterations, dtype=torch.float64, device=curve.device)
        first = torch.where(reached, its, torch.full_like(its, math.inf)).amin(1)
        return first

    def final(self, name: str) -> torch.Tensor:
        """Per member, the last value of curve ``name``."""
        return self.curves[name][:, -1]


def concatenate(results: Sequence[SweepResult]) -> SweepResult:
    """Several sweeps of the same model and checkpoints as one result (their members in order),
    e.g. the seeds of a rate from a first sweep and more seeds at that rate from a second."""
    results = list(results)
    if not results:
        raise ValueError("nothing to concatenate")
    first = results[0]
    for r in results[1:]:
        if r.iterations != first.iterations or set(r.curves) != set(first.curves):
            raise ValueError("can only concatenate sweeps with the same checkpoints and curves")
    return SweepResult(
        members=[m for r in results for m in r.members],
        iterations=list(first.iterations),
        curves={k: torch.cat([r.curves[k] for r in results]) for k in first.curves},
        diverged_at=[d for r in results for d in r.diverged_at],
        seconds=sum(r.seconds for r in results),
        states={k: torch.cat([r.states[k] for r in results]) for k in first.states},
        make_model=first.make_model,
        batch_error=torch.cat([r.batch_error for r in results]),
    )


def _sgd_step(params, velocities, lrs, momentum, weight_decay):
    """SGD with momentum and (coupled) weight decay, one learning rate per member.

    Every tensor in ``params`` has the members along dimension 0, so ``lrs`` (M,) is
    broadcast over the rest. The same update as ``torch.optim.SGD``:
    ``v = momentum * v + (grad + weight_decay * p)``, then ``p -= lr * v``.
    """
    pairs = [(p, v) for p, v in zip(params, velocities, strict=True) if p.grad is not None]
    if not pairs:
        return
    params, velocities = [p for p, _ in pairs], [v for _, v in pairs]
    with torch.no_grad():
        grads = [p.grad for p in params]
        if weight_decay:
            torch._foreach_add_(grads, params, alpha=weight_decay)
        torch._foreach_mul_(velocities, momentum)
        torch._foreach_add_(velocities, grads)
        rates = [lrs.view(-1, *[1] * (p.dim() - 1)) for p in params]
        torch._foreach_sub_(params, torch._foreach_mul(velocities, rates))


def _warmup_cosine(step: int, total: int, warmup: float) -> float:
    """Learning-rate factor: linear warm-up over the first ``warmup`` fraction, then cosine to 0."""
    w = max(1, round(warmup * total))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


SCHEDULES = {
    "constant": lambda step, total, warmup: 1.0,
    "cosine": _warmup_cosine,
}


def fit(
    make_model: Callable[[], nn.Module],
    members: Sequence[Member],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    iterations: int,
    batch_size: int = 32,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup: float = 0.0,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    evaluate: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    evaluate_at_end: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    checkpoints: Sequence[int] | None = None,
    stop_when: tuple[str, float] | None = None,
    device=None,
    progress: bool = True,
    desc: str = "sweep",
    start: Sequence[nn.Module] | None = None,
) -> SweepResult:
    """Train one model per member, all at once, for a fixed number of iterations.

    Args:
        make_model: builds a fresh model (called once per member, after seeding with the
            member's seed, so that its initial weights are those of a run with that seed).
        members: the runs (see :func:`grid`).
        images, labels: the training set, (N, C, H, W) float and (N,) int64.
        iterations: SGD steps per member (a batch of ``batch_size`` images each).
        schedule: ``"constant"`` or ``"cosine"`` (linear warm-up over ``warmup`` of the
            iterations, then cosine decay to 0), applied to every member's learning rate.
        augment: ``augment(x, generator) -> x`` transforms a batch of images (each image its
            own random transform); applied to the members with ``augment=True``.
        evaluate: named data sets to evaluate at every checkpoint, in eval mode, e.g.
            ``{"train": (images, labels), "val": (val_images, val_labels)}``; each gives the
            curves ``<name>_loss`` and ``<name>_error``.
        evaluate_at_end: data sets to evaluate only after the last iteration (their "curves"
            have one point: read them with :meth:`SweepResult.final`).
        checkpoints: iterations after which to evaluate (default: every 10% of the budget).
        stop_when: ``("train_error", 0.05)`` ends the sweep early once every member that has
            not diverged has reached it (each member's curve after that is not needed).
        start: trained networks to train further, one per member (copied, not changed), in
            place of fresh ones from ``make_model``; they must all have the same layers.

    Returns:
        A :class:`SweepResult`.
    """
    members = list(members)
    if not members:
        raise ValueError("members is empty: give at least one Member")
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images (N, C, H, W) and labels (N,), got {tuple(images.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    if any(m.augment for m in members) and augment is None:
        raise ValueError("a member asks for augmentation but no augment function was given")
    checkpoints = sorted(
        set(checkpoints or [max(1, round(iterations * k / 10)) for k in range(1, 11)])
    )
    if checkpoints[0] < 1 or checkpoints[-1] > iterations:
        raise ValueError(f"checkpoints must lie in 1..{iterations}, got {checkpoints}")
    evaluate = evaluate or {}
    device = torch.device(device) if device is not None else images.device

    if start is not None:
        if len(start) != len(members):
            raise ValueError(f"start has {len(start)} networks for {len(members)} members")
        models = [copy.deepcopy(net).to(device) for net in start]
    else:
        models = []
        for m in members:
            seed_everything(m.seed)
            models.append(make_model().to(device))
    params, buffers = stack_module_state(models)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    buffers = {k: v.clone() for k, v in buffers.items()}
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p, b, x):
        return functional_call(base, (p, b), (x,))

    train_forward = vmap(forward, randomness="different")
    eval_forward = vmap(forward, in_dims=(0, 0, None))  # the same images for every member

    n_members, n = len(members), len(images)
    images, labels = images.to(device), labels.to(device)
    lrs = torch.tensor([m.lr for m in members], dtype=images.dtype, device=device)
    augmented = torch.tensor([m.augment for m in members], device=device)
    velocities = [torch.zeros_like(p) for p in params.values()]
    generators = [torch.Generator().manual_seed(m.seed) for m in members]
    aug_generators = [torch.Generator().manual_seed(10_007 + m.seed) for m in members]
    orders = [torch.empty(0, dtype=torch.long)] * n_members
    alive = torch.ones(n_members, dtype=torch.bool, device=device)
    diverged_at: list[int | None] = [None] * n_members
    result = SweepResult(
        members=members, iterations=[], diverged_at=diverged_at, make_model=make_model
    )
    values: dict[str, list[torch.Tensor]] = {}
    batch_errors: list[
        torch.Tensor
    ] = []  # (M,) per iteration: the error on the batch it trained on

    def next_indices():
        batch = []
        for i in range(n_members):
            if len(orders[i]) < batch_size:  # a new epoch: a new order, this member's own
                orders[i] = torch.cat([orders[i], torch.randperm(n, generator=generators[i])])
            batch.append(orders[i][:batch_size])
            orders[i] = orders[i][batch_size:]
        return torch.stack(batch).to(device)  # (M, B)

    @torch.no_grad()
    def measure(sets):
        base.eval()
        for name, (x_all, y_all) in sets.items():
            x_all, y_all = x_all.to(device), y_all.to(device)
            loss_sum = torch.zeros(n_members, dtype=torch.float64, device=device)
            wrong = torch.zeros(n_members, dtype=torch.float64, device=device)
            for start in range(0, len(x_all), 512):
                x, y = x_all[start : start + 512], y_all[start : start + 512]
                logits = eval_forward(params, buffers, x)  # (M, b, classes)
                flat = logits.flatten(0, 1)
                loss = F.cross_entropy(flat, y.repeat(n_members), reduction="none")
                loss_sum += loss.view(n_members, -1).double().sum(1)
                wrong += (logits.argmax(-1) != y).double().sum(1)
            loss = loss_sum / len(x_all)
            error = wrong / len(x_all)
            dead = ~alive | ~torch.isfinite(loss)
            values.setdefault(f"{name}_loss", []).append(torch.where(dead, math.nan, loss).cpu())
            values.setdefault(f"{name}_error", []).append(torch.where(dead, math.nan, error).cpu())
        base.train()

    start = time.perf_counter()
    bar = progress_bar(iterations, desc, unit="iteration", disable=not progress)
    factor = SCHEDULES[schedule]
    next_checkpoint = 0
    base.train()
    for step in range(iterations):
        idx = next_indices()
        x, y = images[idx], labels[idx]  # (M, B, C, H, W), (M, B)
        if augment is not None and augmented.any():
            x = x.clone()
            for i in augmented.nonzero().flatten().tolist():  # each member its own random stream
                x[i] = augment(x[i], aug_generators[i])
        logits = train_forward(params, buffers, x)  # (M, B, classes)
        losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        losses = losses.view(n_members, -1).mean(1)
        batch_errors.append((logits.detach().argmax(-1) != y).double().mean(1).cpu())
        finite = torch.isfinite(losses)
        for i in (alive & ~finite).nonzero().flatten().tolist():
            diverged_at[i] = step + 1
        alive &= finite
        total = torch.where(alive, losses, torch.zeros_like(losses)).sum()
        for p in params.values():
            p.grad = None
        total.backward()
        scale = factor(step, iterations, warmup)
        _sgd_step(params.values(), velocities, lrs * scale * alive, momentum, weight_decay)
        bar.update(1)
        if next_checkpoint < len(checkpoints) and step + 1 == checkpoints[next_checkpoint]:
            result.iterations.append(step + 1)
            measure(evaluate)
            next_checkpoint += 1
            if stop_when is not None:
                name, threshold = stop_when
                latest = values[name][-1]
                if bool(((latest <= threshold) | ~alive.cpu()).all()):
                    break
        if not alive.any():
            break
    bar.close()
    measure(evaluate_at_end or {})
    result.curves = {k: torch.stack(v, 1) for k, v in values.items()}
    result.batch_error = torch.stack(batch_errors, 1)
    for i, at in enumerate(diverged_at):
        if at is not None:
            result.batch_error[i, at - 1 :] = math.nan
    result.states = {k: v.detach() for k, v in {**params, **buffers}.items()}
    synchronize(device)  # the device's queued work belongs to the sweep's time
    result.seconds = time.perf_counter() - start
    return result
