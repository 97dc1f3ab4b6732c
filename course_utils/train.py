"""One small training loop for every notebook that trains a classifier or a dense predictor.

:func:`fit` trains for a fixed number of epochs (never a wall-clock budget, so results
repeat), shows a ``tqdm.auto`` progress bar (a widget in Jupyter, text elsewhere) and returns
a :class:`History` to plot with ``course_utils.viz.plot_history``. :func:`fit_detector` does the
same for a detector (torchvision's interface) over a fixed number of iterations; both run one
shared step loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .datasets.targets import plain
from .env import synchronize
from .history import History
from .progress import progress_bar

__all__ = ["History", "detect", "evaluate", "fit", "fit_detector", "predict"]


def _to(batch, device):
    x, y = batch
    return x.to(device), y.to(device)


@torch.no_grad()
def predict(model: nn.Module, loader, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the model over a loader of ``(input, target)``: returns (outputs, targets) on the CPU."""
    device = device or next(model.parameters()).device
    model.eval()
    outputs, targets = [], []
    for batch in loader:
        x, y = _to(batch, device)
        outputs.append(model(x).cpu())
        targets.append(y.cpu())
    return torch.cat(outputs), torch.cat(targets)


def evaluate(
    model: nn.Module,
    loader,
    loss_fn: Callable = F.cross_entropy,
    device=None,
    metrics: dict[str, Callable] | None = None,
) -> dict:
    """Mean loss and accuracy (argmax over dimension 1, per sample or per pixel) on a loader.

    ``metrics`` adds more: ``{name: fn(predicted labels, targets) -> float}``, for example
    ``{"mIoU": lambda p, t: mean_iou(p, t, C)}``; each result is returned under its name.
    """
    outputs, targets = predict(model, loader, device)
    loss = loss_fn(outputs, targets).item()
    labels = outputs.argmax(1)
    results = {"loss": loss, "accuracy": (labels == targets).float().mean().item()}
    for name, fn in (metrics or {}).items():
        results[name] = float(fn(labels, targets))
    return results


def fit(
    model: nn.Module,
    train_loader,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    loss_fn: Callable = F.cross_entropy,
    val_loader=None,
    scheduler=None,
    device=None,
    val_metrics: dict[str, Callable] | None = None,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    Args:
        model: any ``nn.Module`` mapping an input batch to logits.
        train_loader: yields ``(input, target)`` batches.
        optimizer: built on ``model.parameters()``.
        epochs: number of passes (fixed, so a run repeats exactly with the same seed).
        loss_fn: ``loss_fn(logits, target) -> scalar``; cross-entropy by default.
        val_loader: if given, validation loss and accuracy are logged after every epoch.
        scheduler: a learning-rate scheduler stepped after every batch (e.g. ``OneCycleLR``).
        device: where to train; defaults to the device of the model's parameters.
        val_metrics: more validation metrics, ``{name: fn(predicted labels, targets)}``
            (see :func:`evaluate`), logged as ``val_<name>``.
        progress: show a progress bar over the epochs, then print a one-line summary.

    Returns:
        A :class:`History` with ``train_loss``, ``train_accuracy`` (on the batches as seen
        during training) and, with a val_loader, ``val_loss``, ``val_accuracy`` and
        ``val_<name>`` for each of ``val_metrics``.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    device = device or next(model.parameters()).device
    history = History()

    def epoch(_, step) -> dict:
        model.train()
        total_loss, correct, seen, positions = 0.0, 0, 0, 0
        for batch in train_loader:
            x, y = _to(batch, device)
            logits = model(x)
            loss = loss_fn(logits, y)
            step(loss)
            total_loss += loss.item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.shape[0]
            positions += y.numel()  # samples, or pixels for label maps
        history.log(train_loss=total_loss / seen, train_accuracy=correct / positions)
        postfix = {"loss": f"{total_loss / seen:.3f}"}
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, device, val_metrics)
            history.log(**{f"val_{name}": value for name, value in val.items()})
            postfix["val_acc"] = f"{val['accuracy']:.3f}"
        return postfix

    def summary(history: History) -> str:
        return "last epoch: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in history.curves.items())

    return _train_loop(
        model,
        optimizer,
        history,
        epochs,
        epoch,
        scheduler=scheduler,
        clip_norm=None,
        device=device,
        progress=progress,
        desc=desc,
        summary=summary,
    )


def _train_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    history: History,
    rounds: int,
    play_round: Callable,
    *,
    scheduler,
    clip_norm: float | None,
    device,
    progress: bool,
    desc: str,
    summary: Callable[[History], str],
) -> History:
    """The loop that :func:`fit` and :func:`fit_detector` share.

    ``rounds`` rounds (epochs or iterations: ``history.unit``) under a progress bar and a clock.
    ``play_round(number, step)`` plays round ``number`` (from 1): it calls ``step(loss)`` on each
    batch's loss, logs into ``history`` and returns the bar's postfix (or ``None``). ``step``
    refuses a loss that is not finite, then takes one optimiser step: gradients zeroed,
    backpropagated, clipped to ``clip_norm`` (unless ``None``), applied; ``scheduler`` stepped.
    At the end: ``history.seconds``, and with ``progress`` the line
    ``"{desc}: {rounds} {unit}s in {seconds} s; {summary(history)}"``.
    """

    def step(loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()}: lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

    start = time.perf_counter()
    bar = progress_bar(rounds, desc, unit=history.unit, disable=not progress)
    for number in range(1, rounds + 1):
        postfix = play_round(number, step)
        if postfix:
            bar.set_postfix(postfix)
        bar.update(1)
    synchronize(device)  # CUDA runs asynchronously: wait for it before reading the clock
    bar.close()
    history.seconds = time.perf_counter() - start
    if progress:  # a plain line too: a saved notebook shows a progress widget only as text
        print(f"{desc}: {rounds} {history.unit}s in {history.seconds:.1f} s; {summary(history)}")
    return history


# "proposals": an image's own region proposals, for R-CNN trained on selective search (06)
_TARGET_KEYS = ("boxes", "labels", "masks", "keypoints", "proposals")


def _detection_batch(images, targets, device):
    images = [plain(i).to(device) for i in images]
    targets = [{k: plain(t[k]).to(device) for k in _TARGET_KEYS if k in t} for t in targets]
    return images, targets


def _cycle(loader):
    """The loader's batches, pass after pass, for as long as they are asked for."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("train_loader yields no batches")


def fit_detector(
    model: nn.Module,
    train_loader,
    optimizer: torch.optim.Optimizer,
    *,
    iterations: int,
    scheduler=None,
    clip_norm: float | None = 10.0,
    device=None,
    log_every: int = 50,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train a detector (torchvision's interface) for a fixed number of iterations.

    ``model(images, targets)`` must return a dict of losses in training mode; their sum is
    minimised. ``train_loader`` yields ``(list of images, list of targets)`` (use
    ``datasets.detection_collate``) and is cycled through as often as needed. Gradients are
    clipped to ``clip_norm`` (detectors' early losses spike); ``scheduler`` steps every iteration.

    Returns:
        A :class:`History` with ``loss`` and each loss term, averaged over every ``log_every``
        iterations (``history.epochs`` counts those windows).
    """
    if not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int, got {iterations!r}")
    device = device or next(model.parameters()).device
    history = History(unit="iteration", step=log_every)
    batches = _cycle(train_loader)
    window: dict[str, float] = {}  # loss sums since the last logged point

    def iteration(done: int, step) -> dict | None:
        images, targets = _detection_batch(*next(batches), device)
        losses = model(images, targets)
        loss = sum(losses.values())
        step(loss)
        for key, value in {"loss": loss, **losses}.items():
            window[key] = window.get(key, 0.0) + float(value.detach())
        if done % log_every == 0 or done == iterations:
            count = done % log_every or log_every
            history.log(**{k: v / count for k, v in window.items()})
            postfix = {"loss": f"{window['loss'] / count:.3f}"}
            window.clear()
            return postfix
        return None

    def summary(history: History) -> str:
        return f"loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.3f}"

    model.train()
    return _train_loop(
        model,
        optimizer,
        history,
        iterations,
        iteration,
        scheduler=scheduler,
        clip_norm=clip_norm,
        device=device,
        progress=progress,
        desc=desc,
        summary=summary,
    )


@torch.no_grad()
def detect(model: nn.Module, images, batch_size: int = 25, device=None) -> list[dict]:
    """Run a detector in eval mode on a list of images; one dict of tensors (CPU) per image."""
    device = device or next(model.parameters()).device
    model.eval()
    results = []
    for i in range(0, len(images), batch_size):
        batch = [plain(x).to(device) for x in images[i : i + batch_size]]
        results += [{k: v.cpu() for k, v in out.items()} for out in model(batch)]
    return results
