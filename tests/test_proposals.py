"""Selective search: what the algorithm guarantees, and agreement with OpenCV's implementation."""

import numpy as np
import pytest
import torch

from course_utils import datasets, ops
from course_utils.proposals import _hierarchy, _texture, selective_search


def two_squares(size=40):
    """A grey background with a red and a blue square (exact boxes known)."""
    image = torch.full((3, size, size), 0.5)
    image[:, 5:15, 4:16] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    image[:, 22:36, 20:30] = torch.tensor([0.1, 0.1, 0.9])[:, None, None]
    return image, torch.tensor([[4.0, 5, 16, 15], [20.0, 22, 30, 36]])


def test_flat_objects_are_proposed_exactly():
    image, truth = two_squares()
    boxes = selective_search(image, scales=(20,), colour_spaces=("rgb",))
    assert boxes.dtype == torch.float32 and boxes.shape[1] == 4
    assert torch.equal(ops.box_iou(truth, boxes).max(1).values, torch.ones(2))
    assert [0.0, 0.0, 40.0, 40.0] in boxes.tolist()  # the top of the hierarchy: the whole image


def test_boxes_inside_the_image_unique_and_reproducible():
    image = torch.rand(3, 24, 32, generator=torch.Generator().manual_seed(0))
    boxes = selective_search(image, scales=(30,))
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 32).all() and (boxes[:, 3] <= 24).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    assert len(torch.unique(boxes, dim=0)) == len(boxes)
    assert torch.equal(boxes, selective_search(image, scales=(30,)))
    other = selective_search(image, scales=(30,), seed=1)  # same set, another ranking
    assert set(map(tuple, other.tolist())) == set(map(tuple, boxes.tolist()))


def test_hierarchy_merges_down_to_one_region():
    # n connected initial regions -> n - 1 merges -> 2n - 1 boxes, the last the whole image.
    labels = np.repeat(np.repeat(np.arange(6).reshape(2, 3), 4, 0), 5, 1)  # 2x3 blocks
    image = np.random.default_rng(0).random((8, 15, 3))
    boxes = _hierarchy(labels, image, _texture(image), ("colour", "texture", "size", "fill"))
    assert len(boxes) == 11
    assert boxes[:6].tolist()[4] == [5.0, 4.0, 10.0, 8.0]  # region 4: rows 4-7, columns 5-9
    assert boxes[-1].tolist() == [0.0, 0.0, 15.0, 8.0]


def test_size_similarity_merges_small_regions_first():
    # Size alone: the two smallest adjacent regions (1 and 2) merge first.
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[:, 6:8], labels[:, 8:] = 1, 2
    image = np.zeros((10, 10, 3))
    boxes = _hierarchy(labels, image, _texture(image), ("size",))
    assert boxes[3].tolist() == [6.0, 0.0, 10.0, 10.0]


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(1, 8, 8), r"\(3, H, W\) float"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), "float tensor"),
        (torch.full((3, 8, 8), 2.0), r"\[0, 1\]"),
        (np.zeros((8, 8)), r"\(H, W, 3\)"),
        ([[0.0]], "torch.Tensor or numpy array"),
    ],
)
def test_bad_images_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        selective_search(bad)


def test_bad_options_are_refused():
    image = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match="subset"):
        selective_search(image, similarities=(("colour", "shape"),))
    with pytest.raises(ValueError, match="colour space"):
        selective_search(image, colour_spaces=("xyz",))
    with pytest.raises(ValueError, match="scales"):
        selective_search(image, scales=())


def test_uint8_array_and_float_tensor_agree():
    array = (two_squares()[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    a = selective_search(image, scales=(20,), colour_spaces=("rgb",))
    b = selective_search(array, scales=(20,), colour_spaces=("rgb",))
    assert set(map(tuple, a.tolist())) == set(map(tuple, b.tolist()))


def test_recall_close_to_opencv_selective_search():
    """Ours and OpenCV's fast mode find the same share of the scenes' objects."""
    cv2 = pytest.importorskip(
        "cv2", reason="OpenCV (opencv-contrib-python-headless) is not installed"
    )
    if not hasattr(cv2, "ximgproc"):
        pytest.skip("this OpenCV has no ximgproc module (install opencv-contrib-python-headless)")
    cv2.setNumThreads(1)
    scenes = datasets.ShapesScenes(30, seed=2, size_range=(0.25, 0.5), max_occlusion=0.25)
    ours, theirs = [], []
    for i in range(len(scenes)):
        image, target = scenes[i]
        image, truth = image.as_subclass(torch.Tensor), target["boxes"].as_subclass(torch.Tensor)
        search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        bgr = (image.flip(0).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        search.setBaseImage(np.ascontiguousarray(bgr))
        search.switchToSelectiveSearchFast()
        xywh = torch.tensor(search.process(), dtype=torch.float32).reshape(-1, 4)
        opencv = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        ours.append(ops.box_iou(truth, selective_search(image)).max(1).values)
        theirs.append(ops.box_iou(truth, opencv).max(1).values)
    ours, theirs = torch.cat(ours), torch.cat(theirs)
    for threshold in (0.5, 0.7):
        assert (ours >= threshold).float().mean() >= (theirs >= threshold).float().mean() - 0.05
