import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils import datasets, train, viz


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_to_numpy_image_layouts():
    assert viz.to_numpy_image(torch.rand(3, 5, 7)).shape == (5, 7, 3)
    assert viz.to_numpy_image(torch.rand(1, 5, 7)).shape == (5, 7)
    assert viz.to_numpy_image(np.zeros((5, 7, 3))).shape == (5, 7, 3)
    assert viz.to_numpy_image(torch.full((3, 2, 2), 255, dtype=torch.uint8)).max() == 1.0
    with pytest.raises(ValueError, match="expected a tensor"):
        viz.to_numpy_image(torch.rand(2, 3, 4, 5))


def test_show_images_grid():
    fig = viz.show_images(torch.rand(10, 1, 8, 8), titles=[str(i) for i in range(10)], ncols=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 12
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(torch.rand(2, 1, 8, 8), titles=["a"])
    with pytest.raises(ValueError, match="no images"):
        viz.show_images([])


def test_detections_and_label_maps_draw():
    ds = datasets.ShapesScenes(1)
    image, t = ds[0]
    fig = viz.draw_detections(
        image,
        t["boxes"],
        t["labels"],
        t["masks"],
        class_names=ds.class_names,
        scores=torch.ones(len(t["labels"])),
    )
    assert len(fig.axes[0].patches) == len(t["labels"])
    fig = viz.show_label_map(t["semantic"], ds.class_names)
    assert fig.axes[0].get_legend() is not None
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        viz.show_label_map(torch.tensor([[0, 2], [1, 1]]), ["background", "circle"])
    with pytest.raises(ValueError, match="image must be"):
        viz.draw_detections(torch.rand(1, 8, 8))


def test_history_and_confusion_plots():
    h = train.History()
    for i in range(3):
        h.log(train_loss=1 / (i + 1), val_accuracy=0.5 + i / 10)
    fig = viz.plot_history(h)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="history has no"):
        viz.plot_history(h, keys=["nope"])
    fig = viz.plot_confusion_matrix(torch.tensor([[5, 1], [0, 4]]), ["a", "b"], normalize=True)
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(torch.zeros(2, 3))


def test_plot_runs_draws_the_mean_and_the_range_and_skips_nan():
    fig, ax = plt.subplots()
    runs = torch.tensor([[1.0, 2.0, 3.0], [3.0, float("nan"), 5.0]])
    line = viz.plot_runs(ax, [1, 2, 3], runs, "runs")
    np.testing.assert_allclose(line.get_ydata(), [2.0, 2.0, 4.0])  # NaN left out of the mean
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == 1.0 and ys.max() == 5.0
    with pytest.raises(ValueError, match="runs must be"):
        viz.plot_runs(ax, [1, 2], runs, "bad")


def test_diagrams_write_the_layer_sizes_they_are_given():
    from course_utils import diagrams

    for fig, expected in [
        (
            diagrams.draw_inception(192, 64, 96, 128, 16, 32, 32),
            ["1x1 conv, 96", "5x5 conv, 32", "256 channels"],
        ),
        (
            diagrams.draw_inception(192, 64, 96, 128, 16, 32, 32, reduce=False),
            ["416 channels", "3x3 max-pool"],
        ),
        (
            diagrams.draw_residual_block("bottleneck", 64, stride=2, projection=True),
            ["1x1 conv, 256", "/2"],
        ),
        (diagrams.draw_residual_block("basic", 32), ["3x3 conv, 32", "identity"]),
        (diagrams.draw_resnet_stage(3, 128), ["block 3", "projection", "identity"]),
    ]:
        assert isinstance(fig, Figure)
        texts = " | ".join(t.get_text() for ax in fig.axes for t in ax.texts)
        for piece in expected:
            assert piece in texts, (piece, texts)
    with pytest.raises(ValueError, match="kind must be"):
        diagrams.draw_residual_block("wide")
    with pytest.raises(ValueError, match="at least one block"):
        diagrams.draw_resnet_stage(0)


def test_plot_history_labels_accuracy_as_accuracy():
    history = train.History()
    history.log(train_loss=1.0, train_accuracy=0.5, val_accuracy=0.4)
    fig = viz.plot_history(history)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]


def test_log_axis_labels_plain_numbers():
    fig, ax = plt.subplots()
    ax.plot([20, 300], [1, 2])
    viz.log_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ax.get_xscale() == "log" and "50" in labels and "100" in labels and "200" in labels
    assert all(t.get_text() == "" for t in ax.xaxis.get_minorticklabels())
    with pytest.raises(ValueError, match="axis must be"):
        viz.log_axis(ax, "z")
    plt.close(fig)


def test_detection_labels_do_not_overlap_and_captions_come_first():
    boxes = torch.tensor([[10.0, 10, 40, 40], [11.0, 11, 41, 41], [12.0, 10, 42, 40]])
    fig, ax = plt.subplots(figsize=(3, 3))
    viz.draw_detections(
        torch.rand(3, 64, 64),
        boxes,
        torch.tensor([1, 2, 1]),
        scores=torch.tensor([0.9, 0.8, 0.7]),
        class_names=("background", "circle", "square"),
        captions=["TP", "FP duplicate", "FP"],
        ax=ax,
    )
    texts = ax.texts
    assert [t.get_text() for t in texts] == [
        "TP circle 0.90",
        "FP duplicate square 0.80",
        "FP circle 0.70",
    ]
    renderer = fig.canvas.get_renderer()
    extents = [t.get_window_extent(renderer) for t in texts]
    for i in range(3):
        for j in range(i):
            assert not extents[i].overlaps(extents[j])
    with pytest.raises(ValueError, match="captions"):
        viz.draw_detections(torch.rand(3, 8, 8), boxes, captions=["TP"])
    plt.close("all")


def test_draw_anchors_adds_boxes_of_one_colour_to_a_drawn_image():
    fig, ax = plt.subplots()
    image = torch.rand(3, 16, 16)
    viz.draw_anchors(image, torch.tensor([[1.0, 1, 5, 5]]), ax=ax)
    viz.draw_anchors(image, torch.tensor([[2.0, 2, 6, 6], [3.0, 3, 9, 9]]), ax=ax, colour="red")
    assert len(ax.images) == 1 and len(ax.patches) == 3
    assert ax.patches[1].get_edgecolor() == ax.patches[2].get_edgecolor()
    plt.close("all")


def test_plot_history_takes_a_history_or_a_dict_of_curves_and_nothing_else():
    from course_utils import history

    assert train.History is history.History  # one class, wherever it is imported from
    h = train.History(unit="iteration", step=20)
    h.log(loss=1.0)
    h.log(loss=0.5)
    (ax,) = viz.plot_history(h).axes
    assert ax.get_xlabel() == "iteration" and list(ax.lines[0].get_xdata()) == [20, 40]
    (ax,) = viz.plot_history({"GAP train_loss": [1.0, 0.5]}).axes  # notebook 02 merges two runs
    assert ax.get_xlabel() == "epoch" and list(ax.lines[0].get_xdata()) == [1, 2]

    class LooksLikeOne:
        curves = {"loss": [1.0]}

    for wrong in (LooksLikeOne(), [("loss", [1.0])], None):
        with pytest.raises(TypeError, match="history must be a course_utils.train.History"):
            viz.plot_history(wrong)


def test_draw_iou_writes_what_box_iou_computes():
    from course_utils import ops

    a, b = (12.0, 14, 40, 42), (24.0, 22, 52, 50)
    iou = float(ops.box_iou(torch.tensor([a]), torch.tensor([b])))
    fig = viz.draw_iou(a, b)
    assert fig.axes[0].get_title() == f"IoU = 320 / 1248 = {iou:.2f}" == "IoU = 320 / 1248 = 0.26"
    filled = fig.axes[0].patches[0]  # the intersection
    assert (*filled.get_xy(), filled.get_width(), filled.get_height()) == (24, 22, 16, 20)
    assert viz.draw_iou((0, 0, 10, 10), (20, 20, 30, 30)).axes[0].get_title().endswith("= 0.00")
    assert viz.draw_iou((5, 5, 5, 5), (5, 5, 5, 5)).axes[0].get_title() == "IoU = 0 / 0 = 0.00"
    with pytest.raises(ValueError, match="box_b must be"):
        viz.draw_iou(a, (3, 3, 1, 1))


def test_viz_all_lists_every_name_the_notebooks_call():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    called = set()
    for path in [*root.glob("notebooks/*.ipynb"), *root.glob("exercises/*.ipynb")]:
        called |= set(re.findall(r"\bviz\.([A-Za-z_]\w*)", path.read_text()))
    for path in (root / "course_utils").rglob("*.py"):
        if path.name != "viz.py":
            called |= set(re.findall(r"\bviz\.([A-Za-z_]\w*)", path.read_text()))
    assert called, "no viz.<name> found in the notebooks"
    assert called <= set(viz.__all__), sorted(called - set(viz.__all__))
    assert viz.__all__ == sorted(viz.__all__)
    assert not [name for name in viz.__all__ if name.startswith("_")]
    assert all(callable(getattr(viz, name)) for name in viz.__all__)
