"""Time course_utils.ops (pure PyTorch) against torchvision.ops (C++) on realistic sizes.

Run from the repository root:  python benchmarks/detection_ops.py
It prints one line per op and size: median times over repeats and the ratio ours / torchvision.
A benchmark, not a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import time

import torch
import torchvision.ops as tvo

from course_utils import ops


def median_time(fn, repeats: int = 15) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def random_boxes(g: torch.Generator, k: int, image: float, extent: float = 0.3) -> torch.Tensor:
    """Boxes anywhere on the image, up to ``extent`` of its side."""
    xy = torch.rand(k, 2, generator=g) * image * 0.8
    wh = torch.rand(k, 2, generator=g) * image * extent + 4
    return torch.cat([xy, xy + wh], 1)


def crowded_boxes(g: torch.Generator, k: int, image: float) -> torch.Tensor:
    """Jittered copies of ten objects' boxes, as a detector proposes them before NMS."""
    centres = torch.rand(10, 2, generator=g) * image * 0.75 + image * 0.125
    centres = centres[torch.randint(0, 10, (k,), generator=g)] + torch.randn(k, 2, generator=g) * 8
    wh = 60 + torch.randn(k, 2, generator=g) * 6
    return torch.cat([centres - wh / 2, centres + wh / 2], 1)


def main() -> None:
    torch.set_flush_denormal(True)
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'op':10s} {'size':46s} {'ours':>9s} {'torchvision':>12s} {'ratio':>6s}")
    # RPN proposals per image, before and after pre-NMS top-k: spread over the image (most
    # kept) and crowded (jittered copies of ten objects, most dropped: the greedy rule's worst
    # case for a vectorised loop, torchvision's best case)
    for kind, make in (("spread", random_boxes), ("crowded", crowded_boxes)):
        for k in (300, 1000, 2000):
            for threshold in (0.5, 0.7):
                boxes, scores = make(g, k, 800.0), torch.rand(k, generator=g)
                kept = tvo.nms(boxes, scores, threshold)
                assert torch.equal(ops.nms(boxes, scores, threshold), kept)
                ours = median_time(lambda b=boxes, s=scores, t=threshold: ops.nms(b, s, t))
                theirs = median_time(lambda b=boxes, s=scores, t=threshold: tvo.nms(b, s, t))
                row = f"{k} {kind}, IoU {threshold}: {len(kept)} kept"
                show("nms", row, ours, theirs)
    for n, c, side, k, extent in (
        (2, 64, 50, 512, 0.3),
        (8, 32, 16, 512, 0.3),
        (1, 256, 50, 1000, 0.3),
        (2, 64, 50, 512, 0.05),  # small RoIs only
        (1, 256, 50, 300, 0.8),  # RoIs up to 80% of the image
    ):
        x = torch.randn(n, c, side, side, generator=g)
        per_image = [random_boxes(g, k // n, side * 16.0, extent) for _ in range(n)]
        rois = torch.cat(
            [torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(per_image)]
        )
        assert torch.allclose(ops.roi_pool(x, rois, 7, 1 / 16), tvo.roi_pool(x, rois, 7, 1 / 16))
        ours = median_time(lambda x=x, r=rois: ops.roi_pool(x, r, 7, 1 / 16), repeats=7)
        theirs = median_time(lambda x=x, r=rois: tvo.roi_pool(x, r, 7, 1 / 16), repeats=7)
        row = f"{k} RoIs <= {extent:.0%}, ({n}, {c}, {side}, {side}), 7x7, /16"
        show("roi_pool", row, ours, theirs)
    # roi_align: issue 7's size (256 RoIs, 64 x 50 x 50, adaptive sampling), then the detector's
    # box head in training (512 RoIs on a stride-4 16x16 map, forward and backward)
    x = torch.randn(2, 64, 50, 50, generator=g)
    rois = torch.cat(
        [torch.randint(0, 2, (256, 1), generator=g).float(), random_boxes(g, 256, 50.0)], 1
    )
    assert torch.allclose(ops.roi_align(x, rois, 7), tvo.roi_align(x, rois, 7), atol=1e-5)
    ours = median_time(lambda: ops.roi_align(x, rois, 7), repeats=7)
    theirs = median_time(lambda: tvo.roi_align(x, rois, 7), repeats=7)
    show("roi_align", "256 RoIs, (2, 64, 50, 50) map, 7x7, adaptive", ours, theirs)
    x = torch.randn(8, 32, 16, 16, generator=g, requires_grad=True)
    rois = torch.cat(
        [torch.randint(0, 8, (512, 1), generator=g).float(), random_boxes(g, 512, 64.0)], 1
    )

    def step(fn):
        return lambda: fn(x, rois, 7, 0.25, 1).sum().backward()

    ours, theirs = (
        median_time(step(ops.roi_align), repeats=7),
        median_time(step(tvo.roi_align), repeats=7),
    )
    show("roi_align", "512 RoIs, (8, 32, 16, 16), 7x7, fwd + backward", ours, theirs)


def show(op: str, row: str, ours: float, theirs: float) -> None:
    print(f"{op:10s} {row:46s} {ours * 1e3:7.2f}ms {theirs * 1e3:10.2f}ms {ours / theirs:6.1f}")


if __name__ == "__main__":
    main()
