"""Faster R-CNN's anchors (``regions.anchor_boxes``) against torchvision's ``AnchorGenerator``."""

import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from course_utils import regions, viz


@pytest.mark.parametrize(
    ("sizes", "aspect_ratios", "image", "cells"),
    [((8, 16, 32), (0.5, 1.0, 2.0), 64, 16), ((12, 20), (0.25, 1.0, 3.0, 4.0), 48, 6)],
)
def test_anchor_boxes_give_torchvision_anchors_on_a_whole_feature_map(
    sizes, aspect_ratios, image, cells
):
    generator = AnchorGenerator((sizes,), (aspect_ratios,))
    expected = generator(
        ImageList(torch.zeros(1, 3, image, image), [(image, image)]),
        [torch.zeros(1, 1, cells, cells)],
    )[0]
    stride = image // cells
    per_position = len(sizes) * len(aspect_ratios)
    ours = torch.cat(  # torchvision's order: row by row, every anchor of a position together
        [
            regions.anchor_boxes(sizes, aspect_ratios, (x * stride, y * stride))
            for y in range(cells)
            for x in range(cells)
        ]
    )
    assert ours.dtype == torch.float32 and ours.shape == (cells * cells * per_position, 4)
    assert torch.equal(ours.round(), expected)  # torchvision rounds its anchors, we do not
    base = regions.anchor_boxes(sizes, aspect_ratios)  # at (0, 0), as torchvision builds them
    assert torch.equal(generator.generate_anchors(sizes, aspect_ratios), base.round())


def test_anchor_boxes_have_the_asked_areas_and_aspect_ratios():
    boxes = regions.anchor_boxes((10, 30), (0.5, 2.0), centre=(5.0, 7.0))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    torch.testing.assert_close(w * h, torch.tensor([100.0, 900, 100, 900]))
    torch.testing.assert_close(h / w, torch.tensor([0.5, 0.5, 2.0, 2.0]))
    torch.testing.assert_close((boxes[:, :2] + boxes[:, 2:]) / 2, torch.tensor([[5.0, 7]] * 4))
    for sizes, ratios in [((), (1.0,)), ((8,), ()), ((0,), (1.0,)), ((8,), (-1.0,))]:
        with pytest.raises(ValueError, match="non-empty and positive"):
            regions.anchor_boxes(sizes, ratios)


def test_sliding_windows_and_anchors_share_their_shapes():
    windows = regions.sliding_window_proposals(200, (14, 20), (0.5, 2.0), stride=200)
    anchors = regions.anchor_boxes((14, 20), (0.5, 2.0))  # aspect ratio first, then size
    window_shapes, anchor_shapes = (b[:, 2:] - b[:, :2] for b in (windows, anchors))
    assert torch.equal(window_shapes, anchor_shapes[[0, 2, 1, 3]])  # windows: size first


def test_viz_anchors_at_is_the_regions_function():
    assert viz.anchors_at is regions.anchor_boxes  # notebook 06 calls it by that name
