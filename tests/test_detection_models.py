"""Region proposals, box coding, post-processing and the detectors of notebook 06."""

import pytest
import torch
import torchvision.ops as tvo
from torchvision.models.detection._utils import BoxCoder

from course_utils import models, ops, regions, train, viz
from course_utils.datasets import ShapesScenes, detection_collate


def test_sliding_windows_cover_the_image_with_the_asked_shapes():
    windows = regions.sliding_window_proposals(64, sizes=(16,), aspect_ratios=(1.0, 4.0), stride=8)
    w, h = windows[:, 2] - windows[:, 0], windows[:, 3] - windows[:, 1]
    assert torch.allclose(w[:49], torch.full((49,), 16.0)) and len(windows) == 49 + 8 * 5
    assert torch.allclose((h / w)[49:], torch.full((40,), 4.0))  # 8 x 32: 8 columns, 5 rows
    assert windows.min() >= 0 and windows.max() <= 64
    with pytest.raises(ValueError, match="stride"):
        regions.sliding_window_proposals(64, stride=0)


def test_box_coding_matches_torchvision_and_inverts():
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(20, 2, generator=g) * 50
    ref = torch.cat([ref, ref + torch.rand(20, 2, generator=g) * 20 + 1], 1)
    boxes = torch.rand(20, 2, generator=g) * 50
    boxes = torch.cat([boxes, boxes + torch.rand(20, 2, generator=g) * 20 + 1], 1)
    deltas = regions.encode_boxes(ref, boxes)
    coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
    torch.testing.assert_close(deltas, coder.encode_single(boxes, ref))
    torch.testing.assert_close(regions.decode_boxes(ref, deltas), boxes, atol=1e-4, rtol=1e-5)


def test_label_proposals_foreground_background_and_ignored():
    proposals = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 6], [0, 0, 10, 3], [20, 20, 30, 30]])
    labels, matched = regions.label_proposals(
        proposals, torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([2]), 0.5, 0.4
    )
    assert labels.tolist() == [2, 2, 0, 0] and matched[0] == 0  # IoU 1, 0.6, 0.3, 0
    labels, _ = regions.label_proposals(
        proposals, torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([2]), 0.7, 0.2
    )
    assert labels.tolist() == [2, -1, -1, 0]  # 0.6 and 0.3 lie between 0.2 and 0.7: ignored
    labels, _ = regions.label_proposals(
        proposals, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)
    )
    assert labels.tolist() == [0, 0, 0, 0]


def test_postprocess_is_per_class_nms_on_refined_boxes():
    proposals = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [40, 40, 50, 50]])
    logits = torch.tensor([[0.0, 5, 0], [0.0, 4, 4.5], [5.0, 0, 0]])  # 2 classes
    out = regions.postprocess(proposals, logits, torch.zeros(3, 8), 64, score_threshold=0.1)
    # class 1: proposals 0 and 1 overlap (IoU 0.82): only 0 stays; class 2: proposal 1 alone
    pairs = sorted(zip(out["labels"].tolist(), out["boxes"][:, 0].tolist(), strict=True))
    assert pairs == [(1, 0.0), (2, 1.0)]
    assert (out["scores"][:-1] >= out["scores"][1:]).all()


def test_backbone_shapes_and_bad_arguments():
    bb = models.Backbone((8, 8, 16), (2, 1, 2))
    assert (
        bb(torch.zeros(2, 3, 32, 32)).shape == (2, 16, 8, 8)
        and bb.stride == 4
        and bb.out_channels == 16
    )
    with pytest.raises(ValueError, match="one stride per width"):
        models.Backbone((8, 8), (2,))


def test_roi_align_pooler_equals_torchvision_multiscale_pooler():
    features = {"0": torch.randn(2, 4, 16, 16)}
    boxes = [torch.tensor([[3.0, 5, 40, 30], [0, 0, 64, 64]]), torch.tensor([[10.0, 12, 20, 50]])]
    ours = models.RoIAlignPooler(7, 2, stride=4)(features, boxes, [(64, 64), (64, 64)])
    theirs = tvo.MultiScaleRoIAlign(["0"], 7, 2)(features, boxes, [(64, 64), (64, 64)])
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("build", [models.RCNN, models.FastRCNN])
def test_region_detectors_train_and_detect(build):
    torch.manual_seed(0)
    data = ShapesScenes(8, seed=3)
    model = build(3, regions.sliding_window_proposals(64))
    loader = torch.utils.data.DataLoader(list(data), batch_size=4, collate_fn=detection_collate)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history = train.fit_detector(
        model, loader, optimizer, iterations=3, log_every=2, progress=False
    )
    assert set(history.keys()) == {"loss", "loss_classifier", "loss_box_reg"}
    assert len(history["loss"]) == 2  # iterations 1-2 and 3
    out = train.detect(model, [data[0][0], data[1][0]])
    assert len(out) == 2 and set(out[0]) == {"boxes", "scores", "labels"}
    assert out[0]["boxes"].shape[1] == 4 and len(out[0]["boxes"]) <= 20


def test_faster_rcnn_factory_trains_one_step_and_detects():
    torch.manual_seed(0)
    data = ShapesScenes(4, seed=3)
    model = models.faster_rcnn(3, models.Backbone((8, 8), (2, 2)))
    loader = torch.utils.data.DataLoader(list(data), batch_size=2, collate_fn=detection_collate)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    history = train.fit_detector(model, loader, optimizer, iterations=2, progress=False)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(
        history.keys()
    )
    out = train.detect(model, [data[0][0]])
    assert set(out[0]) == {"boxes", "scores", "labels"}
    with pytest.raises(ValueError, match="iterations"):
        train.fit_detector(model, loader, optimizer, iterations=0)


def test_mask_rcnn_factory_trains_one_step_and_detects_masks():
    torch.manual_seed(0)
    data = ShapesScenes(4, seed=3)
    model = models.mask_rcnn(3, models.Backbone((8, 8), (2, 2)), mask_layers=(8,))
    loader = torch.utils.data.DataLoader(list(data), batch_size=2, collate_fn=detection_collate)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    history = train.fit_detector(model, loader, optimizer, iterations=1, progress=False)
    assert "loss_mask" in history.keys()
    head = model.roi_heads
    assert head.mask_predictor.mask_fcn_logits.out_channels == 4  # background + 3 classes
    assert head.mask_roi_pool.output_size == (7, 7)  # masks of 14 x 14 per RoI
    out = train.detect(model, [data[0][0]])
    assert set(out[0]) == {"boxes", "scores", "labels", "masks"}
    assert out[0]["masks"].shape[1:] == (1, 64, 64)
    with pytest.raises(ValueError, match="num_classes"):
        models.mask_rcnn(0)
    with pytest.raises(ValueError, match="mask_layers"):
        models.mask_rcnn(3, mask_layers=())


def test_roi_sampling_figure_shows_where_torchvision_reads():
    """The figure's RoIPool bins give torchvision's roi_pool; its RoIAlign points, roi_align.

    Read from what the figure draws: on the left a filled rectangle per bin, in cells
    (cell i spans [i, i + 1)); on the right the sampling points, row by row."""
    import matplotlib.pyplot as plt

    from course_utils import ops, viz

    g = torch.Generator().manual_seed(0)
    feature = torch.randn(9, 11, generator=g)
    for box, bins, grid, aligned in [
        ((1.3, 2.6, 6.1, 5.4), 2, 2, True),
        ((0.4, 0.2, 9.7, 8.8), 3, 1, False),
        ((4.2, 3.3, 4.6, 3.5), 2, 3, False),  # smaller than a cell
        ((2.5, 0.5, 7.5, 6.5), 3, 2, True),  # halves: torchvision rounds them away from zero
    ]:
        rois = torch.tensor([[0.0, *box]])
        pooled = tvo.roi_pool(feature[None, None], rois, bins)[0, 0]
        fig = viz.draw_roi_sampling(box, bins, grid, aligned, feature)
        pool_ax, align_ax = fig.axes
        fills = pool_ax.patches[1::2]  # after the box: each bin's fill, then its outline
        assert len(fills) == bins * bins
        cells = [[round(v) for v in (*p.get_xy(), p.get_width(), p.get_height())] for p in fills]
        ours = torch.tensor([feature[r0 : r0 + h, c0 : c0 + w].max() for c0, r0, w, h in cells])
        torch.testing.assert_close(ours.view(bins, bins), pooled)
        points = torch.tensor(align_ax.collections[0].get_offsets().data)  # (x, y) per point
        xx, yy = (points[:, k].view(bins * grid, bins * grid) - 0.5 for k in (0, 1))
        reads = ops.bilinear_interpolate(feature[None].double(), yy, xx)[0]
        means = reads.view(bins, grid, bins, grid).mean((1, 3)).float()
        torch.testing.assert_close(
            means, tvo.roi_align(feature[None, None], rois, bins, 1.0, grid, aligned)[0, 0]
        )
        plt.close(fig)
    with pytest.raises(ValueError, match="sampling_ratio"):
        viz.draw_roi_sampling((1, 1, 2, 2), 2, 0)


def test_anchors_at_equals_torchvision_anchor_generator():
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    from course_utils import viz

    generator = AnchorGenerator(((8, 16, 32),), ((0.5, 1.0, 2.0),))
    anchors = generator(
        ImageList(torch.zeros(1, 3, 64, 64), [(64, 64)]), [torch.zeros(1, 1, 16, 16)]
    )[0]
    ours = viz.anchors_at((8, 16, 32), (0.5, 1.0, 2.0), centre=(4.0, 0.0))  # second cell of row 0
    assert torch.equal(ours.round(), anchors[9:18])


def test_explorers_build_their_widgets():
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    from course_utils import widgets

    image = torch.rand(3, 64, 64)
    boxes = torch.tensor([[1.0, 1, 20, 20], [2, 2, 21, 21], [30, 30, 50, 60]])
    assert widgets.nms_explorer(image, boxes, torch.tensor([0.9, 0.8, 0.7])) is not None
    assert widgets.anchor_explorer(image, stride=4) is not None
    assert widgets.roi_align_explorer(torch.rand(6, 9)) is not None
    assert widgets.iou_explorer() is not None


def test_an_explorer_shows_a_placeholder_where_no_kernel_runs(monkeypatch):
    pytest.importorskip("ipywidgets")
    import IPython.display

    from course_utils import widgets

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    slider = widgets.iou_explorer()
    (bundle,) = shown
    assert bundle["text/plain"] == widgets.PLACEHOLDER
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == slider.model_id


@pytest.mark.parametrize(
    "box_b", [(24, 22, 52, 50), (12, 14, 40, 42), (50, 50, 60, 60), (20, 20, 30, 30), (5, 5, 5, 9)]
)
def test_draw_iou_titles_the_iou_that_box_iou_computes(box_b):
    import matplotlib

    matplotlib.use("Agg")
    box_a = (12, 14, 40, 42)
    fig = viz.draw_iou(box_a, box_b)
    a, b = torch.tensor([box_a], dtype=torch.float32), torch.tensor([box_b], dtype=torch.float32)
    iou = float(ops.box_iou(a, b).nan_to_num())
    assert fig.axes[0].get_title().endswith(f"= {iou:.2f}")
    with pytest.raises(ValueError, match=r"box_b must be \(x1, y1, x2, y2\)"):
        viz.draw_iou(box_a, (10, 10, 5, 20))
    with pytest.raises(ValueError, match=r"box_a must be \(x1, y1, x2, y2\)"):
        viz.draw_iou((1, 2, 3), box_b)


def test_region_detectors_sample_a_targets_own_proposals():
    """A target's "proposals" (one image's own boxes) replace the fixed ones in training."""
    torch.manual_seed(0)
    image, target = ShapesScenes(1, seed=3)[0]
    gt = target["boxes"].as_subclass(torch.Tensor)
    own = torch.cat([gt, gt + 0.5, torch.tensor([[0.0, 0, 3, 3]])])  # objects and one background
    model = models.FastRCNN(3, regions.sliding_window_proposals(64))
    boxes, labels, _ = model._sample({"boxes": gt, "labels": target["labels"], "proposals": own})
    assert all(b.tolist() in own.tolist() for b in boxes)
    assert (labels > 0).sum() >= 1 and (labels == 0).sum() == 1
    images, targets = train._detection_batch(
        [image], [{**target, "proposals": own}], torch.device("cpu")
    )
    assert torch.equal(targets[0]["proposals"], own)
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg"}
