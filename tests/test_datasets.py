from collections import namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2

from course_utils import datasets
from course_utils.datasets import SHAPES, ShapesScenes, detection_collate, render_scene

# ---------------------------------------------------------------- digits


def test_digits_splits_are_fixed_disjoint_and_complete():
    sets = {s: datasets.digits(s) for s in ("train", "val", "test")}
    assert {s: len(d) for s, d in sets.items()} == datasets.DIGITS_SPLIT_SIZES
    flat = {s: {tuple(x.flatten().tolist()) for x in d.tensors[0]} for s, d in sets.items()}
    assert sum(len(d) for d in sets.values()) == 1797
    # scikit-learn's digits contain a few exact duplicates, so compare counts, not identities
    assert len(flat["train"] & flat["test"]) <= 5
    for s, d in sets.items():
        counts = torch.bincount(d.tensors[1], minlength=10)
        share = counts.float() / len(d)
        assert share.min() > 0.08 and share.max() < 0.12, (s, counts)  # stratified
    x, y = sets["train"].tensors
    assert x.shape == (1257, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.equal(datasets.digits("test").tensors[0], sets["test"].tensors[0])


def test_digits_upsampled():
    x, _ = datasets.digits("val", size=16).tensors
    assert x.shape == (180, 1, 16, 16) and 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.parametrize(
    "kwargs, match", [({"split": "dev"}, "split must be one of"), ({"size": 4}, "size must be")]
)
def test_digits_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.digits(**kwargs)


# ---------------------------------------------------------------- photos


@pytest.mark.parametrize("name", list(datasets.PHOTOS))
def test_sample_image(name):
    image = datasets.sample_image(name)
    assert image.ndim == 3 and image.shape[0] in (1, 3) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05
    small = datasets.sample_image(name, size=32)
    assert min(small.shape[1:]) == 32 and small.shape[0] == image.shape[0]


def test_sample_image_fixed_size_and_errors():
    assert datasets.sample_image("coffee", (20, 30)).shape == (3, 20, 30)
    with pytest.raises(ValueError, match="unknown photo 'lena'; choose one of: astronaut"):
        datasets.sample_image("lena")
    with pytest.raises(ValueError, match="size must be"):
        datasets.sample_image("coffee", size=0)


# ---------------------------------------------------------------- shapes


def assert_consistent(image, target, options):
    s = options.get("image_size", 64)
    classes = options.get("classes", datasets.SHAPE_CLASSES)
    boxes, labels = torch.as_tensor(target["boxes"]), target["labels"]
    masks, semantic = torch.as_tensor(target["masks"]), torch.as_tensor(target["semantic"])
    n = len(labels)
    assert image.shape == (3, s, s) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert boxes.shape == (n, 4) and masks.shape == (n, s, s) and semantic.shape == (s, s)
    assert (
        masks.dtype == torch.uint8 and semantic.dtype == torch.int64 and labels.dtype == torch.int64
    )
    assert n >= 1
    assert ((labels >= 1) & (labels <= len(classes))).all()
    m = masks.bool()
    assert (m.flatten(1).sum(1) >= 8).all(), "every object is visible"
    assert (m.sum(0) <= 1).all(), "visible masks never overlap"
    # tight boxes in continuous pixel coordinates: masks_to_boxes' x2, y2 are the last pixel
    assert torch.equal(boxes, masks_to_boxes(m) + torch.tensor([0.0, 0.0, 1.0, 1.0]))
    union = torch.zeros(s, s, dtype=torch.int64)
    for k in range(n):
        union[m[k]] = labels[k]
    assert torch.equal(semantic, union)


def test_scenes_are_seeded_and_independent_of_order():
    a = render_scene(7, 3)
    b = render_scene(7, 3)
    assert torch.equal(a[0], b[0]) and all(torch.equal(a[1][k], b[1][k]) for k in a[1])
    ds = ShapesScenes(5, seed=7)
    assert torch.equal(ds[3][0], a[0])
    assert not torch.equal(render_scene(8, 3)[0], a[0])
    assert not torch.equal(render_scene(7, 4)[0], a[0])


def test_default_scenes_are_consistent():
    counts = []
    for i in range(100):
        image, target = render_scene(0, i)
        assert_consistent(image, target, {})
        counts.append(len(target["labels"]))
    assert min(counts) >= 1 and max(counts) <= 4
    assert len(set(counts)) >= 3  # the number of objects varies


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    image_size=st.sampled_from([32, 48, 64, 96]),
    classes=st.lists(st.sampled_from(sorted(SHAPES)), min_size=1, max_size=6, unique=True),
    max_objects=st.integers(1, 8),
    max_occlusion=st.floats(0.0, 0.9, allow_subnormal=False),
    clutter=st.integers(0, 6),
)
def test_any_valid_options_give_consistent_scenes(
    seed, image_size, classes, max_objects, max_occlusion, clutter
):
    options = dict(
        image_size=image_size,
        classes=tuple(classes),
        max_objects=max_objects,
        size_range=(0.25, 0.5),
        max_occlusion=max_occlusion,
        clutter=clutter,
    )
    image, target = render_scene(seed, 0, **options)
    assert_consistent(image, target, options)
    assert len(target["labels"]) <= max_objects


def test_occlusion_is_bounded():
    # Objects hidden by later ones keep at least (1 - max_occlusion) of their area: with
    # max_occlusion=0 nothing overlaps, so every object is a whole shape.
    for i in range(20):
        _, target = render_scene(1, i, max_objects=6, max_occlusion=0.0, size_range=(0.3, 0.5))
        masks = target["masks"].bool()
        for k in range(len(masks)):
            assert masks[k].sum() >= 8


def test_dataset_returns_tv_tensors_and_names():
    ds = ShapesScenes(3, seed=2, classes=("star", "ring"))
    image, target = ds[0]
    assert isinstance(image, tv_tensors.Image)
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes)
    assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
    assert tuple(target["boxes"].canvas_size) == (64, 64)
    assert isinstance(target["masks"], tv_tensors.Mask) and isinstance(
        target["semantic"], tv_tensors.Mask
    )
    assert target["image_id"] == 0
    assert ds.class_names == ("background", "star", "ring")
    assert len(ds) == 3 and torch.equal(ds[-1][0], ds[2][0])
    with pytest.raises(IndexError):
        ds[3]


def test_flip_moves_boxes_and_masks_with_the_image():
    plain = ShapesScenes(10, seed=4)
    flipped = ShapesScenes(10, seed=4, transforms=v2.RandomHorizontalFlip(p=1.0))
    for i in range(10):
        (img, t), (fimg, ft) = plain[i], flipped[i]
        assert torch.equal(fimg, img.flip(-1))
        assert torch.equal(ft["masks"], t["masks"].flip(-1))
        assert torch.equal(ft["semantic"], t["semantic"].flip(-1))
        s = img.shape[-1]
        expected = torch.stack(
            [s - t["boxes"][:, 2], t["boxes"][:, 1], s - t["boxes"][:, 0], t["boxes"][:, 3]], 1
        )
        assert torch.equal(ft["boxes"].as_subclass(torch.Tensor), expected)
        assert_consistent(fimg.as_subclass(torch.Tensor), ft, {})


def test_crop_keeps_masks_inside_boxes():
    crop = v2.Compose([v2.RandomCrop(40), v2.SanitizeBoundingBoxes(min_size=1)])
    ds = ShapesScenes(20, seed=5, transforms=crop)
    torch.manual_seed(0)
    for i in range(20):
        img, t = ds[i]
        assert img.shape == (3, 40, 40)
        boxes, masks = t["boxes"], t["masks"].bool()
        assert len(boxes) == len(t["labels"]) == len(masks)
        for k in range(len(masks)):
            ys, xs = torch.nonzero(masks[k], as_tuple=True)
            if len(xs):
                assert boxes[k, 0] <= xs.min() and xs.max() + 1 <= boxes[k, 2]
                assert boxes[k, 1] <= ys.min() and ys.max() + 1 <= boxes[k, 3]


def test_detection_collate():
    ds = ShapesScenes(4)
    images, targets = detection_collate([ds[i] for i in range(4)])
    assert len(images) == len(targets) == 4
    assert [t["image_id"] for t in targets] == [0, 1, 2, 3]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=detection_collate)
    images, targets = next(iter(loader))
    assert len(images) == 2 and images[0].shape == (3, 64, 64)


# ---------------------------------------------------------------- plain


def test_plain_strips_tv_tensors_all_the_way_down_without_copying():
    image = tv_tensors.Image(torch.rand(3, 8, 8))
    boxes = tv_tensors.BoundingBoxes(
        torch.tensor([[1.0, 2.0, 5.0, 6.0]]), format="XYXY", canvas_size=(8, 8)
    )
    masks = tv_tensors.Mask(torch.zeros(1, 8, 8, dtype=torch.uint8))
    labels = torch.tensor([2])
    sample = {
        "image": image,
        "target": {"boxes": boxes, "masks": masks, "labels": labels, "image_id": 7},
        "more": [masks, (image, "a note", None)],
    }
    out = datasets.plain(sample)
    assert list(out) == ["image", "target", "more"]
    assert list(out["target"]) == ["boxes", "masks", "labels", "image_id"]
    for stripped, original in [
        (out["image"], image),
        (out["target"]["boxes"], boxes),
        (out["target"]["masks"], masks),
        (out["more"][0], masks),
        (out["more"][1][0], image),
    ]:
        assert type(stripped) is torch.Tensor  # exactly, not a subclass
        assert stripped.data_ptr() == original.data_ptr()  # a view: nothing copied
        assert stripped.dtype == original.dtype and torch.equal(stripped, original)
    assert out["target"]["labels"] is labels  # a plain tensor as it is
    assert out["target"]["image_id"] == 7 and out["more"][1][1:] == ("a note", None)
    assert type(out["more"]) is list and type(out["more"][1]) is tuple
    # the input is rebuilt, never changed in place
    assert type(sample["image"]) is tv_tensors.Image
    assert type(sample["target"]["boxes"]) is tv_tensors.BoundingBoxes
    assert datasets.plain(3) == 3 and datasets.plain("x") == "x"


def test_plain_on_scenes_and_a_named_tuple():
    image, target = ShapesScenes(2, seed=0)[1]
    plain_image, plain_target = datasets.plain((image, target))
    assert type(plain_image) is torch.Tensor and torch.equal(plain_image, image)
    assert all(type(v) is torch.Tensor for k, v in plain_target.items() if k != "image_id")
    Pair = namedtuple("Pair", "image target")
    pair = datasets.plain(Pair(image, target))
    assert type(pair) is Pair and type(pair.image) is torch.Tensor


def test_plain_keys_select_entries_of_a_target_or_of_each_target():
    scenes = ShapesScenes(3, seed=0)
    target = scenes[0][1]
    out = datasets.plain(target, keys=("labels", "boxes"))
    assert list(out) == ["labels", "boxes"]  # in the order asked for
    assert type(out["boxes"]) is torch.Tensor and torch.equal(out["boxes"], target["boxes"])
    assert list(datasets.plain(target, keys="boxes")) == ["boxes"]  # one name as a string
    targets = datasets.plain([scenes[i][1] for i in range(3)], keys=["boxes", "masks"])
    assert [list(t) for t in targets] == [["boxes", "masks"]] * 3
    assert all(type(t["masks"]) is torch.Tensor for t in targets)
    image, selected = datasets.plain(scenes[2], keys=["labels"])  # a sample: the target's keys
    assert type(image) is torch.Tensor and list(selected) == ["labels"]


def test_plain_missing_key_is_a_clear_error():
    target = ShapesScenes(1, seed=0)[0][1]
    with pytest.raises(ValueError, match=r"no 'scores', 'keypoints' in this dict; its keys are"):
        datasets.plain(target, keys=("boxes", "scores", "keypoints"))
    with pytest.raises(ValueError, match="'boxes', 'labels'"):  # and names the keys it has
        datasets.plain([target], keys=("scores",))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes": ("circle", "hexagon")}, r"unknown shape classes \['hexagon'\]"),
        ({"classes": ()}, "at least one shape"),
        ({"classes": ("circle", "circle")}, "must not repeat"),
        ({"min_objects": 3, "max_objects": 2}, "min_objects <= max_objects"),
        ({"size_range": (0.5, 0.2)}, "size_range must satisfy"),
        ({"image_size": 8}, "image_size must be an int >= 16"),
        ({"image_size": 32, "size_range": (0.1, 0.5)}, "under 6 pixels"),
        ({"max_occlusion": 1.0}, r"max_occlusion must be in \[0, 1\)"),
        ({"back_facing": 1.5}, r"back_facing must be a probability in \[0, 1\]"),
    ],
)
def test_bad_scene_options_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        render_scene(0, 0, **kwargs)
    with pytest.raises(ValueError, match=match):
        ShapesScenes(2, **kwargs)  # at construction, not at the first batch


def test_bad_dataset_arguments():
    with pytest.raises(ValueError, match="num_images"):
        ShapesScenes(0)
    with pytest.raises(ValueError, match="seed"):
        ShapesScenes(2, seed=-1)
    with pytest.raises(ValueError, match="seed and index"):
        render_scene(0, -1)


def test_object_colour_does_not_give_the_class_away():
    # Colours are drawn independently of the class: the mean colour of a class is grey-ish.
    colours = {c: [] for c in (1, 2, 3)}
    for i in range(150):
        image, t = render_scene(9, i)
        for k, label in enumerate(t["labels"].tolist()):
            colours[label].append(image[:, t["masks"][k].bool()].mean(1).numpy())
    means = np.array([np.mean(colours[c], axis=0) for c in colours])
    assert np.abs(means - means.mean(0)).max() < 0.08


def test_digits_on_canvas_paste_each_digit_inside_its_box():
    small = datasets.digits("val", size=16).tensors[0]
    images, labels, boxes = datasets.digits_on_canvas("val", canvas=40, size=16, seed=3).tensors
    assert images.shape == (180, 1, 40, 40) and boxes.shape == (180, 4)
    assert torch.equal(labels, datasets.digits("val", size=16).tensors[1])
    for image, digit, (x1, y1, x2, y2) in zip(images, small, boxes.long().tolist(), strict=True):
        assert x2 - x1 == y2 - y1 == 16
        assert torch.equal(image[:, y1:y2, x1:x2], digit)
        assert image.sum() == digit.sum()  # nothing outside the box
    again = datasets.digits_on_canvas("val", canvas=40, size=16, seed=3).tensors[2]
    other = datasets.digits_on_canvas("val", canvas=40, size=16, seed=4).tensors[2]
    assert torch.equal(boxes, again) and not torch.equal(boxes, other)
    with pytest.raises(ValueError, match="canvas must be an int >= size"):
        datasets.digits_on_canvas("val", canvas=12, size=16)


PEOPLE = {"classes": ("person",), "size_range": (0.45, 0.8), "max_objects": 3}


def test_back_facing_is_off_by_default_and_leaves_scenes_unchanged():
    for i in range(10):
        for options in ({}, PEOPLE, {"classes": ("circle", "person")}):
            image, target = render_scene(6, i, **options)
            again, target0 = render_scene(6, i, back_facing=0.0, **options)
            assert torch.equal(image, again) and "from_back" not in target
            assert target.keys() == target0.keys()
            assert all(torch.equal(target[k], target0[k]) for k in target)


def test_people_seen_from_the_back_are_mirrored_and_faceless():
    left = datasets.PERSON_KEYPOINTS.index("left_hand")
    right = datasets.PERSON_KEYPOINTS.index("right_hand")
    front, back, faces = [], [], []
    for i in range(60):
        image, t = render_scene(8, i, back_facing=0.5, **PEOPLE)
        kps = t["keypoints"]
        assert t["from_back"].dtype == torch.bool and t["from_back"].shape == t["labels"].shape
        side = kps[:, left, 0] > kps[:, right, 0]  # left hand on the image's right
        front.append(side[~t["from_back"]])
        back.append(side[t["from_back"]])
        for n in range(len(kps)):  # the head's centre pixel: face colour, or the body's
            x, y = kps[n, 0, :2].long().tolist()
            if kps[n, 0, 2] == 2 and 0 < x < 63 and 0 < y < 63:
                neck = kps[n, 1, :2].long().tolist()
                if kps[n, 1, 2] == 2:
                    gap = (image[:, y, x] - image[:, neck[1], neck[0]]).abs().sum()
                    faces.append((bool(t["from_back"][n]), gap.item()))
    front, back = torch.cat(front).float(), torch.cat(back).float()
    assert len(front) > 30 and len(back) > 30
    assert front.mean() > 0.9 and back.mean() < 0.1  # mirrored: left hand on the image's left
    front_gap = np.median([g for b, g in faces if not b])
    back_gap = np.median([g for b, g in faces if b])
    assert front_gap > 0.3 > back_gap  # a face (contrasting) only on those facing the viewer
    assert all(
        render_scene(8, i, back_facing=1.0, **PEOPLE)[1]["from_back"].all() for i in range(5)
    )
    ds = ShapesScenes(2, seed=1, back_facing=0.5, **PEOPLE)
    assert torch.equal(
        ds[1][1]["from_back"], render_scene(1, 1, back_facing=0.5, **PEOPLE)[1]["from_back"]
    )


def test_left_and_right_limbs_have_the_same_distribution_up_to_a_mirror():
    # Per limb, statistics that a mirror (x -> -x) leaves alone: the share of hands (feet)
    # above their elbows (knees), the share of limbs bent one way (the sign of the bend,
    # times the side the limb points to), and the mean mirrored joint positions. A figure
    # whose right limbs were a rotation rather than a mirror of its left ones would have a
    # built-in handedness that survives a flip.
    from course_utils.datasets.shapes import _person_pose

    rng = np.random.default_rng(0)
    poses = np.stack([_person_pose(rng, 1.0) for _ in range(4000)])  # (P, K, 2)
    names = datasets.PERSON_KEYPOINTS
    flip = datasets.PERSON_FLIP_INDEX
    for root, joint, end in (("neck", "elbow", "hand"), ("pelvis", "knee", "foot")):
        stats = {}
        for side in ("left", "right"):
            a = poses[:, names.index(root)]
            b = poses[:, names.index(f"{side}_{joint}")]
            c = poses[:, names.index(f"{side}_{end}")]
            mirror = 1.0 if side == "left" else -1.0  # the left limbs point to +x
            upper, lower = b - a, c - b
            bend = mirror * (upper[:, 0] * lower[:, 1] - upper[:, 1] * lower[:, 0])
            stats[side] = np.array(
                [
                    (c[:, 1] < b[:, 1]).mean(),
                    (bend > 0).mean(),
                    (mirror * (b - a)[:, 0]).mean(),
                    (b - a)[:, 1].mean(),
                    (mirror * (c - a)[:, 0]).mean(),
                    (c - a)[:, 1].mean(),
                ]
            )
        assert np.abs(stats["left"] - stats["right"]).max() < 0.04, (joint, stats)
    # and the mirror of a pose (x -> -x, left <-> right) is as likely: the means agree
    mirrored = poses[:, list(flip)] * np.array([-1.0, 1.0])
    assert np.abs(mirrored.mean(0) - poses.mean(0)).max() < 0.03
