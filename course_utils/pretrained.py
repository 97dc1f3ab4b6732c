"""torchvision's pretrained models on real photos: the optional last cells of notebooks 04, 06-08.

The weights (100-230 MB) are the only downloads in the course, so nothing is fetched unless asked:
:func:`show_on_photos` downloads when ``download=True`` (the notebooks pass ``True`` on Colab),
uses weights already in torch's cache, and otherwise prints one line saying how to get them.
``weights=None`` builds the same model with random weights and no download, which is how the
tests run this code offline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torchvision
from torchvision.models import detection

from . import viz
from .datasets.photos import sample_image
from .env import pick_device

__all__ = ["COCO_SKELETON", "TASKS", "is_cached", "load", "predict", "show_on_photos"]

#: task -> (model builder, its pretrained weights, the photos shown by default)
TASKS = {
    "classification": (
        torchvision.models.resnet50,
        torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
        ("chelsea", "coffee", "rocket"),
    ),
    "detection": (
        detection.fasterrcnn_resnet50_fpn_v2,
        detection.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
        ("astronaut", "coffee", "chelsea"),
    ),
    "instance": (
        detection.maskrcnn_resnet50_fpn,
        detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
        ("astronaut", "coffee", "chelsea"),
    ),
    "keypoints": (
        detection.keypointrcnn_resnet50_fpn,
        detection.KeypointRCNN_ResNet50_FPN_Weights.COCO_V1,
        ("astronaut",),
    ),
}

#: The bones between COCO's 17 person keypoints (nose, eyes, ears, shoulders, elbows, wrists,
#: hips, knees, ankles), as pairs of 0-based indices.
COCO_SKELETON = (
    (0, 1), (0, 2), (1, 3), (2, 4),  # face
    (5, 6), (5, 7), (7, 9), (6, 8), (8, 10),  # shoulders and arms
    (5, 11), (6, 12), (11, 12),  # torso
    (11, 13), (13, 15), (12, 14), (14, 16),  # legs
)  # fmt: skip


def _task(task: str):
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[task]


def is_cached(task: str) -> bool:
    """Whether the task's pretrained weights are already in torch's download cache."""
    weights = _task(task)[1]
    path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    return os.path.exists(path)


def load(
    task: str,
    weights: str | None = "DEFAULT",
    device: torch.device | str = "cpu",
    **model_kwargs,
) -> torch.nn.Module:
    """The task's torchvision model in eval mode, on ``device``.

    Args:
        task: one of :data:`TASKS`.
        weights: ``"DEFAULT"`` for the pretrained weights (downloaded unless cached), or ``None``
            for random weights (nothing is downloaded, the backbone's weights neither).
        device: where the model goes (``env.pick_device()`` for the best one).
        model_kwargs: passed to the builder, for example ``min_size`` for the detectors.
    """
    builder, pretrained, _ = _task(task)
    if weights not in ("DEFAULT", None):
        raise ValueError(f"weights must be 'DEFAULT' or None, got {weights!r}")
    if weights is None:
        if task != "classification":
            model_kwargs.setdefault("weights_backbone", None)
        return builder(weights=None, **model_kwargs).eval().to(device)
    return builder(weights=pretrained, **model_kwargs).eval().to(device)


@torch.no_grad()
def predict(task: str, model: torch.nn.Module, photos: Sequence[torch.Tensor]) -> list[dict]:
    """Run ``model`` on (3, H, W) photos in [0, 1]; one dict per photo, on the model's device.

    The photos are sent to the model's device first. Classification gives
    ``{"probabilities": (1000,)}`` (the weights' own resize, crop and normalisation are
    applied); the detectors give torchvision's output dicts (``boxes``, ``labels``, ``scores``,
    and ``masks`` (N, H, W) in [0, 1] or ``keypoints`` (N, 17, 3)).
    """
    _, pretrained, _ = _task(task)
    device = next(model.parameters()).device
    photos = [p.to(device) for p in photos]
    if task == "classification":
        batch = torch.stack([pretrained.transforms()(p) for p in photos])
        return [{"probabilities": p} for p in model(batch).softmax(1)]
    return model(photos)


def show_on_photos(
    task: str,
    photos: Sequence[str] | None = None,
    download: bool = False,
    weights: str | None = "DEFAULT",
    score_threshold: float = 0.7,
    size: int | None = None,
    device: torch.device | str | None = None,
    **model_kwargs,
):
    """Draw the task's pretrained torchvision model's predictions on scikit-image's photos.

    Args:
        task: ``"classification"``, ``"detection"``, ``"instance"`` or ``"keypoints"``.
        photos: names from :data:`course_utils.datasets.PHOTOS` (default: a few per task).
        download: fetch the weights if they are not cached yet. When they are not cached and
            ``download`` is false, or the download fails (offline), print one line and
            return ``None``.
        weights: ``None`` runs the same code with random weights (nothing downloaded).
        score_threshold: the detectors' boxes below this score are not drawn.
        size: resize the photos' shorter side first (default: as shipped).
        device: where the model runs (default: ``env.pick_device()``, a GPU when there is one);
            the photos are sent there.

    Returns:
        ``(figure, outputs)`` with :func:`predict`'s outputs (moved to the CPU), or ``None``
        when skipped.
    """
    builder, pretrained, default_photos = _task(task)
    megabytes = pretrained.meta.get("_file_size", 0)
    if weights == "DEFAULT" and not download and not is_cached(task):
        print(
            f"Skipped: torchvision's pretrained {builder.__name__} is not downloaded; "
            f"call with download=True to fetch it ({megabytes:.0f} MB)."
        )
        return None
    try:
        model = load(task, weights, device or pick_device(), **model_kwargs)
    except OSError as error:  # no network (URLError is an OSError)
        print(f"Could not download {builder.__name__}'s weights (offline?): {error}")
        return None

    names = list(photos) if photos is not None else list(default_photos)
    images = [sample_image(name, size) for name in names]
    images = [im.expand(3, -1, -1) for im in images]  # grey photos as RGB
    outputs = [{k: v.cpu() for k, v in out.items()} for out in predict(task, model, images)]
    categories = pretrained.meta["categories"]
    fig, axes = plt.subplots(1, len(images), figsize=(3.2 * len(images), 3.4), squeeze=False)
    for ax, image, out in zip(axes[0], images, outputs, strict=True):
        if task == "classification":
            top = out["probabilities"].topk(3)
            ax.imshow(image.permute(1, 2, 0).cpu().numpy())
            ax.axis("off")
            lines = [
                f"{categories[i]} {p:.2f}" for p, i in zip(top.values, top.indices, strict=True)
            ]
            ax.set_title("\n".join(lines), fontsize=8)
            continue
        keep = out["scores"] >= score_threshold
        masks = out["masks"][keep, 0] >= 0.5 if "masks" in out else None
        viz.draw_detections(
            image,
            out["boxes"][keep],
            out["labels"][keep],
            masks=masks,
            scores=out["scores"][keep],
            class_names=categories,
            ax=ax,
            keypoints=out["keypoints"][keep] if "keypoints" in out else None,
            skeleton=COCO_SKELETON,
        )
        ax.set_title(f"{int(keep.sum())} found at score >= {score_threshold}", fontsize=8)
    fig.suptitle(f"torchvision's {builder.__name__} ({pretrained})", fontsize=9)
    fig.tight_layout()
    return fig, outputs
