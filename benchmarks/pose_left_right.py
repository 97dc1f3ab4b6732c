"""Left/right swaps of notebook 08's Keypoint R-CNN, with and without flip augmentation.

Run from the repository root:  python benchmarks/pose_left_right.py [variant ...] [--seeds 0 1 2]
Variants: ``front`` (the notebook's main model: people all face the viewer, no flip), ``mixed``
(half the people seen from the back, no flip), ``flip`` (mixed, horizontal flips that swap left
and right), ``flip-noswap`` (mixed, flips that forget the swap: the classic bug). Each trains the
notebook's model and recipe (FAST budget) and prints, on 200 held-out mixed scenes, PCK@0.1 and
the share of paired landmarks (elbows, hands, knees, feet) of detected people that are swapped
(wrong, and within PCK@0.1's radius of their mirror partner's true position), for people facing
the viewer and seen from the back. With ``--faceless``, also on the same scenes drawn without the
faces (does the model read them?). One line per variant and seed (about 45 s each on 2 CPU cores).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.data import DataLoader

from course_utils import datasets, env, metrics, models, train, transforms
from course_utils.datasets import shapes

SCENES = dict(classes=("person",), size_range=(0.45, 0.8), max_occlusion=0.25, max_objects=3)
FLIP = torch.tensor(datasets.PERSON_FLIP_INDEX)
K = len(datasets.PERSON_KEYPOINTS)


def build(seed: int):
    env.seed_everything(seed)
    return models.keypoint_rcnn(
        K,
        1,
        models.Backbone(widths=(32,) * 6, strides=(2, 1, 2, 1, 1, 1)),
        box_batch_size_per_image=32,
        rpn_pre_nms_top_n_train=200,
        box_score_thresh=0.01,
    )


def swaps(preds, targets, from_back):
    """PCK@0.1 and the swapped share of paired landmarks, (all, front, back)."""
    confident = [{k: v[p["scores"] >= 0.5] for k, v in p.items()} for p in preds]
    pred_xy, truth, boxes = metrics.match_people(confident, targets)
    swapped, paired = metrics.left_right_swaps(pred_xy, truth, boxes, FLIP)
    share = [
        (swapped[rows].sum() / paired[rows].sum()).item()
        for rows in (torch.ones_like(from_back), ~from_back, from_back)
    ]
    return metrics.pck(pred_xy, truth, boxes), share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*", default=["front", "mixed", "flip"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument(
        "--faceless",
        action="store_true",
        help="also score each model on the same held-out scenes drawn without faces",
    )
    args = parser.parse_args()
    env.setup(seed=0)
    test = datasets.ShapesScenes(200, seed=2, back_facing=0.5, **SCENES)
    pairs = [test[i] for i in range(len(test))]
    images = datasets.plain([image for image, _ in pairs])
    targets = datasets.plain([t for _, t in pairs], keys=("boxes", "labels", "keypoints"))
    from_back = torch.cat([t["from_back"] for _, t in pairs])
    if args.faceless:  # the faces use no random numbers: without them, the scenes are the same
        draw_face = shapes._face
        shapes._face = lambda xx, yy, points, r: np.zeros_like(xx, dtype=bool)
        faceless = datasets.plain([test[i][0] for i in range(len(test))])
        shapes._face = draw_face
    for variant in args.variants:
        back = 0.0 if variant == "front" else 0.5
        train_set = datasets.ShapesScenes(800, seed=1, back_facing=back, **SCENES)
        train_pairs = [train_set[i] for i in range(len(train_set))]
        flip = {"flip": FLIP.tolist(), "flip-noswap": list(range(K))}.get(variant)
        for seed in args.seeds:
            model = build(seed)
            collate = datasets.detection_collate
            if flip is not None:
                augment = transforms.RandomHorizontalFlip(flip, p=0.5)
                collate = lambda b, a=augment: datasets.detection_collate([a(*s) for s in b])  # noqa: E731
            loader = DataLoader(train_pairs, batch_size=8, shuffle=True, collate_fn=collate)
            optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-4)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, 5e-3, total_steps=args.iterations, pct_start=0.1
            )
            train.fit_detector(
                model,
                loader,
                optimizer,
                iterations=args.iterations,
                scheduler=scheduler,
                progress=False,
            )
            pck, (all_, front, back_share) = swaps(train.detect(model, images), targets, from_back)
            line = (
                f"{variant:12s} seed {seed}: PCK@0.1 {pck:.3f} | swapped: all {all_:.3f}, "
                f"front {front:.3f}, back {back_share:.3f}"
            )
            if args.faceless:  # the same held-out scenes with the faces left out
                pck, (all_, front, back_share) = swaps(
                    train.detect(model, faceless), targets, from_back
                )
                line += (
                    f" || no faces: PCK@0.1 {pck:.3f} | swapped: all {all_:.3f}, "
                    f"front {front:.3f}, back {back_share:.3f}"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
