"""The explorers draw what course_utils.ops and course_utils.regions compute."""

import pytest
import torch

from course_utils import ops, regions, viz

pytest.importorskip("ipywidgets")


@pytest.fixture(autouse=True)
def agg_backend():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    yield
    plt.close("all")


def test_anchor_explorer_draws_the_regions_anchors(monkeypatch):
    from course_utils import widgets

    drawn = []
    monkeypatch.setattr(viz, "draw_anchors", lambda image, anchors, **kw: drawn.append(anchors))
    widgets.anchor_explorer(torch.rand(3, 64, 64), stride=4)  # first figure: the defaults
    (anchors,) = drawn  # cell (8, 8), sizes 8, 16, 32, aspect ratios 1/2, 1, 2
    assert torch.equal(anchors, regions.anchor_boxes((8, 16, 32), (0.5, 1.0, 2.0), (32, 32)))


def test_nms_explorer_draws_the_boxes_nms_keeps(monkeypatch):
    from course_utils import widgets

    drawn = []
    monkeypatch.setattr(viz, "draw_detections", lambda image, boxes, *a, **kw: drawn.append(boxes))
    boxes = torch.tensor([[1.0, 1, 20, 20], [2, 2, 21, 21], [30, 30, 50, 60], [3, 1, 22, 20]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    widgets.nms_explorer(torch.rand(3, 64, 64), boxes, scores)  # threshold 0.5
    (kept,) = drawn
    assert torch.equal(kept, boxes[ops.nms(boxes, scores, 0.5)]) and len(kept) == 2
