"""Synthetic "shapes" scenes: one seeded generator for every task of the course.

Each scene is an RGB image of 1..N coloured shapes on a textured, cluttered background.
Its annotations serve classification, semantic segmentation, object detection and instance
segmentation at once (notebooks 05-08):

- ``boxes``: (N, 4) float32, (x1, y1, x2, y2) in pixels, the tight box of the *visible*
  part of each object, in continuous coordinates: a mask covering pixel columns 3..5 has
  x1 = 3 and x2 = 6 (``torchvision.ops.masks_to_boxes`` would give x2 = 5);
- ``labels``: (N,) int64 in 1..C (0 is reserved for the background);
- ``masks``: (N, H, W) uint8, the visible pixels of each object (objects painted later
  occlude earlier ones, so masks never overlap);
- ``semantic``: (H, W) int64, the class of every pixel (0 = background), equal to the union
  of the instance masks;
- ``keypoints`` (only when ``"person"`` is one of the classes): (N, K, 3) float32, the
  (x, y, visibility) of the K = 11 :data:`PERSON_KEYPOINTS` of every person, in torchvision's
  (and COCO's) format: visibility 2 = visible, 1 = hidden by an object painted over it (the
  location is still known and labelled), 0 = outside the image (not labelled). Objects that
  are not people have all-zero rows.
- ``from_back`` (only when ``back_facing > 0``): (N,) bool, True for the people seen from
  the back (always False for other objects).

The colour of an object is random and independent of its class: only the shape tells the
class. Scene ``i`` of a dataset with seed ``s`` is always the same image, whatever order
the scenes are drawn in. Rendering a 64x64 scene takes about a millisecond.

New shape classes register a drawing function in :data:`SHAPES`. The class ``"person"``
(notebook 08) is a stick figure with a random pose: it is drawn from its keypoints and
:data:`PERSON_SKELETON` rather than from a mask function. By default every figure faces the
viewer; with ``back_facing=p`` each person is seen from the back with probability ``p``: the
figure is drawn mirrored (its anatomical left limbs on the image's left) and the figures that
face the viewer get a face, a contrasting disc inside the head, so the two can be told apart. The
keypoint labels stay anatomical (``left_hand`` is the person's own left hand), and
:data:`PERSON_FLIP_INDEX` is the left/right permutation a horizontal flip needs. The right limbs'
random angles are the mirror image of the left limbs' (same distribution) and people are lit
from above (other shapes from one of their own sides), so a person flipped left to right, with
left and right swapped, is as likely as the original: only the face tells front from back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import tv_tensors

__all__ = [
    "PERSON_FLIP_INDEX",
    "PERSON_KEYPOINTS",
    "PERSON_SKELETON",
    "SHAPES",
    "SHAPE_CLASSES",
    "ShapesScenes",
    "render_scene",
]

#: The default classes, in label order (label 1 is the first).
SHAPE_CLASSES = ("circle", "square", "triangle")

DrawFn = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


# Each drawing function receives the pixel-centre coordinates (u, v) already centred on the
# object and rotated into its frame, and the object's radius r; it returns a bool mask.
def _circle(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    return u * u + v * v <= r * r


def _square(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    half = 0.8 * r
    return (np.abs(u) <= half) & (np.abs(v) <= half)


def _triangle(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    # Equilateral triangle with circumradius r: inside all three half-planes whose
    # normals point away from the vertices, at distance r/2 (the inradius).
    inside = np.ones(u.shape, dtype=bool)
    for k in range(3):
        a = -np.pi / 2 + 2 * np.pi * k / 3  # vertex directions
        inside &= -(u * np.cos(a) + v * np.sin(a)) <= r / 2
    return inside


def _star(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    rho = np.hypot(u, v)
    phase = (np.arctan2(v, u) * 5 / (2 * np.pi)) % 1.0  # five points
    tri = np.abs(2 * phase - 1)  # 1 at a point, 0 between points
    return rho <= r * (0.45 + 0.55 * tri)


def _ring(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    rho2 = u * u + v * v
    return (rho2 <= r * r) & (rho2 >= (0.55 * r) ** 2)


def _cross(u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    w = 0.3 * r
    au, av = np.abs(u), np.abs(v)
    return ((au <= w) & (av <= r)) | ((av <= w) & (au <= r))


#: Drawing functions by class name. Any subset, in any order, can be a dataset's classes.
SHAPES: dict[str, DrawFn] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "star": _star,
    "ring": _ring,
    "cross": _cross,
}


#: The stick figure's landmarks, in keypoint order. A figure that faces the viewer has its
#: left limbs on the image's right, as in COCO's annotations; one seen from the back
#: (``back_facing``) has them on the image's left.
PERSON_KEYPOINTS = (
    "head",
    "neck",
    "left_elbow",
    "left_hand",
    "right_elbow",
    "right_hand",
    "pelvis",
    "left_knee",
    "left_foot",
    "right_knee",
    "right_foot",
)

#: The bones: pairs of keypoint indices joined by a limb (the head is a disc around "head").
PERSON_SKELETON = ((0, 1), (1, 2), (2, 3), (1, 4), (4, 5), (1, 6), (6, 7), (7, 8), (6, 9), (9, 10))

#: Each landmark's mirror partner (left <-> right; head, neck and pelvis are their own): after
#: a horizontal flip, landmark k of the flipped person is landmark PERSON_FLIP_INDEX[k] of the
#: original (torchvision's references call this permutation ``flip_inds``).
PERSON_FLIP_INDEX = (0, 1, 4, 5, 2, 3, 6, 9, 10, 7, 8)


def _person_pose(rng: np.random.Generator, r: float) -> np.ndarray:
    """Random keypoints (K, 2) of a figure of height ~2r in its own frame (x right, y down)."""
    deg = np.pi / 180
    points = np.zeros((len(PERSON_KEYPOINTS), 2))
    points[1] = (0.0, -0.5 * r)  # neck
    points[0] = points[1] + (rng.uniform(-0.06, 0.06) * r, -0.27 * r)  # head centre
    points[6] = (0.0, 0.1 * r)  # pelvis
    # Limb angles are measured from straight down, positive towards the figure's left
    # (image right); each right limb is the mirror image (x -> -x) of its own random draw, so
    # that left and right limbs have the same distribution up to a mirror.
    for side, (elbow, hand, knee, foot) in ((1, (2, 3, 7, 8)), (-1, (4, 5, 9, 10))):
        upper = rng.uniform(20, 160) * deg  # from arms down to raised overhead
        fore = upper + rng.uniform(-40, 100) * deg
        points[elbow] = points[1] + 0.34 * r * np.array([side * np.sin(upper), np.cos(upper)])
        points[hand] = points[elbow] + 0.32 * r * np.array([side * np.sin(fore), np.cos(fore)])
        thigh = rng.uniform(3, 45) * deg
        shin = thigh + rng.uniform(-35, 20) * deg
        points[knee] = points[6] + 0.45 * r * np.array([side * np.sin(thigh), np.cos(thigh)])
        points[foot] = points[knee] + 0.45 * r * np.array([side * np.sin(shin), np.cos(shin)])
    return points


def _segment_distance(xx: np.ndarray, yy: np.ndarray, p: np.ndarray, q: np.ndarray):
    """Distance of every pixel centre to each segment p[i]-q[i]: (S, H, W)."""
    d = (q - p)[:, :, None, None]
    rel = np.stack([xx - p[:, 0, None, None], yy - p[:, 1, None, None]], axis=1)  # (S, 2, H, W)
    t = np.clip((rel * d).sum(1) / np.maximum((d * d).sum(1), 1e-9), 0, 1)
    return np.linalg.norm(rel - t[:, None] * d, axis=1)


def _draw_person(
    rng, xx, yy, cx, cy, r, angle, from_back: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A stick figure centred at (cx, cy), tilted by ``angle``: (mask, keypoints (K, 2)).

    ``from_back``: the figure is seen from the back, the mirror image of the same pose seen
    from the front (its left limbs on the image's left)."""
    cos, sin = np.cos(angle), np.sin(angle)
    local = _person_pose(rng, r)
    if from_back:
        local[:, 0] = -local[:, 0]
    points = np.stack(
        [cx + local[:, 0] * cos - local[:, 1] * sin, cy + local[:, 0] * sin + local[:, 1] * cos], 1
    )
    bones = np.array(PERSON_SKELETON[1:])  # the neck-head bone is inside the head's disc
    limbs = _segment_distance(xx, yy, points[bones[:, 0]], points[bones[:, 1]])
    mask = limbs.min(0) <= max(0.8, 0.07 * r)
    mask |= np.hypot(xx - points[0, 0], yy - points[0, 1]) <= max(0.8, 0.19 * r)
    return mask, points.astype(np.float32)


def _face(xx, yy, points: np.ndarray, r: float) -> np.ndarray:
    """The face of a figure that faces the viewer: a disc at the head's centre, about half the
    head's radius (at least one pixel centre); it is painted darker than a light figure and
    lighter than a dark one."""
    return np.hypot(xx - points[0, 0], yy - points[0, 1]) <= max(0.75, 0.1 * r)


@dataclass(frozen=True)
class _Config:
    image_size: int
    classes: tuple[str, ...]
    min_objects: int
    max_objects: int
    size_range: tuple[float, float]
    max_occlusion: float
    clutter: int
    noise: float
    back_facing: float = 0.0


def _check_config(cfg: _Config) -> None:
    if not isinstance(cfg.image_size, int) or cfg.image_size < 16:
        raise ValueError(f"image_size must be an int >= 16, got {cfg.image_size!r}")
    if len(cfg.classes) == 0:
        raise ValueError("classes must name at least one shape")
    unknown = [c for c in cfg.classes if c not in SHAPES and c != "person"]
    if unknown:
        raise ValueError(f"unknown shape classes {unknown}; known: {sorted(SHAPES)} and 'person'")
    if len(set(cfg.classes)) != len(cfg.classes):
        raise ValueError(f"classes must not repeat, got {cfg.classes}")
    if not (1 <= cfg.min_objects <= cfg.max_objects):
        raise ValueError(
            f"need 1 <= min_objects <= max_objects, got {cfg.min_objects}, {cfg.max_objects}"
        )
    lo, hi = cfg.size_range
    if not (0 < lo <= hi <= 1):
        raise ValueError(f"size_range must satisfy 0 < low <= high <= 1, got {cfg.size_range}")
    if lo * cfg.image_size < 6:
        raise ValueError(
            f"objects would be under 6 pixels across: size_range[0] * image_size = "
            f"{lo * cfg.image_size:.1f}; raise size_range[0] or image_size"
        )
    if not (0 <= cfg.max_occlusion < 1):
        raise ValueError(f"max_occlusion must be in [0, 1), got {cfg.max_occlusion}")
    if cfg.clutter < 0 or cfg.noise < 0:
        raise ValueError("clutter and noise must be >= 0")
    if not (0 <= cfg.back_facing <= 1):
        raise ValueError(f"back_facing must be a probability in [0, 1], got {cfg.back_facing}")


def _smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A smooth random field in [0, 1]: a cells x cells grid upsampled bilinearly."""
    coarse = torch.from_numpy(rng.random((1, 1, cells, cells), dtype=np.float32))
    fine = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return fine[0, 0].clamp(0, 1).numpy()


def _random_colour(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """A saturated RGB colour, at least some distance from ``avoid`` when given."""
    for _ in range(20):
        colour = rng.random(3, dtype=np.float32)
        colour[rng.integers(3)] = rng.uniform(0.75, 1.0)  # one strong channel
        colour[rng.integers(3)] *= 0.4  # one weak channel: saturated
        if avoid is None or np.abs(colour - avoid).sum() > 0.6:
            break
    return colour


def _background(rng: np.random.Generator, s: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    c0, c1 = rng.uniform(0.15, 0.85, size=(2, 3)).astype(np.float32)
    blend = _smooth_field(rng, s, int(rng.integers(3, 7)))[..., None]
    image = c0 * (1 - blend) + c1 * blend
    if rng.random() < 0.5:  # stripes
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(4, 12)
        wave = np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
        image = image + (0.08 * wave)[..., None]
    return image


def _add_clutter(rng: np.random.Generator, image: np.ndarray, yy, xx, count: int) -> None:
    """Thin line segments and small dots: background that a model must learn to ignore."""
    s = image.shape[0]
    for _ in range(count):
        colour = _random_colour(rng)
        if rng.random() < 0.5:
            p = rng.uniform(0, s, size=2)
            q = p + rng.uniform(-0.4 * s, 0.4 * s, size=2)
            d = q - p
            t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / max(d @ d, 1e-6), 0, 1)
            dist = np.hypot(xx - (p[0] + t * d[0]), yy - (p[1] + t * d[1]))
            mark = dist <= rng.uniform(0.5, 1.0)
        else:
            c = rng.uniform(0, s, size=2)
            mark = np.hypot(xx - c[0], yy - c[1]) <= rng.uniform(1.0, 2.0)
        image[mark] = colour


def _keypoint_targets(landmarks: list, masks: np.ndarray, size: int) -> np.ndarray:
    """(N, K, 3) x, y, visibility: 2 where the object's visible mask covers the landmark's
    pixel, 1 where a later object hides it, 0 outside the image (and for non-people)."""
    out = np.zeros((len(landmarks), len(PERSON_KEYPOINTS), 3), dtype=np.float32)
    for n, points in enumerate(landmarks):
        if points is None:
            continue
        out[n, :, :2] = points
        col, row = np.floor(points).astype(int).T
        inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        shown = masks[n][row.clip(0, size - 1), col.clip(0, size - 1)]
        out[n, :, 2] = np.where(inside, np.where(shown, 2, 1), 0)
    return out


@dataclass
class _Object:
    """One object of a scene: a candidate placement until it is accepted, then a placed one."""

    label: int
    mask: np.ndarray  # (H, W) bool: its pixels; once placed, later objects clear theirs from it
    area: int  # its full area, before any later object hides part of it
    r: float  # its radius in pixels
    across: np.ndarray  # (H, W) the coordinate that its lighting varies along, in pixels
    points: np.ndarray | None = None  # a person's keypoints (K, 2), else None
    from_back: bool = False


def _draw_candidate(rng: np.random.Generator, cfg: _Config, label: int, xx, yy) -> _Object:
    """One random placement of an object of class ``label``, not yet checked against the scene.

    Random draws, in this order: radius, centre, angle, then for a person whether it is seen
    from the back (only when ``back_facing > 0``, so that default scenes stay as they were)
    and its pose."""
    s = cfg.image_size
    name = cfg.classes[label - 1]
    r = rng.uniform(*cfg.size_range) * s / 2
    if name == "person":  # upright-ish, its whole height inside the image
        cx, cy = rng.uniform(0.5 * r, s - 0.5 * r), rng.uniform(0.9 * r, s - 0.9 * r)
        angle = rng.uniform(-0.3, 0.3)
        # No extra draw when back_facing is 0: default scenes stay as they were.
        back = cfg.back_facing > 0 and bool(rng.random() < cfg.back_facing)
        mask, points = _draw_person(rng, xx, yy, cx, cy, r, angle, back)
        # Lit from above, so that a horizontal flip leaves its lighting as it could be drawn.
        return _Object(label, mask, int(mask.sum()), r, cy - yy, points, back)
    cx, cy = rng.uniform(0.6 * r, s - 0.6 * r, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    u = (xx - cx) * cos + (yy - cy) * sin  # the object's own frame
    mask = SHAPES[name](u, -(xx - cx) * sin + (yy - cy) * cos, r)
    return _Object(label, mask, int(mask.sum()), r, u)  # lit from one of its own sides


def _leaves_visible(mask: np.ndarray, placed: list[_Object], max_occlusion: float) -> bool:
    """Whether every placed object stays visible enough under ``mask``: at least
    ``1 - max_occlusion`` of its full area, and never fewer than 8 pixels."""
    return all((obj.mask & ~mask).sum() >= max((1 - max_occlusion) * obj.area, 8) for obj in placed)


def _place_object(
    rng: np.random.Generator, cfg: _Config, label: int, xx, yy, placed: list[_Object]
) -> _Object | None:
    """Up to 30 random placements of an object of class ``label``: the first that is at least
    8 pixels large and goes on top of ``placed`` without hiding too much of them, or None."""
    for _attempt in range(30):
        candidate = _draw_candidate(rng, cfg, label, xx, yy)
        if candidate.area >= 8 and _leaves_visible(candidate.mask, placed, cfg.max_occlusion):
            return candidate
    return None


def _paint(rng: np.random.Generator, image: np.ndarray, obj: _Object, xx, yy, faces: bool) -> None:
    """Paint ``obj`` over ``image``: a random colour that stands out from the background under
    it, shaded across the object, and with ``faces`` a contrasting face on a person that faces
    the viewer."""
    local_bg = image[obj.mask].mean(axis=0)
    colour = _random_colour(rng, avoid=local_bg)
    shade = 1.0 + 0.15 * (obj.across / obj.r)[obj.mask]
    image[obj.mask] = colour * shade[:, None]
    if faces and obj.points is not None and not obj.from_back:
        face = 0.3 * colour if colour.mean() > 0.4 else 0.6 + 0.4 * colour
        image[_face(xx, yy, obj.points, obj.r) & obj.mask] = face


def _annotations(placed: list[_Object], cfg: _Config) -> dict[str, torch.Tensor]:
    """The target of :func:`render_scene` from the placed objects' visible masks."""
    s = cfg.image_size
    labels = [obj.label for obj in placed]
    masks = np.stack([obj.mask for obj in placed]) if placed else np.zeros((0, s, s), dtype=bool)
    semantic = np.zeros((s, s), dtype=np.int64)
    boxes = np.zeros((len(placed), 4), dtype=np.float32)
    for k, label in enumerate(labels):
        semantic[masks[k]] = label
        ys, xs = np.nonzero(masks[k])
        boxes[k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    target = {
        "boxes": torch.from_numpy(boxes),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": torch.from_numpy(masks.astype(np.uint8)),
        "semantic": torch.from_numpy(semantic),
    }
    if "person" in cfg.classes:
        landmarks = [obj.points for obj in placed]
        target["keypoints"] = torch.from_numpy(_keypoint_targets(landmarks, masks, s))
    if cfg.back_facing > 0:
        target["from_back"] = torch.tensor([obj.from_back for obj in placed], dtype=torch.bool)
    return target


def render_scene(
    seed: int,
    index: int,
    *,
    image_size: int = 64,
    classes: Sequence[str] = SHAPE_CLASSES,
    min_objects: int = 1,
    max_objects: int = 4,
    size_range: tuple[float, float] = (0.2, 0.45),
    max_occlusion: float = 0.4,
    clutter: int = 3,
    noise: float = 0.03,
    back_facing: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Render scene ``index`` of the stream with ``seed`` (same inputs, same scene).

    Args:
        seed, index: non-negative ints; together they fix the scene.
        image_size: side of the square image in pixels.
        classes: shape names from :data:`SHAPES` or ``"person"``; label k is
            ``classes[k - 1]``.
        min_objects, max_objects: how many objects to place (fewer only when no free
            placement is found, never fewer than one).
        size_range: object diameter as a fraction of the image side (low, high).
        max_occlusion: the largest fraction of an object that later objects may hide.
        clutter: number of distractor marks (thin lines, dots) in the background.
        noise: standard deviation of the per-pixel Gaussian noise.
        back_facing: the probability that a person is seen from the back (drawn mirrored,
            without a face); when it is > 0 the people that face the viewer get a face.
            At 0 (the default) nobody has a face and the scenes are those of earlier versions.

    Returns:
        ``(image, target)``: image float32 (3, H, W) in [0, 1]; target with ``boxes``
        (N, 4) float32 XYXY, ``labels`` (N,) int64, ``masks`` (N, H, W) uint8 and
        ``semantic`` (H, W) int64, and with a ``"person"`` class ``keypoints`` (N, K, 3)
        float32 and with ``back_facing > 0`` ``from_back`` (N,) bool, as described in the
        module docstring.
    """
    cfg = _Config(
        image_size,
        tuple(classes),
        min_objects,
        max_objects,
        tuple(size_range),
        max_occlusion,
        clutter,
        noise,
        back_facing,
    )
    _check_config(cfg)
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got {seed}, {index}")
    rng = np.random.default_rng([seed, index])
    s = cfg.image_size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5  # pixel centres

    image = _background(rng, s, yy, xx)
    _add_clutter(rng, image, yy, xx, cfg.clutter)

    wanted = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    placed: list[_Object] = []
    for _ in range(wanted):
        label = int(rng.integers(len(cfg.classes))) + 1
        obj = _place_object(rng, cfg, label, xx, yy, placed)
        if obj is None:
            continue  # no free placement found for this object: leave it out
        for earlier in placed:  # the new object goes on top
            earlier.mask &= ~obj.mask
        placed.append(obj)
        _paint(rng, image, obj, xx, yy, faces=cfg.back_facing > 0)

    image = image + rng.normal(0, cfg.noise, size=image.shape).astype(np.float32)
    image = np.clip(image, 0, 1).astype(np.float32)
    target = _annotations(placed, cfg)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))), target


class ShapesScenes(Dataset):
    """A dataset of :func:`render_scene` scenes, rendered on the fly (about 1 ms each).

    ``dataset[i]`` returns ``(image, target)`` with tv_tensors, so that
    ``torchvision.transforms.v2`` transforms (flips, crops, elastic...) move the boxes and
    masks along with the image:

    - image: ``tv_tensors.Image`` float32 (3, H, W) in [0, 1];
    - target: ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY), ``labels`` (int64),
      ``masks`` (``tv_tensors.Mask`` uint8, (N, H, W)), ``semantic`` (``tv_tensors.Mask``
      int64, (H, W)), ``image_id`` (int) and, with a ``"person"`` class, ``keypoints``
      ((N, K, 3) float32, a plain tensor: v2 transforms do not move it, and a flip would also
      have to swap left and right landmarks: :func:`course_utils.transforms.horizontal_flip`
      does both) and, with ``back_facing > 0``, ``from_back`` ((N,) bool).

    Args:
        num_images: length of the dataset.
        seed: datasets with different seeds are disjoint streams of scenes; use one seed
            for training and another for held-out evaluation.
        transforms: optional callable ``(image, target) -> (image, target)``, for example a
            ``torchvision.transforms.v2.Compose``.
        **scene_options: passed to :func:`render_scene` (``image_size``, ``classes``,
            ``min_objects``, ``max_objects``, ``size_range``, ``max_occlusion``,
            ``clutter``, ``noise``, ``back_facing``).
    """

    def __init__(
        self,
        num_images: int,
        *,
        seed: int = 0,
        transforms: Callable | None = None,
        **scene_options,
    ) -> None:
        if not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f"num_images must be a positive int, got {num_images!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.num_images = num_images
        self.seed = seed
        self.transforms = transforms
        self.scene_options = scene_options
        render_scene(seed, 0, **scene_options)  # validates the options now, not later
        self.classes = tuple(scene_options.get("classes", SHAPE_CLASSES))

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names by label: ``class_names[0] == "background"``."""
        return ("background", *self.classes)

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int):
        if not -self.num_images <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} scenes")
        index %= self.num_images
        image, raw = render_scene(self.seed, index, **self.scene_options)
        size = tuple(image.shape[-2:])
        target = {
            "boxes": tv_tensors.BoundingBoxes(raw["boxes"], format="XYXY", canvas_size=size),
            "labels": raw["labels"],
            "masks": tv_tensors.Mask(raw["masks"]),
            "semantic": tv_tensors.Mask(raw["semantic"]),
            "image_id": index,
        }
        for key in ("keypoints", "from_back"):
            if key in raw:
                target[key] = raw[key]
        image = tv_tensors.Image(image)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target
