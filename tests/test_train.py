import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import env, train


def blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) * 0.5 + (2 * y[:, None] - 1)
    return TensorDataset(x, y)


def run(epochs=5, progress=False):
    env.seed_everything(0)
    model = nn.Linear(2, 2)
    loader = DataLoader(blobs(), batch_size=32, shuffle=True)
    val = DataLoader(blobs(seed=1), batch_size=64)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = train.fit(model, loader, opt, epochs=epochs, val_loader=val, progress=progress)
    return model, history, val


def test_fit_learns_and_records_history():
    model, history, val = run()
    assert history.epochs == 5 and set(history.keys()) == {
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
    }
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.95
    assert train.evaluate(model, val)["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    assert history.seconds > 0


def test_fit_repeats_with_the_same_seed():
    assert run()[1].curves == run()[1].curves


def test_fit_prints_a_summary_with_progress(capsys):
    run(epochs=1, progress=True)
    assert "training: 1 epochs in" in capsys.readouterr().out


def test_predict_returns_outputs_and_targets():
    model, _, val = run(epochs=1)
    outputs, targets = train.predict(model, val)
    assert outputs.shape == (256, 2) and targets.shape == (256,)


def test_per_pixel_accuracy_for_label_maps():
    x = torch.randn(4, 3, 5, 5)
    y = torch.randint(0, 2, (4, 5, 5))
    model = nn.Conv2d(3, 2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = train.fit(
        model, DataLoader(TensorDataset(x, y), batch_size=2), opt, epochs=1, progress=False
    )
    assert 0.0 <= history["train_accuracy"][0] <= 1.0


def test_bad_epochs_and_diverging_loss():
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(blobs(), batch_size=32)
    with pytest.raises(ValueError, match="epochs"):
        train.fit(model, loader, opt, epochs=0)

    def diverged(logits, target):
        return logits.sum() * float("inf")

    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train.fit(model, loader, opt, epochs=3, loss_fn=diverged, progress=False)


def test_progress_bar_outside_a_notebook_is_plain_tqdm(capsys):
    from course_utils.progress import progress_bar

    bar = progress_bar(3, "demo", unit="epoch")
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert "3/3" in capsys.readouterr().err


def test_a_notebook_bar_saves_its_final_state_as_text():
    """In Jupyter the saved text of the widget is updated when the bar closes (not '0%')."""
    from course_utils import progress

    class Handle:
        def update(self, bundle, raw):
            self.bundle, self.raw = bundle, raw

    class Bar:  # the parts of tqdm.notebook's bar that _NotebookBar uses
        n, total, desc = 0, 12, "GAPNet"
        container = type("Container", (), {"model_id": "abc"})()

        def update(self, n):
            self.n += n

        def close(self):
            pass

    handle = Handle()
    bar = progress._NotebookBar(Bar(), handle, "epoch")
    for _ in range(12):
        bar.update(1)
    bar.close()
    assert handle.raw and handle.bundle["text/plain"].startswith("GAPNet: 100% 12/12 epochs in ")
    assert handle.bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == "abc"


# ---------------------------------------------------------------- fit_detector (toy detector)


class ToyDetector(nn.Module):
    """torchvision's training interface: a dict of losses that depend on the batch."""

    def __init__(self, loss=None):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))
        self.loss, self.seen = loss, []

    def forward(self, images, targets):
        assert all(type(i) is torch.Tensor for i in images)  # tv_tensors stripped
        assert all(type(v) is torch.Tensor for t in targets for v in t.values())
        assert all(set(t) == {"boxes", "labels"} for t in targets)  # other entries dropped
        objects = sum(len(t["boxes"]) for t in targets)
        self.seen.append(objects)
        if self.loss is not None:
            return {"loss_a": self.w * self.loss}
        return {"loss_a": self.w * objects, "loss_b": self.w.abs()}


def toy_batches():
    from torchvision import tv_tensors

    def batch(objects):
        boxes = tv_tensors.BoundingBoxes(
            torch.tensor([[0.0, 0.0, 4.0, 4.0]] * objects), format="XYXY", canvas_size=(8, 8)
        )
        target = {"boxes": boxes, "labels": torch.ones(objects, dtype=torch.int64), "image_id": 0}
        return [tv_tensors.Image(torch.rand(3, 8, 8))], [target]

    return [batch(1), batch(3)]


def test_fit_detector_cycles_the_loader_and_averages_windows(capsys):
    model = ToyDetector()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # losses stay as the batch says
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 100)
    history = train.fit_detector(
        model, toy_batches(), optimizer, iterations=5, log_every=2, scheduler=scheduler, desc="toy"
    )
    assert model.seen == [1, 3, 1, 3, 1]  # the two batches, pass after pass
    assert history.unit == "iteration" and history.step == 2 and history.epochs == 3
    assert history.curves == {  # windows of iterations 1-2, 3-4 and 5
        "loss": [3.0, 3.0, 2.0],
        "loss_a": [2.0, 2.0, 1.0],
        "loss_b": [1.0, 1.0, 1.0],
    }
    assert scheduler.last_epoch == 5  # stepped every iteration
    out = capsys.readouterr().out
    assert out.startswith("toy: 5 iterations in ") and out.endswith("s; loss 3.000 -> 2.000\n")


def test_fit_detector_clips_and_refuses_bad_input():
    model = ToyDetector()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batches = toy_batches()
    train.fit_detector(model, batches, optimizer, iterations=1, clip_norm=1e-3, progress=False)
    assert model.w.item() == pytest.approx(1.0 - 1e-3)  # gradient 2, clipped to 0.001
    with pytest.raises(ValueError, match="no batches"):  # not an endless loop
        train.fit_detector(model, [], optimizer, iterations=2, progress=False)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train.fit_detector(
            ToyDetector(loss=float("nan")), batches, optimizer, iterations=2, progress=False
        )


def test_fit_steps_the_scheduler_every_batch():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 100)
    loader = DataLoader(blobs(64), batch_size=16)  # 4 batches
    train.fit(model, loader, optimizer, epochs=2, scheduler=scheduler, progress=False)
    assert scheduler.last_epoch == 8
