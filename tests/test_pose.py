"""Notebook 08's pieces: stick-figure people, the keypoint head's encoding, loss and decoding
(against torchvision's Keypoint R-CNN code), PCK and OKS (by hand and against pycocotools),
and the Keypoint R-CNN factory."""

import contextlib
import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision import tv_tensors
from torchvision.models.detection import roi_heads
from torchvision.transforms.v2 import functional as TF

from course_utils import checks, losses, metrics, models, ops, train, viz
from course_utils.checks import core
from course_utils.datasets import (
    PERSON_FLIP_INDEX,
    PERSON_KEYPOINTS,
    PERSON_SKELETON,
    ShapesScenes,
    detection_collate,
    render_scene,
)

PEOPLE = {"classes": ("person",), "size_range": (0.45, 0.8), "max_objects": 3}

# ---------------------------------------------------------------- the stick figures


def test_people_have_keypoints_in_torchvision_format():
    counts = torch.zeros(3)
    for i in range(40):
        image, t = render_scene(5, i, **PEOPLE)
        kps, masks = t["keypoints"], t["masks"].bool()
        assert kps.shape == (len(t["labels"]), len(PERSON_KEYPOINTS), 3)
        assert kps.dtype == torch.float32
        counts += torch.bincount(kps[..., 2].long().flatten(), minlength=3)
        for n in range(len(kps)):
            for x, y, v in kps[n].tolist():
                inside = 0 <= x < 64 and 0 <= y < 64
                assert (v > 0) == inside  # 0 only outside the image
                if inside:  # 2 exactly where the person's visible mask covers the landmark
                    assert (v == 2) == bool(masks[n, int(y), int(x)])
    assert counts[2] > 10 * counts[1] > 0  # mostly visible, some hidden
    assert counts[0] > 0  # a few heads or feet leave the image


def test_people_are_seeded_and_leave_other_scenes_unchanged():
    a, ta = render_scene(3, 7, **PEOPLE)
    b, tb = render_scene(3, 7, **PEOPLE)
    assert torch.equal(a, b) and torch.equal(ta["keypoints"], tb["keypoints"])
    _, plain = render_scene(3, 7)
    assert "keypoints" not in plain  # scenes without people carry no keypoints
    mixed = [render_scene(1, i, classes=("circle", "person"))[1] for i in range(20)]
    for t in mixed:
        not_people = t["labels"] != 2
        assert (t["keypoints"][not_people] == 0).all()
    assert any((t["labels"] == 2).any() and (t["labels"] == 1).any() for t in mixed)


def test_people_skeleton_and_dataset_targets():
    assert len(PERSON_KEYPOINTS) == 11 and len(PERSON_SKELETON) == 10
    joined = {k for bone in PERSON_SKELETON for k in bone}
    assert joined == set(range(len(PERSON_KEYPOINTS)))  # one connected figure
    ds = ShapesScenes(3, seed=1, **PEOPLE)
    assert ds.class_names == ("background", "person")
    image, target = ds[2]
    assert target["keypoints"].shape[0] == len(target["boxes"])
    # Figures face the viewer: a person's left hand is on the image's right, mostly.
    kps = torch.cat([render_scene(9, i, **PEOPLE)[1]["keypoints"] for i in range(40)])
    left, right = PERSON_KEYPOINTS.index("left_hand"), PERSON_KEYPOINTS.index("right_hand")
    assert (kps[:, left, 0] > kps[:, right, 0]).float().mean() > 0.9


# ---------------------------------------------------------------- encoding, loss, decoding


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 6),
    k=st.integers(1, 17),
    size=st.sampled_from([1, 3, 7, 28, 56]),
    seed=st.integers(0, 2**16),
)
def test_keypoints_to_heatmap_equals_torchvision(n, k, size, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    rois = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 30 + 1], 1)
    rel = torch.rand(n, k, 2, generator=g) * 1.4 - 0.2
    points = rois[:, None, :2] + rel * (rois[:, None, 2:] - rois[:, None, :2])
    points[:, :1, :] = rois[:, None, 2:]  # the first landmark on the bottom-right corner
    vis = torch.randint(0, 3, (n, k, 1), generator=g).float()
    keypoints = torch.cat([points, vis], 2)
    targets, valid = ops.keypoints_to_heatmap(keypoints, rois, size)
    tv_targets, tv_valid = roi_heads.keypoints_to_heatmap(keypoints, rois, size)
    assert torch.equal(targets, tv_targets) and torch.equal(valid, tv_valid.bool())


def test_keypoint_loss_equals_torchvision_with_gradient():
    g = torch.Generator().manual_seed(0)
    rois = torch.tensor([[0.0, 0, 20, 30], [5, 5, 15, 40]])
    kps = torch.cat([torch.rand(2, 11, 2, generator=g) * 30, torch.full((2, 11, 1), 2.0)], 2)
    kps[0, :3, 2] = 0
    logits = torch.randn(2, 11, 28, 28, generator=g, requires_grad=True)
    theirs = roi_heads.keypointrcnn_loss(logits, [rois], [kps], [torch.arange(2)])
    (grad_theirs,) = torch.autograd.grad(theirs, logits)
    ours = losses.keypoint_loss(logits, *ops.keypoints_to_heatmap(kps, rois, 28))
    (grad_ours,) = torch.autograd.grad(ours, logits)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(grad_ours, grad_theirs)
    none = torch.zeros(2, 11, dtype=torch.bool)
    zero = losses.keypoint_loss(logits, torch.zeros(2, 11, dtype=torch.long), none)
    assert zero.item() == 0 and zero.requires_grad
    with pytest.raises(ValueError, match="targets must be a tensor of shape"):
        losses.keypoint_loss(logits, torch.zeros(3, dtype=torch.long), none)


def test_decoding_inverts_encoding_and_is_near_torchvision():
    g = torch.Generator().manual_seed(1)
    rois = torch.tensor([[3.0, 4.0, 27.0, 44.0], [10.0, 0.0, 50.0, 20.0]])
    points = rois[:, None, :2] + torch.rand(2, 11, 2, generator=g) * (
        rois[:, None, 2:] - rois[:, None, :2]
    )
    keypoints = torch.cat([points, torch.full((2, 11, 1), 2.0)], 2)
    targets, _ = ops.keypoints_to_heatmap(keypoints, rois, 28)
    logits = torch.nn.functional.one_hot(targets, 28 * 28).float().view(2, 11, 28, 28) * 10
    decoded = ops.heatmaps_to_keypoints(logits, rois)
    cell = (rois[:, 2:] - rois[:, :2]) / 28
    assert ((decoded - points).abs() <= cell[:, None] / 2 + 1e-4).all()  # within half a cell
    theirs, _ = roi_heads.heatmaps_to_keypoints(logits, rois)
    assert ((theirs[..., :2] - decoded).abs() <= cell[:, None] + 1e-4).all()  # within a cell
    with pytest.raises(ValueError, match="rois"):
        ops.heatmaps_to_keypoints(logits, rois[:1])


# ---------------------------------------------------------------- PCK and OKS


def test_pck_by_hand():
    target = torch.tensor([[[10.0, 10, 2], [20, 20, 1], [30, 30, 0], [40, 40, 2]]])
    boxes = torch.tensor([[0.0, 0, 50, 100]])  # longer side 100: PCK@0.1 radius 10
    pred = torch.tensor([[[10.0, 19.9], [26, 28], [99, 99], [40, 51]]])
    # landmark 0: 9.9 <= 10 correct; 1: 10 (6-8-10) correct at the boundary; 2: not labelled;
    # 3: 11 > 10 wrong -> 2 of 3
    assert metrics.pck(pred, target, boxes) == pytest.approx(2 / 3)
    near = metrics.within_radius(pred, target, boxes)  # labelled or not
    assert near.tolist() == [[True, True, False, False]]
    per = metrics.pck(pred, target, boxes, per_keypoint=True)
    assert per[:2].tolist() == [1.0, 1.0] and per[2].isnan() and per[3] == 0
    assert metrics.pck(pred, target, boxes, alpha=0.2) == 1.0
    missed = torch.full_like(pred, float("nan"))
    assert metrics.pck(missed, target, boxes) == 0.0
    with pytest.raises(ValueError, match="alpha"):
        metrics.pck(pred, target, boxes, alpha=0)


def test_oks_by_hand():
    target = torch.tensor([[[0.0, 0, 2], [10, 0, 2], [5, 5, 0]]])
    areas = torch.tensor([100.0])
    sigma = 0.1  # kappa = 0.2; 2 s^2 kappa^2 = 2 * 100 * 0.04 = 8
    pred = torch.tensor([[[0.0, 0], [10, 2], [50, 50]], [[2.0, 2], [10, 0], [5, 5]]])
    oks = metrics.object_keypoint_similarity(pred, target, areas, sigma)
    expected = torch.tensor([[(1 + np.exp(-4 / 8)) / 2], [(np.exp(-8 / 8) + 1) / 2]])
    torch.testing.assert_close(oks, expected.float())
    unlabelled = target.clone()
    unlabelled[..., 2] = 0
    assert metrics.object_keypoint_similarity(pred, unlabelled, areas).eq(0).all()
    with pytest.raises(ValueError, match="areas must be"):
        metrics.object_keypoint_similarity(pred, target, torch.ones(2))


def random_people(seed, n_images=6, k=5):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(n_images):
        n = int(torch.randint(1, 4, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 40
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 20 + 10], 1)
        wh = boxes[:, None, 2:] - boxes[:, None, :2]
        points = boxes[:, None, :2] + torch.rand(n, k, 2, generator=g) * wh
        vis = torch.randint(1, 3, (n, k, 1), generator=g).float()
        targets.append(
            {
                "boxes": boxes,
                "labels": torch.ones(n, dtype=torch.long),
                "keypoints": torch.cat([points, vis], 2),
            }
        )
        d = n + int(torch.randint(0, 3, (1,), generator=g))  # some false positives
        src = torch.randint(0, n, (d,), generator=g)
        noise = torch.randn(d, k, 2, generator=g) * torch.rand(d, 1, 1, generator=g) * 6
        preds.append(
            {
                "boxes": boxes[src] + torch.randn(d, 4, generator=g),
                "labels": torch.ones(d, dtype=torch.long),
                "scores": torch.rand(d, generator=g),
                "keypoints": torch.cat([points[src] + noise, torch.ones(d, k, 1)], 2),
            }
        )
    return preds, targets


def coco_keypoint_ap(preds, targets, sigma):
    """pycocotools' keypoint AP@[.5:.95], with the box area as each person's area."""
    k = targets[0]["keypoints"].shape[1]
    images, annotations, detections = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        images.append({"id": i, "width": 64, "height": 64})
        for box, kp in zip(t["boxes"].tolist(), t["keypoints"], strict=True):
            x1, y1, x2, y2 = box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "iscrowd": 0,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "keypoints": kp.flatten().tolist(),
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                }
            )
        for box, kp, s in zip(
            p["boxes"].tolist(), p["keypoints"], p["scores"].tolist(), strict=True
        ):
            x1, y1, x2, y2 = box
            detections.append(
                {
                    "image_id": i,
                    "category_id": 1,
                    "score": s,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "keypoints": kp.flatten().tolist(),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person"}],
        }
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(detections), "keypoints")
        evaluator.params.kpt_oks_sigmas = np.full(k, sigma)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoint_ap_equals_pycocotools(seed):
    preds, targets = random_people(seed)
    ours = metrics.coco_mean_average_precision(preds, targets, "keypoints", oks_sigmas=0.07)
    assert 0.05 < ours < 0.95  # a case that can tell a wrong OKS from a right one
    assert ours == pytest.approx(coco_keypoint_ap(preds, targets, 0.07), abs=1e-6)


def test_match_people_pairs_each_person_once():
    preds, targets = random_people(3)
    pred, target, boxes = metrics.match_people(preds, targets)
    assert len(pred) == len(target) == len(boxes) == sum(len(t["boxes"]) for t in targets)
    perfect = [dict(t, scores=torch.ones(len(t["boxes"]))) for t in targets]
    pred, target, _ = metrics.match_people(perfect, targets)
    assert torch.equal(pred, target[..., :2])
    nobody = [{k: v[:0] for k, v in p.items()} for p in perfect]
    pred, target, boxes = metrics.match_people(nobody, targets)
    assert pred.isnan().all() and metrics.pck(pred, target, boxes) == 0
    with pytest.raises(ValueError, match=r"preds\[0\] has no \['keypoints'\]"):
        metrics.match_people(
            [{"boxes": p["boxes"], "scores": p["scores"]} for p in perfect], targets
        )


# ---------------------------------------------------------------- the model and the figure


def test_keypoint_rcnn_factory_trains_one_step_and_detects_keypoints():
    torch.manual_seed(0)
    data = ShapesScenes(4, seed=3, **PEOPLE)
    k = len(PERSON_KEYPOINTS)
    model = models.keypoint_rcnn(k, 1, models.Backbone((8, 8), (2, 2)), keypoint_layers=(8,))
    loader = torch.utils.data.DataLoader(list(data), batch_size=2, collate_fn=detection_collate)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    history = train.fit_detector(model, loader, optimizer, iterations=1, progress=False)
    assert "loss_keypoint" in history.keys()
    head = model.roi_heads
    logits = head.keypoint_predictor(head.keypoint_head(torch.zeros(2, 8, 7, 7)))
    assert logits.shape == (2, k, 28, 28)  # 4 x the 7x7 pool
    out = train.detect(model, [data[0][0]])
    assert out[0]["keypoints"].shape[1:] == (k, 3)
    with pytest.raises(ValueError, match="num_keypoints"):
        models.keypoint_rcnn(0)
    with pytest.raises(ValueError, match="keypoint_layers"):
        models.keypoint_rcnn(k, keypoint_layers=())


def test_skeletons_draw():
    image, t = ShapesScenes(1, seed=4, **PEOPLE)[0]
    fig = viz.draw_detections(
        image,
        t["boxes"],
        t["labels"],
        keypoints=t["keypoints"],
        skeleton=PERSON_SKELETON,
        show_hidden=True,
    )
    assert len(fig.axes[0].lines) >= 2 * len(PERSON_SKELETON) * len(t["boxes"]) // 2
    with pytest.raises(ValueError, match="keypoints for"):
        viz.draw_detections(image, t["boxes"], keypoints=t["keypoints"][:0])


# ---------------------------------------------------------------- flipping people (Exercise 4)


def test_flip_index_pairs_left_with_right():
    for k, partner in enumerate(PERSON_FLIP_INDEX):
        name, other = PERSON_KEYPOINTS[k], PERSON_KEYPOINTS[partner]
        if name.startswith("left_"):
            assert other == "right_" + name[5:]
        elif name.startswith("right_"):
            assert other == "left_" + name[6:]
        else:
            assert partner == k
    assert sorted(PERSON_FLIP_INDEX) == list(range(len(PERSON_KEYPOINTS)))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 5), width=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_flip_keypoints_mirrors_like_torchvision_boxes_and_swaps_sides(n, width, seed):
    g = torch.Generator().manual_seed(seed)
    k = len(PERSON_FLIP_INDEX)
    keypoints = torch.cat(
        [torch.rand(n, k, 2, generator=g) * width, torch.randint(0, 3, (n, k, 1), generator=g)], -1
    )
    flipped = ops.flip_keypoints(keypoints, width, PERSON_FLIP_INDEX)
    index = torch.tensor(PERSON_FLIP_INDEX)
    # A point is a zero-size box: torchvision's box flip moves it where ours does, x -> W - x.
    points = keypoints[:, index, :2].reshape(-1, 2)
    as_boxes = tv_tensors.BoundingBoxes(
        torch.cat([points, points], -1), format="XYXY", canvas_size=(7, width)
    )
    moved = TF.horizontal_flip(as_boxes).as_subclass(torch.Tensor)
    assert torch.allclose(flipped[..., :2].reshape(-1, 2), moved[:, :2], atol=1e-5)
    # torchvision's KeyPoints tv_tensor counts x as a pixel index: W - 1 - x, one pixel apart.
    as_points = tv_tensors.KeyPoints(points, canvas_size=(7, width))
    index_flip = TF.horizontal_flip(as_points).as_subclass(torch.Tensor)
    # float32: x near 300 carries about 3e-5 of rounding, so compare with that margin
    offset = flipped[..., :2].reshape(-1, 2) - index_flip
    assert torch.allclose(offset, torch.tensor([1.0, 0.0]), atol=1e-4)
    # torchvision's references/detection flip: x -> width - x after the flip_inds permutation.
    assert torch.equal(flipped[..., 2], keypoints[:, index, 2])
    assert torch.allclose(
        ops.flip_keypoints(flipped, width, PERSON_FLIP_INDEX), keypoints, atol=1e-4
    )
    assert not torch.equal(keypoints, flipped) or n == 0


def test_flipped_scene_puts_each_landmark_on_its_partners_mirrored_pixel():
    from course_utils.transforms import horizontal_flip

    data = ShapesScenes(6, seed=7, back_facing=0.5, **PEOPLE)
    index = torch.tensor(PERSON_FLIP_INDEX)
    for image, target in data:
        fimage, ftarget = horizontal_flip(image, target, PERSON_FLIP_INDEX)
        kps, fkps = target["keypoints"], ftarget["keypoints"]
        inside = (kps[..., 2] > 0)[:, index]
        col, row = kps[:, index, 0].long(), kps[:, index, 1].long()
        fcol, frow = fkps[..., 0].long(), fkps[..., 1].long()
        ok = inside & (kps[:, index, 0] % 1 != 0)  # a point exactly on a pixel edge is ambiguous
        assert torch.equal(fimage[:, frow[ok], fcol[ok]], image[:, row[ok], col[ok]])
        assert torch.equal(ftarget["from_back"], target["from_back"])


def test_flip_keypoints_bad_input():
    with pytest.raises(ValueError, match="permutation"):
        ops.flip_keypoints(torch.zeros(1, 3, 3), 10, [0, 1, 1])
    with pytest.raises(ValueError, match="pair"):
        ops.flip_keypoints(torch.zeros(1, 3, 3), 10, [1, 2, 0])
    with pytest.raises(ValueError, match="keypoints must be"):
        ops.flip_keypoints(torch.zeros(3, 3), 10, [0, 1, 2])


def _verdict(fn, capsys):
    with core.guarding_answers(False):  # the reference is the course's twin, which is blocked
        checks.check_flip_keypoints(fn)
    return capsys.readouterr().out.strip()


def flip_not_swapped(keypoints, width, index):
    flipped = keypoints.clone()
    flipped[..., 0] = width - flipped[..., 0]
    return flipped


def flip_index_convention(keypoints, width, index):  # x -> W - 1 - x
    return ops.flip_keypoints(keypoints, width, index) - torch.tensor([1.0, 0.0, 0.0])


def flip_swap_without_mirror(keypoints, width, index):
    return keypoints[:, index]


def flip_visibility_left_behind(keypoints, width, index):
    flipped = ops.flip_keypoints(keypoints, width, index)
    flipped[..., 2] = keypoints[..., 2]
    return flipped


def flip_in_place(keypoints, width, index):
    keypoints[..., 0] = width - keypoints[..., 0]
    return keypoints[:, index]


def flip_x_only_swapped(keypoints, width, index):  # y and visibility not permuted
    flipped = keypoints.clone()
    flipped[..., 0] = width - keypoints[:, index, 0]
    return flipped


def flip_unlabelled_zeroed(keypoints, width, index):  # COCO files' (0, 0) for visibility 0
    flipped = ops.flip_keypoints(keypoints, width, index)
    flipped[flipped[..., 2] == 0] = 0
    return flipped


def flip_about_the_centre_pixel(keypoints, width, index):  # x -> 2 * (W // 2) - x
    flipped = keypoints[:, index].clone()
    flipped[..., 0] = 2 * (width // 2) - flipped[..., 0]
    return flipped


def test_check_flip_keypoints_passes_the_reference(capsys):
    assert _verdict(ops.flip_keypoints, capsys) == "flip_keypoints: correct on 5 cases"


def test_check_flip_keypoints_fails_a_stub(capsys):
    def stub(keypoints, width, flip_index):
        raise NotImplementedError("Exercise 4")

    assert _verdict(stub, capsys) == (
        "flip_keypoints: not implemented yet (it raises NotImplementedError)"
    )


@pytest.mark.parametrize(
    "wrong, says",
    [
        (flip_not_swapped, "not swapped"),
        (flip_index_convention, "one pixel off"),
        (flip_swap_without_mirror, "x is not mirrored"),
        (flip_visibility_left_behind, "visibility flags stayed"),
        (flip_in_place, "changed its input in place"),
        (flip_x_only_swapped, "values differ"),
        (flip_unlabelled_zeroed, "visibility 0"),
        (flip_about_the_centre_pixel, "wrong on case"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_check_flip_keypoints_fails_plausible_wrong_answers(wrong, says, capsys):
    line = _verdict(wrong, capsys)
    assert line.startswith("flip_keypoints: wrong on case") and says in line, line


def test_left_right_swaps_by_hand():
    # one person, landmarks 0 (its own partner) and 1 <-> 2; box 10 wide: radius 1
    target = torch.tensor([[[5.0, 5.0, 2.0], [2.0, 5.0, 2.0], [8.0, 5.0, 1.0]]])
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    pred = torch.tensor([[[9.0, 9.0], [8.2, 5.0], [8.0, 5.0]]])  # 1 on 2's spot; 2 right
    swapped, eligible = metrics.left_right_swaps(pred, target, boxes, [0, 2, 1])
    assert swapped.tolist() == [[False, True, False]]
    assert eligible.tolist() == [[False, True, True]]
    missed = torch.full((1, 3, 2), float("nan"))  # a person not detected counts for nothing
    assert not metrics.left_right_swaps(missed, target, boxes, [0, 2, 1])[1].any()
    hidden = target.clone()
    hidden[0, 1, 2] = 0  # unlabelled: not counted
    assert metrics.left_right_swaps(pred, hidden, boxes, [0, 2, 1])[1].tolist() == [
        [False, False, True]
    ]
    with pytest.raises(ValueError, match="flip_index"):
        metrics.left_right_swaps(pred, target, boxes, [0, 1])
