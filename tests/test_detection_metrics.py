"""Average precision: worked by hand, and equal to pycocotools' COCOeval (boxes and masks)."""

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from course_utils import metrics, ops

# ---------------------------------------------------------------- by hand


def one_class(boxes, scores, gt_boxes):
    pred = {
        "boxes": torch.tensor(boxes),
        "labels": torch.ones(len(boxes), dtype=torch.long),
        "scores": torch.tensor(scores),
    }
    target = {
        "boxes": torch.tensor(gt_boxes),
        "labels": torch.ones(len(gt_boxes), dtype=torch.long),
    }
    return [pred], [target]


def test_ap_by_hand_voc_and_coco():
    # two objects; detections by score: hit, miss (elsewhere), hit
    preds, targets = one_class(
        [[0.0, 0, 10, 10], [50.0, 50, 60, 60], [20.0, 20, 30, 30]],
        [0.9, 0.8, 0.7],
        [[0.0, 0, 10, 10], [20.0, 20, 30, 30]],
    )
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: envelope 1, 2/3, 2/3
    voc = metrics.mean_average_precision(preds, targets)
    assert voc["map"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    coco = metrics.mean_average_precision(preds, targets, interpolation="coco")
    assert coco["map"] == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)  # recall 0..0.5, 0.51..1
    precision, recall = voc["curves"][1]
    assert precision.tolist() == pytest.approx([1, 0.5, 2 / 3])
    assert recall.tolist() == pytest.approx([0.5, 0.5, 1])


def test_duplicates_mislocalised_and_misclassified_are_false_positives():
    gt = {"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([1])}
    for boxes, labels in [
        ([[0.0, 0, 10, 10], [0.0, 0, 10, 10]], [1, 1]),  # a duplicate: second is FP
        ([[0.0, 0, 10, 10], [6.0, 6, 16, 16]], [1, 1]),  # IoU 16/184: mislocalised
        ([[0.0, 0, 10, 10], [0.0, 0, 10, 10]], [1, 2]),  # right place, wrong class
    ]:
        pred = {
            "boxes": torch.tensor(boxes),
            "labels": torch.tensor(labels),
            "scores": torch.tensor([0.9, 0.8]),
        }
        result = metrics.mean_average_precision([pred], [gt])
        assert result["per_class"] == {1: 1.0}  # class 2 has no ground truth: left out
    pred = {
        "boxes": torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10]]),
        "labels": torch.tensor([1, 1]),
        "scores": torch.tensor([0.8, 0.9]),
    }
    tp = metrics.match_detections(ops.box_iou(pred["boxes"], gt["boxes"]), 0.5)
    assert tp.tolist() == [True, False]  # matching goes by the order given


def test_threshold_is_inclusive_and_missing_classes():
    # IoU exactly 0.5: [0,0,10,10] against [0,0,10,5] -> 50 / 100
    preds, targets = one_class([[0.0, 0, 10, 5]], [0.9], [[0.0, 0, 10, 10]])
    assert metrics.mean_average_precision(preds, targets, 0.5)["map"] == 1.0
    assert metrics.mean_average_precision(preds, targets, 0.51)["map"] == 0.0
    targets[0]["labels"] = torch.tensor([2])  # the only object is of class 2: never detected
    result = metrics.mean_average_precision(preds, targets)
    assert result["per_class"] == {2: 0.0}


def test_bad_arguments():
    preds, targets = one_class([[0.0, 0, 1, 1]], [0.5], [[0.0, 0, 1, 1]])
    with pytest.raises(ValueError, match="iou_type"):
        metrics.mean_average_precision(preds, targets, iou_type="box")
    with pytest.raises(ValueError, match="interpolation"):
        metrics.mean_average_precision(preds, targets, interpolation="11point")
    with pytest.raises(ValueError, match="2 predictions for 1 images"):
        metrics.mean_average_precision(preds * 2, targets)
    del preds[0]["scores"]
    with pytest.raises(ValueError, match="no 'scores'"):
        metrics.mean_average_precision(preds, targets)
    with pytest.raises(ValueError, match="undefined"):
        metrics.average_precision(torch.ones(1), torch.ones(1, dtype=torch.bool), 0)


# ---------------------------------------------------------------- against pycocotools


def ellipses(boxes, size):
    """(K, size, size) uint8 masks: the ellipse inscribed in each box."""
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    rx, ry = (boxes[:, 2] - boxes[:, 0]) / 2, (boxes[:, 3] - boxes[:, 1]) / 2
    d = ((xx - cx[:, None, None]) / rx[:, None, None]) ** 2
    d = d + ((yy - cy[:, None, None]) / ry[:, None, None]) ** 2
    return (d <= 1).to(torch.uint8)


def random_detections(seed, n_images=6, classes=3, size=64, masks=False):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(n_images):
        k = int(torch.randint(0, 6, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * (size - 24)
        gt = torch.cat([xy, xy + torch.rand(k, 2, generator=g) * 20 + 3], 1).round()
        labels = torch.randint(1, classes + 1, (k,), generator=g)
        copies = torch.randint(0, 3, (k,), generator=g)  # missed, found, found twice
        jitter = torch.randn(int(copies.sum()), 4, generator=g) * 2.5
        boxes = torch.cat(
            [gt.repeat_interleave(copies, 0) + jitter, torch.rand(2, 4, generator=g) * size]
        )  # two false alarms
        boxes = torch.stack(
            [
                boxes[:, [0, 2]].min(1).values,
                boxes[:, [1, 3]].min(1).values,
                boxes[:, [0, 2]].max(1).values,
                boxes[:, [1, 3]].max(1).values,
            ],
            1,
        )
        boxes = boxes.clamp(0, size - 1).round()
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        p_labels = torch.cat(
            [labels.repeat_interleave(copies), torch.randint(1, classes + 1, (2,), generator=g)]
        )
        wrong = torch.rand(len(p_labels), generator=g) < 0.15
        p_labels = torch.where(
            wrong, torch.randint(1, classes + 1, p_labels.shape, generator=g), p_labels
        )
        pred = {
            "boxes": boxes,
            "labels": p_labels,
            "scores": torch.rand(len(p_labels), generator=g),
        }
        target = {"boxes": gt, "labels": labels}
        if masks:
            pred["masks"], target["masks"] = ellipses(boxes, size), ellipses(gt, size)
        preds.append(pred)
        targets.append(target)
    return preds, targets


def coco_ap(preds, targets, iou_threshold, iou_type):
    """AP per class from pycocotools' COCOeval at one IoU threshold (area all, 100 dets)."""

    def encode(m):
        return mask_utils.encode(np.asfortranarray(m.numpy().astype(np.uint8)))

    def xywh(b):
        x1, y1, x2, y2 = b.tolist()
        return [x1, y1, x2 - x1, y2 - y1]

    images = [{"id": i, "height": 64, "width": 64} for i in range(len(targets))]
    annotations, detections = [], []
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        for j in range(len(t["labels"])):
            ann = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": int(t["labels"][j]),
                "bbox": xywh(t["boxes"][j]),
                "iscrowd": 0,
            }
            if iou_type == "segm":
                ann["segmentation"] = encode(t["masks"][j])
                ann["area"] = float(t["masks"][j].sum())
            else:
                ann["area"] = ann["bbox"][2] * ann["bbox"][3]
            annotations.append(ann)
        for j in range(len(p["labels"])):
            det = {
                "image_id": i,
                "category_id": int(p["labels"][j]),
                "score": float(p["scores"][j]),
                "bbox": xywh(p["boxes"][j]),
            }
            if iou_type == "segm":
                det["segmentation"] = encode(p["masks"][j])
            detections.append(det)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in (1, 2, 3)],
        }
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(detections), iou_type)
        evaluator.params.iouThrs = np.array([iou_threshold])
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][0, :, :, 0, -1]  # (recall levels, classes)
    return {
        c: float(precision[:, k].mean())
        for k, c in enumerate((1, 2, 3))
        if (precision[:, k] > -1).all()
    }


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("iou_threshold", [0.5, 0.75])
def test_box_ap_equals_pycocotools(seed, iou_threshold):
    preds, targets = random_detections(seed)
    ours = metrics.mean_average_precision(preds, targets, iou_threshold, interpolation="coco")
    theirs = coco_ap(preds, targets, iou_threshold, "bbox")
    assert ours["per_class"].keys() == theirs.keys()
    for c in theirs:
        assert ours["per_class"][c] == pytest.approx(theirs[c], abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_mask_ap_equals_pycocotools(seed):
    preds, targets = random_detections(100 + seed, masks=True)
    ours = metrics.mean_average_precision(preds, targets, 0.5, "segm", "coco")
    theirs = coco_ap(preds, targets, 0.5, "segm")
    for c in theirs:
        assert ours["per_class"][c] == pytest.approx(theirs[c], abs=1e-4)


def test_mask_iou_of_rectangles_is_their_box_iou():
    boxes = torch.tensor([[0.0, 0, 8, 6], [4.0, 2, 12, 12], [20.0, 20, 22, 22]])
    yy, xx = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    masks = (
        (xx >= boxes[:, 0, None, None])
        & (xx < boxes[:, 2, None, None])
        & (yy >= boxes[:, 1, None, None])
        & (yy < boxes[:, 3, None, None])
    )
    torch.testing.assert_close(ops.mask_iou(masks, masks), ops.box_iou(boxes, boxes))
    assert ops.mask_iou(torch.zeros(1, 4, 4), torch.zeros(2, 4, 4)).tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="same H x W"):
        ops.mask_iou(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))
