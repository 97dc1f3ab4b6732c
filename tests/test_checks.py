"""Every exercise check passes the reference answer and fails unimplemented and wrong ones."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import checks, cost, losses, metrics, models, ops, regions
from course_utils.checks import core

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def verdict(check, fn, capsys, guard: bool = False) -> str:
    """The one line a check prints. The guard against delegation is off unless asked for: the
    references here are the course's twins, and many wrong answers are built from them."""
    with core.guarding_answers(guard):
        assert check(fn) is None  # a check cell shows only the printed line
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return out[0]


def ap_not_a_number(scores, true_positive, num_ground_truth):
    return float("nan")  # NaN compares false with everything: a check must not read it as close


def not_implemented(*args):
    raise NotImplementedError("Exercise: ...")


# ---------------------------------------------------------------- conv1x1 (notebook 01)


def conv1x1_no_bias(x, w, b=None):
    return torch.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)


def conv1x1_transposed_weight(x, w, b=None):
    out = torch.einsum("co,nchw->nohw", w[:, :, 0, 0], x)  # W^T: runs when C_in == C_out
    return out if b is None else out + b[None, :, None, None]


def conv1x1_channels_last(x, w, b=None):
    out = torch.einsum("oc,nchw->nhwo", w[:, :, 0, 0], x)
    return out if b is None else out + b


def conv1x1_bias_on_width(x, w, b=None):
    out = torch.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)
    return out if b is None else out + b  # broadcasts over W when shapes allow


def conv1x1_ignores_none_bias(x, w, b=None):
    return torch.einsum("oc,nchw->nohw", w[:, :, 0, 0], x) + b[None, :, None, None]


def conv1x1_spatial_sum(x, w, b=None):
    out = torch.einsum("oc,nchw->no", w[:, :, 0, 0], x)[:, :, None, None].expand(
        -1, -1, *x.shape[2:]
    )
    return out if b is None else out + b[None, :, None, None]


# ---------------------------------------------------------------- conv2d_cost (notebook 01)


def cost_without_bias(c_in, c_out, k, h, w, bias=True):
    return c_out * c_in * k * k, c_out * c_in * k * k * h * w


def cost_k_not_squared(c_in, c_out, k, h, w, bias=True):
    return c_out * (c_in * k + bias), c_out * c_in * k * h * w


def cost_macs_without_positions(c_in, c_out, k, h, w, bias=True):
    return c_out * (c_in * k * k + bias), c_out * c_in * k * k


def cost_macs_with_bias(c_in, c_out, k, h, w, bias=True):
    return c_out * (c_in * k * k + bias), c_out * (c_in * k * k + bias) * h * w


def cost_swapped(c_in, c_out, k, h, w, bias=True):
    return cost.conv2d_cost(c_in, c_out, k, h, w, bias)[::-1]


def cost_floats(c_in, c_out, k, h, w, bias=True):
    params, macs = cost.conv2d_cost(c_in, c_out, k, h, w, bias)
    return params + 0.5, float(macs)


# ---------------------------------------------------------------- global_avg_pool (notebook 02)


def gap_sum(x):
    return x.sum(dim=(2, 3))


def gap_max(x):
    return x.amax(dim=(2, 3))


def gap_keepdim(x):
    return x.mean(dim=(2, 3), keepdim=True)


def gap_over_channels(x):
    return x.mean(dim=1)


def gap_height_only(x):
    return x.mean(dim=2)[..., 0]


def gap_divides_by_height_twice(x):
    return x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[2])


# ---------------------------------------------------------------- conv_output_size (notebook 03)


def size_no_dilation(n, k, s=1, p=0, d=1):
    return (n + 2 * p - k) // s + 1


def size_one_sided_padding(n, k, s=1, p=0, d=1):
    return (n + p - d * (k - 1) - 1) // s + 1


def size_no_plus_one(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s


def size_true_division(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) / s + 1


def size_ceil(n, k, s=1, p=0, d=1):
    return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1


# ---------------------------------------------------------------- dropout (notebook 03)


def dropout_reference(x, p, training):
    if not training or p == 0:
        return x
    return x * (torch.rand_like(x) >= p) / (1 - p)


def dropout_no_scaling(x, p, training):
    return x * (torch.rand_like(x) >= p) if training else x


def dropout_scaled_at_eval(x, p, training):
    return x * (torch.rand_like(x) >= p) / (1 - p) if training else x / (1 - p)


def dropout_keeps_p(x, p, training):
    return x * (torch.rand_like(x) < p) / (1 - p) if training and p else x


def dropout_times_keep_prob(x, p, training):
    return x * (torch.rand_like(x) >= p) * (1 - p) if training else x


def dropout_one_mask_per_feature(x, p, training):
    return x * (torch.rand(x.shape[1:]) >= p) / (1 - p) if training and p else x


def dropout_whole_tensor(x, p, training):
    return x * (torch.rand(()) >= p) / (1 - p) if training and p else x


def dropout_also_at_eval(x, p, training):
    return x * (torch.rand_like(x) >= p) / (1 - p) if p else x


def dropout_in_place(x, p, training):
    if not training or p == 0:
        return x
    return x.mul_((torch.rand_like(x) >= p) / (1 - p))


def dropout_exact_count_per_row(x, p, training):  # drops exactly round(p * n) per row
    if not training or p == 0:
        return x
    order = torch.rand_like(x).argsort(dim=1).argsort(dim=1)  # a random rank per row
    return x * (order >= round(p * x.shape[1])) / (1 - p)


# ---------------------------------------------------------------- residual blocks (notebook 04)


class PlainBlock(models.BasicBlock):  # no shortcut at all
    def __init__(self, c_in, c_out, stride=1):
        super().__init__(c_in, c_out, stride)

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


class ReluBeforeAdd(models.BasicBlock):
    def forward(self, x):
        out = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class NoProjection(nn.Module):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        inner = models.BasicBlock(c_out, c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1, self.conv2, self.bn2 = inner.bn1, inner.conv2, inner.bn2

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + x)


class BiasedConvs(models.BasicBlock):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__(c_in, c_out, stride)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=True)


class StrideOnSecondConv(models.BasicBlock):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__(c_in, c_out, stride)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride, 1, bias=False)


class BottleneckStrideFirst(models.Bottleneck):  # ResNet v1 puts the stride on the 1x1
    def __init__(self, c_in, c_mid, stride=1):
        super().__init__(c_in, c_mid, stride)
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, stride=stride, bias=False)
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, padding=1, bias=False)


class BottleneckNoFinalRelu(models.Bottleneck):
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out)) + (x if self.downsample is None else self.downsample(x))


class BottleneckExpandsTwice(models.Bottleneck):
    expansion = 2


class BottleneckNoShortcut(models.Bottleneck):
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)))


# ---------------------------------------------------------------- Inception (notebook 01)


def inception_3a_macs_in_units():
    return 303_365_120, 128_049_152  # multiply-adds, not millions


def inception_3a_params_not_macs():
    return 0.387, 0.164  # millions of parameters


def inception_3a_flops():
    return 2 * 303.4, 2 * 128.0  # FLOPs = 2 x multiply-adds


def inception_3a_naive_without_1x1_branch():
    return 303.4 - 9.6, 128.0


def inception_3a_k_not_squared():
    return 9.6 + 173.4 / 3 + 120.4 / 5, 128.0


def inception_3a_reduced_without_pool_projection():
    return 303.4, 128.0 - 4.8


class InceptionLinearReductions(nn.Module):  # 1x1 reductions without their ReLU
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        conv = lambda i, o, k: nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2))  # noqa: E731
        self.branch1 = models.conv_relu(c_in, c1, 1)
        self.branch2 = nn.Sequential(conv(c_in, c3r, 1), models.conv_relu(c3r, c3, 3))
        self.branch3 = nn.Sequential(conv(c_in, c5r, 1), models.conv_relu(c5r, c5, 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), models.conv_relu(c_in, pp, 1))

    def forward(self, x):
        return torch.cat(
            [b(x) for b in (self.branch1, self.branch2, self.branch3, self.branch4)], 1
        )


class InceptionProjectThenPool(InceptionLinearReductions):  # pool after the projection
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp):
        super().__init__(c_in, c1, c3r, c3, c5r, c5, pp)
        ref = models.Inception(c_in, c1, c3r, c3, c5r, c5, pp)
        self.branch2, self.branch3 = ref.branch2, ref.branch3
        self.branch4 = nn.Sequential(nn.Identity(), ref.branch4[1])
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x):
        b4 = self.pool(self.branch4(x))
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), b4], 1)


class InceptionThreeByThreeForFive(nn.Module):  # torchvision's quirk: a 3x3 in the "5x5" branch
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        ref = models.Inception(c_in, c1, c3r, c3, c5r, c5, pp)
        self.branch1, self.branch2, self.branch4 = ref.branch1, ref.branch2, ref.branch4
        self.branch3 = nn.Sequential(models.conv_relu(c_in, c5r, 1), models.conv_relu(c5r, c5, 3))

    def forward(self, x):
        return torch.cat(
            [b(x) for b in (self.branch1, self.branch2, self.branch3, self.branch4)], 1
        )


class InceptionWrongOrder(models.Inception):  # concatenated 1, 3, 2, 4
    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch2(x), self.branch4(x)], 1)


class InceptionNaivePool(models.Inception):  # the pool branch passes all channels through
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp):
        super().__init__(c_in, c1, c3r, c3, c5r, c5, pp)
        self.branch4 = nn.MaxPool2d(3, 1, 1)


class InceptionNoPaddingOnFive(models.Inception):  # the 5x5 branch shrinks H and W
    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pp):
        super().__init__(c_in, c1, c3r, c3, c5r, c5, pp)
        self.branch3[1][0].padding = (1, 1)


# ---------------------------------------------------------------- CAM (notebook 02)


def cam_transposed_weight(features, weight):
    return torch.einsum("kc,nkhw->nchw", weight, features)  # reads W as (K, C)


def cam_spatial_means(features, weight):
    return torch.einsum("ck,nk->nc", weight, features.mean((2, 3)))  # the scores, not maps


def cam_relu(features, weight):
    return ops.class_activation_maps(features, weight).relu()  # drops the negative evidence


def cam_normalised(features, weight):
    maps = ops.class_activation_maps(features, weight)
    return maps / maps.flatten(2).amax(-1)[..., None, None].clamp(min=1e-6)


def cam_divided_by_area(features, weight):
    maps = ops.class_activation_maps(features, weight)
    return maps / (features.shape[2] * features.shape[3])


def cam_softmax_weights(features, weight):
    return ops.class_activation_maps(features, weight.softmax(0))


# ---------------------------------------------------------------- stacking 3x3 (notebook 04)


def stack_field_3n(n, c):
    return 3 * n, n * 9 * c * c


def stack_field_2n_minus_1(n, c):
    return 2 * n - 1, n * 9 * c * c


def stack_field_power(n, c):
    return 3**n, n * 9 * c * c


def stack_weights_with_bias(n, c):
    return 2 * n + 1, n * (9 * c * c + c)


def stack_weights_linear_in_channels(n, c):
    return 2 * n + 1, n * 9 * c


def stack_weights_of_one_big_filter(n, c):
    return 2 * n + 1, (2 * n + 1) ** 2 * c * c


# ---------------------------------------------------------------- ResNet for CIFAR (notebook 04)


class CifarNet(nn.Module):
    """A configurable ResNetCIFAR, to write the wrong ones by changing one choice."""

    first_stride, double, stem_bn, strided_blocks = 1, True, True, "first"

    def __init__(self, block, n, width=16, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width) if self.stem_bn else nn.Identity()
        c = width
        for i in range(3):
            w = width * 2**i if self.double else width
            blocks = []
            for j in range(n):
                stride = (self.first_stride if i == 0 else 2) if j == 0 else 1
                if self.strided_blocks == "all" and i > 0:
                    stride = 2 if j < 1 else 1
                blocks.append(block(c, w, stride))
                c = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean((2, 3)))


class CifarNetFirstStageStrided(CifarNet):
    first_stride = 2


class CifarNetNoDoubling(CifarNet):
    double = False


class CifarNetNoStemBatchNorm(CifarNet):
    stem_bn = False


class CifarNetMaxInsteadOfAverage(CifarNet):
    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.amax((2, 3)))


class CifarNetNoStemRelu(CifarNet):
    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.bn1(self.conv1(x)))))
        return self.fc(x.mean((2, 3)))


# ---------------------------------------------------------------- segmentation (notebook 05)


def cm_transposed(pred, target, num_classes, ignore_index=None):
    return metrics.confusion_matrix(pred, target, num_classes, ignore_index).T  # cm[p, t]


def cm_no_minlength(pred, target, num_classes, ignore_index=None):
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        pred, target = pred[target != ignore_index], target[target != ignore_index]
    counts = torch.bincount(target * num_classes + pred)  # too short when top classes are absent
    return counts.reshape(num_classes, -1)


def cm_ignores_ignore_index(pred, target, num_classes, ignore_index=None):
    keep = target < num_classes  # drops 255, but keeps class 0 when ignore_index=0
    pred, target = pred[keep], target[keep]
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def cm_float(pred, target, num_classes, ignore_index=None):
    return metrics.confusion_matrix(pred, target, num_classes, ignore_index).float()


def _iou_parts(pred, target, num_classes, ignore_index=None):
    cm = metrics.confusion_matrix(pred, target, num_classes, ignore_index).double()
    tp = cm.diagonal()
    return cm, tp, cm.sum(0) + cm.sum(1) - tp


def miou_absent_as_zero(pred, target, num_classes, ignore_index=None):
    _, tp, union = _iou_parts(pred, target, num_classes, ignore_index)
    return (tp / union.clamp(min=1)).mean().item()


def miou_absent_as_one(pred, target, num_classes, ignore_index=None):
    _, tp, union = _iou_parts(pred, target, num_classes, ignore_index)
    return torch.where(union > 0, tp / union.clamp(min=1), 1.0).mean().item()


def miou_union_keeps_tp_twice(pred, target, num_classes, ignore_index=None):
    cm, tp, _ = _iou_parts(pred, target, num_classes, ignore_index)
    union = cm.sum(0) + cm.sum(1)
    return (tp[union > 0] / union[union > 0]).mean().item()


def miou_is_mean_accuracy(pred, target, num_classes, ignore_index=None):
    return metrics.mean_accuracy(pred, target, num_classes, ignore_index)


def miou_is_pixel_accuracy(pred, target, num_classes, ignore_index=None):
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target).bool()
    return (pred[keep] == target[keep]).double().mean().item()


def miou_no_ignore(pred, target, num_classes, ignore_index=None):
    target = target.clamp(max=num_classes - 1)  # treats "unlabelled" as the last class
    return metrics.mean_iou(pred, target, num_classes)


def miou_nan_for_absent(pred, target, num_classes, ignore_index=None):
    _, tp, union = _iou_parts(pred, target, num_classes, ignore_index)
    return (tp / union).mean().item()  # 0/0 = NaN poisons the mean


def miou_macro_over_pixels(pred, target, num_classes, ignore_index=None):
    # IoU of each map separately, then averaged: not the dataset-level IoU
    maps = pred.reshape(-1, pred.shape[-1]) if pred.dim() > 1 else pred[None]
    tmaps = target.reshape(-1, target.shape[-1]) if target.dim() > 1 else target[None]
    return sum(
        metrics.mean_iou(p, t, num_classes, ignore_index)
        for p, t in zip(maps, tmaps, strict=True)
        if ignore_index is None or (t != ignore_index).any()
    ) / len(maps)


def ce_naive(logits, target):
    probs = logits.exp() / logits.exp().sum(1, keepdim=True)  # overflows for large logits
    return -probs.gather(1, target.unsqueeze(1)).log().mean()


def ce_sum(logits, target):
    return F.cross_entropy(logits, target, reduction="sum")


def ce_softmax_wrong_dim(logits, target):
    log_probs = logits.log_softmax(dim=-1)
    return -log_probs.gather(1, target.unsqueeze(1)).mean()


def ce_no_normaliser(logits, target):
    return -logits.gather(1, target.unsqueeze(1)).mean()


def bce_naive(logits, target):
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
    p = torch.sigmoid(logits)
    return -(onehot * p.log() + (1 - onehot) * (1 - p).log()).mean()  # log(0) for large logits


def bce_sum_over_classes(logits, target):
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
    loss = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    return loss.sum(1).mean()  # mean over pixels only


def bce_positive_only(logits, target):
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
    return (F.softplus(-logits) * onehot).mean()  # forgets the (1 - t) log(1 - s) term


def bce_is_softmax(logits, target):
    return F.cross_entropy(logits, target)


def bce_onehot_last(logits, target):
    onehot = F.one_hot(target, logits.shape[1]).float()  # class dimension left last
    return F.binary_cross_entropy_with_logits(logits.movedim(1, -1), onehot.flip(-1))


class UpSkipLast(models.UNetUp):
    def forward(self, x, skip):
        return self.conv(torch.cat([self.up(x), skip], dim=1))  # [up, skip]: wrong order


class UpNoSkip(nn.Module):
    def __init__(self, c_in, c_skip, c_out):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        self.conv = models.double_conv(c_out, c_out)

    def forward(self, x, skip):
        return self.conv(self.up(x))


class UpInterpolate(nn.Module):
    def __init__(self, c_in, c_skip, c_out):
        super().__init__()
        self.conv = models.double_conv(c_skip + c_in, c_out)

    def forward(self, x, skip):
        x = F.interpolate(x, scale_factor=2, mode="bilinear")
        return self.conv(torch.cat([skip, x], dim=1))


class UpAddSkip(models.UNetUp):
    def __init__(self, c_in, c_skip, c_out):
        super().__init__(c_in, c_skip, c_out)

    def forward(self, x, skip):
        up = self.up(x)
        return self.conv(torch.cat([skip, up], dim=1)) + up  # an extra residual


class UpSingleConv(nn.Module):
    def __init__(self, c_in, c_skip, c_out):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        self.conv = nn.Sequential(models.conv_bn_relu(c_skip + c_out, c_out))

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


# ---------------------------------------------------------------- detection (notebook 06)


def _areas(b, plus=0.0):
    return (b[:, 2] - b[:, 0] + plus) * (b[:, 3] - b[:, 1] + plus)


def iou_plus_one(b1, b2):  # the legacy "pixel-inclusive" area
    lt = torch.max(b1[:, None, :2], b2[None, :, :2])
    rb = torch.min(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt + 1).clamp(min=0).prod(2)
    return inter / (_areas(b1, 1)[:, None] + _areas(b2, 1)[None] - inter)


def iou_union_keeps_overlap(b1, b2):
    lt = torch.max(b1[:, None, :2], b2[None, :, :2])
    rb = torch.min(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    return inter / (_areas(b1)[:, None] + _areas(b2)[None])


def iou_no_clamp(b1, b2):  # two negative overlaps multiply to a positive "area"
    lt = torch.max(b1[:, None, :2], b2[None, :, :2])
    rb = torch.min(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt).prod(2)
    return inter / (_areas(b1)[:, None] + _areas(b2)[None] - inter)


def iou_elementwise(b1, b2):
    lt = torch.max(b1[:, :2], b2[:, :2])
    rb = torch.min(b1[:, 2:], b2[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    return inter / (_areas(b1) + _areas(b2) - inter)


def match_without_claiming(iou, thr):  # duplicates become true positives
    if iou.shape[1] == 0:
        return torch.zeros(iou.shape[0], dtype=torch.bool)
    return iou.max(1).values >= thr


def match_strictly_greater(iou, thr):
    tp = torch.zeros(iou.shape[0], dtype=torch.bool)
    claimed = torch.zeros(iou.shape[1], dtype=torch.bool)
    for d in range(iou.shape[0]):
        if iou.shape[1] == 0:
            break
        c = iou[d].masked_fill(claimed, -1)
        if c.max() > thr:
            tp[d], claimed[c.argmax()] = True, True
    return tp


def match_best_even_if_claimed(iou, thr):  # the best object taken: false positive
    tp = torch.zeros(iou.shape[0], dtype=torch.bool)
    claimed = torch.zeros(iou.shape[1], dtype=torch.bool)
    for d in range(iou.shape[0]):
        if iou.shape[1] == 0:
            break
        best = iou[d].argmax()
        if iou[d, best] >= thr and not claimed[best]:
            tp[d], claimed[best] = True, True
    return tp


def _pr(scores, tp, n, sort=True):
    order = torch.argsort(scores, descending=True) if sort else torch.arange(len(scores))
    hits = tp[order].double().cumsum(0)
    precision = hits / torch.arange(1, len(scores) + 1)
    return precision, hits / n


def ap_unsorted(scores, tp, n):
    precision, recall = _pr(scores, tp, n, sort=False)
    envelope = precision.flip(0).cummax(0).values.flip(0)
    steps = recall - torch.cat([torch.zeros(1), recall[:-1]])
    return float((steps * envelope).sum())


def ap_no_envelope(scores, tp, n):
    precision, recall = _pr(scores, tp, n)
    steps = recall - torch.cat([torch.zeros(1), recall[:-1]])
    return float((steps * precision).sum())


def ap_eleven_points(scores, tp, n):
    precision, recall = _pr(scores, tp, n)
    total = 0.0
    for r in torch.linspace(0, 1, 11):
        reached = precision[recall >= r]
        total += float(reached.max()) if len(reached) else 0.0
    return total / 11


def ap_recall_over_detections(scores, tp, n):  # recall divided by the detections, not objects
    return ap_unsorted(
        *[torch.sort(scores, descending=True)[0], tp[torch.argsort(scores, descending=True)]],
        max(len(scores), 1),
    )


def ap_mean_precision(scores, tp, n):
    precision, _ = _pr(scores, tp, n)
    return float(precision.mean()) if len(precision) else 0.0


def nms_all_boxes_suppress(boxes, scores, thr):  # dropped boxes still suppress
    order = torch.argsort(scores, descending=True)
    iou = ops.box_iou(boxes[order], boxes[order])
    suppressed = (iou > thr).triu(1).any(0)
    return order[~suppressed]


def nms_greater_equal(boxes, scores, thr):
    order = torch.argsort(scores, descending=True)
    keep = []
    for i in order.tolist():
        if all(ops.box_iou(boxes[i : i + 1], boxes[j : j + 1]).item() < thr for j in keep):
            keep.append(i)
    return torch.tensor(keep, dtype=torch.int64)


def nms_box_order(boxes, scores, thr):  # keeps in index order, not by score
    return torch.sort(ops.nms(boxes, scores, thr)).values


def nms_mask(boxes, scores, thr):
    keep = torch.zeros(len(boxes), dtype=torch.bool)
    keep[ops.nms(boxes, scores, thr)] = True
    return keep


def roi_pool_floor(x, rois, out, scale):  # truncates the corners instead of rounding
    r = rois.clone()
    r[:, 1:] = torch.floor(r[:, 1:] * scale) / scale
    return ops.roi_pool(x, r, out, scale)


def roi_pool_average(x, rois, out, scale):
    import torchvision.ops as tvo

    size = out if isinstance(out, tuple) else (out, out)
    return tvo.roi_align(x, rois, size, scale, sampling_ratio=1)


def roi_pool_no_scale(x, rois, out, scale):
    return ops.roi_pool(x, rois, out, 1.0)


def roi_pool_no_plus_one(x, rois, out, scale):  # bins over x2 - x1, not x2 - x1 + 1
    r = rois.clone()
    r[:, 3:] = r[:, 3:] - 1 / scale
    r[:, 3:] = torch.max(r[:, 3:], r[:, 1:3])
    return ops.roi_pool(x, r, out, scale)


# ---------------------------------------------------------------- notebook 07


def mask_iou_union_counts_overlap_twice(m1, m2):
    a, b = m1.flatten(1).float(), m2.flatten(1).float()
    return (a @ b.T) / (a.sum(1)[:, None] + b.sum(1)[None, :]).clamp(min=1)


def mask_iou_of_their_boxes(m1, m2):  # the box IoU of the masks' bounding boxes
    import torchvision.ops as tvo

    boxes = [tvo.masks_to_boxes(m.bool()) + torch.tensor([0, 0, 1, 1]) for m in (m1, m2)]
    return ops.box_iou(*boxes)


def mask_iou_nan_when_empty(m1, m2):
    a, b = m1.flatten(1).float(), m2.flatten(1).float()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None, :] - inter)


def mask_iou_elementwise(m1, m2):
    a, b = m1.flatten(1).bool(), m2.flatten(1).bool()
    return ((a & b).sum(1) / (a | b).sum(1).clamp(min=1)).float()[:, None]


def bilinear_zero_padding(feature, y, x):  # grid_sample: zeros just outside, not the edge pixel
    c, h, w = feature.shape
    grid = torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], -1)
    out = F.grid_sample(feature[None], grid[None, None], align_corners=True, padding_mode="zeros")
    return out[0, :, 0]


def bilinear_nearest(feature, y, x):
    return ops.bilinear_interpolate(feature, y.round(), x.round())


def bilinear_no_zero_outside(feature, y, x):
    c, h, w = feature.shape
    return ops.bilinear_interpolate(feature, y.clamp(-1, h), x.clamp(-1, w))


def bilinear_swapped_axes(feature, y, x):
    return ops.bilinear_interpolate(feature.transpose(1, 2), y, x)


def bilinear_top_left_only(feature, y, x):
    return ops.bilinear_interpolate(feature, y.floor(), x.floor())


def roi_align_ignores_aligned(x, rois, out, scale, ratio, aligned):
    return ops.roi_align(x, rois, out, scale, ratio, False)


def roi_align_fixed_grid(x, rois, out, scale, ratio, aligned):  # 2x2 samples, even when adaptive
    return ops.roi_align(x, rois, out, scale, ratio if ratio > 0 else 2, aligned)


def roi_align_detached(x, rois, out, scale, ratio, aligned):
    return ops.roi_align(x.detach(), rois, out, scale, ratio, aligned)


def roi_align_max_of_samples(x, rois, out, scale, ratio, aligned):
    grid = ratio if ratio > 0 else 2
    size = (out, out) if isinstance(out, int) else out
    fine = ops.roi_align(x, rois, (size[0] * grid, size[1] * grid), scale, 1, aligned)
    return F.max_pool2d(fine, grid)


def roi_align_no_min_size(x, rois, out, scale, ratio, aligned):  # never stretches small boxes
    shifted = rois.clone()
    shifted[:, 1:] += 0 if aligned else 0.5 / scale
    return ops.roi_align(x, shifted, out, scale, ratio, True)


def roi_align_no_scale(x, rois, out, scale, ratio, aligned):
    return ops.roi_align(x, rois, out, 1.0, ratio, aligned)


# ---------------------------------------------------------------- the mask loss (notebook 07)


def _mask_targets(boxes, masks, matched, m, aligned=False):
    rois = torch.cat([matched[:, None].float(), boxes], 1)
    return ops.roi_align(masks[:, None].float(), rois, m, 1.0, -1, aligned)[:, 0]


def _true_class(logits, labels, matched):
    return logits[torch.arange(len(matched)), labels[matched]]


def mask_loss_all_classes(logits, boxes, masks, labels, matched):  # every class's map trained
    if len(boxes) == 0:
        return logits.sum() * 0
    target = _mask_targets(boxes, masks, matched, logits.shape[-1])
    return F.binary_cross_entropy_with_logits(logits, target[:, None].expand_as(logits))


def mask_loss_softmax(logits, boxes, masks, labels, matched):  # classes compete per pixel
    if len(boxes) == 0:
        return logits.sum() * 0
    target = _mask_targets(boxes, masks, matched, logits.shape[-1]) >= 0.5
    return F.cross_entropy(logits, labels[matched][:, None, None] * target.long())


def mask_loss_whole_mask(logits, boxes, masks, labels, matched):  # resized, not cropped
    if len(boxes) == 0:
        return logits.sum() * 0
    target = F.interpolate(masks[matched][:, None].float(), size=logits.shape[-2:], mode="bilinear")
    return F.binary_cross_entropy_with_logits(_true_class(logits, labels, matched), target[:, 0])


def mask_loss_thresholded_target(logits, boxes, masks, labels, matched):
    if len(boxes) == 0:
        return logits.sum() * 0
    target = (_mask_targets(boxes, masks, matched, logits.shape[-1]) >= 0.5).float()
    return F.binary_cross_entropy_with_logits(_true_class(logits, labels, matched), target)


def mask_loss_aligned(logits, boxes, masks, labels, matched):  # Detectron2's RoIAlign
    if len(boxes) == 0:
        return logits.sum() * 0
    target = _mask_targets(boxes, masks, matched, logits.shape[-1], aligned=True)
    return F.binary_cross_entropy_with_logits(_true_class(logits, labels, matched), target)


def mask_loss_summed(logits, boxes, masks, labels, matched):
    if len(boxes) == 0:
        return logits.sum() * 0
    target = _mask_targets(boxes, masks, matched, logits.shape[-1])
    logits = _true_class(logits, labels, matched)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")


def mask_loss_object_index_as_class(logits, boxes, masks, labels, matched):
    if len(boxes) == 0:
        return logits.sum() * 0
    target = _mask_targets(boxes, masks, matched, logits.shape[-1])
    return F.binary_cross_entropy_with_logits(logits[torch.arange(len(matched)), matched], target)


def mask_loss_nan_when_empty(logits, boxes, masks, labels, matched):
    m = logits.shape[-1]
    target = _mask_targets(boxes, masks, matched, m) if len(boxes) else torch.zeros(0, m, m)
    return F.binary_cross_entropy_with_logits(_true_class(logits, labels, matched), target)


# ---------------------------------------------------------------- the keypoint head (notebook 08)


def heatmap_round_not_floor(keypoints, rois, size):
    x1, y1, x2, y2 = (rois[:, i, None] for i in range(4))
    col = ((keypoints[..., 0] - x1) * size / (x2 - x1)).round().long().clamp(0, size - 1)
    row = ((keypoints[..., 1] - y1) * size / (y2 - y1)).round().long().clamp(0, size - 1)
    valid = keypoints[..., 2] > 0
    return torch.where(valid, row * size + col, 0), valid


def heatmap_col_major(keypoints, rois, size):  # x * m + y: rows and columns swapped
    targets, valid = ops.keypoints_to_heatmap(keypoints, rois, size)
    return torch.where(valid, (targets % size) * size + targets // size, 0), valid


def heatmap_hidden_invalid(keypoints, rois, size):  # only visibility 2 counts as labelled
    targets, valid = ops.keypoints_to_heatmap(keypoints, rois, size)
    valid = valid & (keypoints[..., 2] == 2)
    return torch.where(valid, targets, 0), valid


def heatmap_no_edge_rule(keypoints, rois, size):  # a landmark on x2 or y2 falls outside
    inside = (keypoints[..., 0] < rois[:, 2, None]) & (keypoints[..., 1] < rois[:, 3, None])
    targets, valid = ops.keypoints_to_heatmap(keypoints, rois, size)
    return torch.where(valid & inside, targets, 0), valid & inside


def heatmap_outside_clamped(keypoints, rois, size):  # outside landmarks moved to the border
    x1, y1, x2, y2 = (rois[:, i, None] for i in range(4))
    col = ((keypoints[..., 0] - x1) * size / (x2 - x1)).floor().long().clamp(0, size - 1)
    row = ((keypoints[..., 1] - y1) * size / (y2 - y1)).floor().long().clamp(0, size - 1)
    valid = keypoints[..., 2] > 0
    return torch.where(valid, row * size + col, 0), valid


def loss_per_pixel_sigmoid(logits, targets, valid):
    onehot = F.one_hot(targets, logits.shape[-1] * logits.shape[-2]).float()
    flat = logits.flatten(2)
    return F.binary_cross_entropy_with_logits(flat[valid], onehot[valid])


def loss_over_all_landmarks(logits, targets, valid):  # the invalid ones too (target cell 0)
    return F.cross_entropy(logits.flatten(2).flatten(0, 1), targets.flatten())


def loss_sum_not_mean(logits, targets, valid):
    if not valid.any():
        return logits.sum() * 0
    return F.cross_entropy(logits.flatten(2)[valid], targets[valid], reduction="sum")


def loss_softmax_over_landmarks(logits, targets, valid):  # the K maps compete at each cell
    log_p = logits.log_softmax(1).flatten(2)  # (N, K, m*m)
    picked = log_p.gather(2, targets[..., None])[..., 0]
    return -(picked[valid]).mean() if valid.any() else logits.sum() * 0


def loss_new_zero(logits, targets, valid):  # a fresh 0 has no gradient path
    if not valid.any():
        return torch.tensor(0.0)
    return F.cross_entropy(logits.flatten(2)[valid], targets[valid])


def decode_cell_corner(logits, rois):  # the cell's top-left corner, not its centre
    m = logits.shape[-1]
    return ops.heatmaps_to_keypoints(logits, rois) - (rois[:, None, 2:] - rois[:, None, :2]) / m / 2


def decode_swapped_axes(logits, rois):
    return ops.heatmaps_to_keypoints(logits.transpose(2, 3), rois)


def decode_no_offset(logits, rois):  # forgot to add the box's corner
    return ops.heatmaps_to_keypoints(logits, rois) - rois[:, None, :2]


def decode_grid_units(logits, rois):  # heatmap cells, not image pixels
    m = logits.shape[-1]
    best = logits.flatten(2).argmax(-1)
    return torch.stack([best % m, best // m], -1).float() + 0.5


# ---------------------------------------------------------------- the RPN (notebook 06)


def _anchor_iou(anchors, gt):
    return ops.box_iou(gt, anchors)


def anchors_no_best_rule(anchors, gt, hi=0.7, lo=0.3):
    if len(gt) == 0:
        return torch.zeros(len(anchors), dtype=torch.int64)
    best = _anchor_iou(anchors, gt).max(0).values
    labels = torch.full((len(anchors),), -1, dtype=torch.int64)
    labels[best < lo] = 0
    labels[best >= hi] = 1
    return labels


def anchors_best_by_argmax(anchors, gt, hi=0.7, lo=0.3):
    labels = anchors_no_best_rule(anchors, gt, hi, lo)
    if len(gt):
        labels[_anchor_iou(anchors, gt).argmax(1)] = 1  # one anchor per object: ties missed
    return labels


def anchors_strictly_greater(anchors, gt, hi=0.7, lo=0.3):
    labels = regions.label_anchors(anchors, gt, hi, lo)
    if len(gt):
        exact = _anchor_iou(anchors, gt).max(0).values == hi
        best_for_gt = (
            _anchor_iou(anchors, gt) == _anchor_iou(anchors, gt).max(1, keepdim=True).values
        ).any(0)
        labels[exact & ~best_for_gt] = -1
    return labels


def anchors_negative_inclusive(anchors, gt, hi=0.7, lo=0.3):
    labels = regions.label_anchors(anchors, gt, hi, lo)
    if len(gt):
        labels[(_anchor_iou(anchors, gt).max(0).values == lo) & (labels == -1)] = 0
    return labels


def anchors_no_ignored(anchors, gt, hi=0.7, lo=0.3):
    labels = regions.label_anchors(anchors, gt, hi, lo)
    return labels.clamp(min=0)


def anchors_best_rule_overridden(anchors, gt, hi=0.7, lo=0.3):
    labels = torch.full((len(anchors),), -1, dtype=torch.int64)
    if len(gt) == 0:
        return labels * 0
    iou = _anchor_iou(anchors, gt)
    labels[(iou == iou.max(1, keepdim=True).values).any(0)] = 1
    best = iou.max(0).values
    labels[best >= hi] = 1
    labels[best < lo] = 0  # applied last: an object's weak best anchor turns background
    return labels


def _sample_with(labels, n_pos, n_neg, positives=None, negatives=None, pick=None):
    positives = (labels == 1).nonzero().squeeze(1) if positives is None else positives
    negatives = (labels == 0).nonzero().squeeze(1) if negatives is None else negatives
    pick = pick or (lambda idx, n: idx[torch.randperm(len(idx))[:n]])
    pos = torch.zeros_like(labels, dtype=torch.bool)
    neg = torch.zeros_like(labels, dtype=torch.bool)
    pos[pick(positives, n_pos)] = True
    neg[pick(negatives, n_neg)] = True
    return pos, neg


def sample_first_ones(labels, batch_size, fraction):
    n_pos = min(int((labels == 1).sum()), int(batch_size * fraction))
    n_neg = min(int((labels == 0).sum()), batch_size - n_pos)
    return _sample_with(labels, n_pos, n_neg, pick=lambda idx, n: idx[:n])


def sample_fixed_negative_quota(labels, batch_size, fraction):
    quota = int(batch_size * fraction)
    n_pos = min(int((labels == 1).sum()), quota)
    n_neg = min(int((labels == 0).sum()), batch_size - quota)  # not filled up by negatives
    return _sample_with(labels, n_pos, n_neg)


def sample_ignored_as_negative(labels, batch_size, fraction):
    n_pos = min(int((labels == 1).sum()), int(batch_size * fraction))
    negatives = (labels <= 0).nonzero().squeeze(1)
    return _sample_with(labels, n_pos, min(len(negatives), batch_size - n_pos), negatives=negatives)


def sample_rounds_up(labels, batch_size, fraction):
    n_pos = min(int((labels == 1).sum()), math.ceil(batch_size * fraction))
    n_neg = min(int((labels == 0).sum()), batch_size - n_pos)
    return _sample_with(labels, n_pos, n_neg)


def sample_rounds_half_to_even(labels, batch_size, fraction):
    n_pos = min(int((labels == 1).sum()), round(batch_size * fraction))
    n_neg = min(int((labels == 0).sum()), batch_size - n_pos)
    return _sample_with(labels, n_pos, n_neg)


_private = torch.Generator().manual_seed(0)  # a stream that torch.manual_seed does not reset


def sample_own_generator(labels, batch_size, fraction):
    n_pos = min(int((labels == 1).sum()), int(batch_size * fraction))
    n_neg = min(int((labels == 0).sum()), batch_size - n_pos)

    def pick(idx, n):
        return idx[torch.randperm(len(idx), generator=_private)[:n]]

    return _sample_with(labels, n_pos, n_neg, pick=pick)


def sample_indices(labels, batch_size, fraction):
    pos, neg = regions.sample_anchors(labels, batch_size, fraction)
    return pos.nonzero().squeeze(1), neg.nonzero().squeeze(1)


class CoderWithoutWeights(regions.BoxCoder):
    def encode(self, anchors, boxes):
        return regions.encode_boxes(anchors, boxes)

    def decode(self, anchors, deltas):
        return regions.decode_boxes(anchors, deltas)


class CoderMultipliesWhenDecoding(regions.BoxCoder):
    def decode(self, anchors, deltas):
        w = torch.tensor(self.weights)
        return regions.decode_boxes(anchors, deltas * w * w, self.weights)


class CoderCorners(regions.BoxCoder):
    def encode(self, anchors, boxes):
        wx, wy, ww, wh = self.weights
        aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        dx = wx * (boxes[:, 0] - anchors[:, 0]) / aw  # the corners moved, not the centres
        dy = wy * (boxes[:, 1] - anchors[:, 1]) / ah
        return torch.stack([dx, dy, ww * torch.log(w / aw), wh * torch.log(h / ah)], 1)


class CoderUnclamped(regions.BoxCoder):
    def decode(self, anchors, deltas):  # exp of the raw size deltas: no clamp
        return self._raw(anchors, deltas)

    def _raw(self, anchors, deltas):
        wx, wy, ww, wh = self.weights
        cx, cy = (anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2
        aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        x, y = cx + deltas[:, 0] / wx * aw, cy + deltas[:, 1] / wy * ah
        w, h = aw * torch.exp(deltas[:, 2] / ww), ah * torch.exp(deltas[:, 3] / wh)
        return torch.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], 1)


class CoderClampsBeforeDividing(regions.BoxCoder):
    def decode(self, anchors, deltas):
        limit = math.log(1000.0 / 16)
        w = torch.tensor(self.weights)
        clamped = torch.cat([deltas[:, :2], deltas[:, 2:].clamp(max=limit)], 1)
        return self._raw_weighted(anchors, clamped, w)

    def _raw_weighted(self, anchors, deltas, w):
        cx, cy = (anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2
        aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        x, y = cx + deltas[:, 0] / w[0] * aw, cy + deltas[:, 1] / w[1] * ah
        width, height = aw * torch.exp(deltas[:, 2] / w[2]), ah * torch.exp(deltas[:, 3] / w[3])
        return torch.stack([x - width / 2, y - height / 2, x + width / 2, y + height / 2], 1)


class CoderSymmetricClamp(CoderClampsBeforeDividing):
    def decode(self, anchors, deltas):
        limit = math.log(1000.0 / 16)
        w = torch.tensor(self.weights)
        scaled = deltas / w
        scaled = torch.cat([scaled[:, :2], scaled[:, 2:].clamp(-limit, limit)], 1)
        return self._raw_weighted(anchors, scaled, torch.ones(4))


class CoderNoLog(regions.BoxCoder):
    def encode(self, anchors, boxes):
        d = regions.encode_boxes(anchors, boxes, self.weights)
        w = torch.tensor(self.weights)
        return torch.cat([d[:, :2], w[2:] * (torch.exp(d[:, 2:] / w[2:]) - 1)], 1)


class CoderDividesByBox(regions.BoxCoder):
    def encode(self, anchors, boxes):
        d = regions.encode_boxes(anchors, boxes, self.weights)
        aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        return torch.cat(
            [d[:, :1] * aw[:, None] / w[:, None], d[:, 1:2] * ah[:, None] / h[:, None], d[:, 2:]], 1
        )


EXERCISES = {
    "conv1x1": (
        checks.check_conv1x1,
        ops.conv1x1,
        [
            conv1x1_no_bias,
            conv1x1_transposed_weight,
            conv1x1_channels_last,
            conv1x1_bias_on_width,
            conv1x1_ignores_none_bias,
            conv1x1_spatial_sum,
        ],
    ),
    "conv2d_cost": (
        checks.check_conv2d_cost,
        cost.conv2d_cost,
        [
            cost_without_bias,
            cost_k_not_squared,
            cost_macs_without_positions,
            cost_macs_with_bias,
            cost_swapped,
            cost_floats,
        ],
    ),
    "global_avg_pool": (
        checks.check_global_avg_pool,
        ops.global_avg_pool,
        [
            gap_sum,
            gap_max,
            gap_keepdim,
            gap_over_channels,
            gap_height_only,
            gap_divides_by_height_twice,
        ],
    ),
    "inception_3a_macs": (
        checks.check_inception_3a_macs,
        lambda: (303.4, 128.0),
        [
            inception_3a_macs_in_units,
            inception_3a_params_not_macs,
            inception_3a_flops,
            inception_3a_naive_without_1x1_branch,
            inception_3a_k_not_squared,
            inception_3a_reduced_without_pool_projection,
        ],
    ),
    "Inception": (
        checks.check_inception,
        models.Inception,
        [
            InceptionLinearReductions,
            InceptionProjectThenPool,
            InceptionThreeByThreeForFive,
            InceptionWrongOrder,
            InceptionNaivePool,
            InceptionNoPaddingOnFive,
        ],
    ),
    "class_activation_maps": (
        checks.check_class_activation_maps,
        ops.class_activation_maps,
        [
            cam_transposed_weight,
            cam_spatial_means,
            cam_relu,
            cam_normalised,
            cam_divided_by_area,
            cam_softmax_weights,
        ],
    ),
    "conv_output_size": (
        checks.check_conv_output_size,
        cost.conv_output_size,
        [size_no_dilation, size_one_sided_padding, size_no_plus_one, size_true_division, size_ceil],
    ),
    "dropout": (
        checks.check_dropout,
        dropout_reference,
        [
            dropout_no_scaling,
            dropout_scaled_at_eval,
            dropout_keeps_p,
            dropout_times_keep_prob,
            dropout_one_mask_per_feature,
            dropout_whole_tensor,
            dropout_also_at_eval,
            dropout_in_place,
            dropout_exact_count_per_row,
        ],
    ),
    "BasicBlock": (
        checks.check_basic_block,
        models.BasicBlock,
        [PlainBlock, ReluBeforeAdd, NoProjection, BiasedConvs, StrideOnSecondConv],
    ),
    "Bottleneck": (
        checks.check_bottleneck,
        models.Bottleneck,
        [
            BottleneckStrideFirst,
            BottleneckNoFinalRelu,
            BottleneckExpandsTwice,
            BottleneckNoShortcut,
        ],
    ),
    "stack_of_3x3": (
        checks.check_stack_of_3x3,
        lambda n, c: (2 * n + 1, n * 9 * c * c),
        [
            stack_field_3n,
            stack_field_2n_minus_1,
            stack_field_power,
            stack_weights_with_bias,
            stack_weights_linear_in_channels,
            stack_weights_of_one_big_filter,
        ],
    ),
    "ResNetCIFAR": (
        checks.check_resnet_cifar,
        CifarNet,
        [
            CifarNetFirstStageStrided,
            CifarNetNoDoubling,
            CifarNetNoStemBatchNorm,
            CifarNetMaxInsteadOfAverage,
            CifarNetNoStemRelu,
        ],
    ),
    "confusion_matrix": (
        checks.check_confusion_matrix,
        metrics.confusion_matrix,
        [cm_transposed, cm_no_minlength, cm_ignores_ignore_index, cm_float],
    ),
    "mean_iou": (
        checks.check_mean_iou,
        metrics.mean_iou,
        [
            miou_absent_as_zero,
            miou_absent_as_one,
            miou_union_keeps_tp_twice,
            miou_is_mean_accuracy,
            miou_is_pixel_accuracy,
            miou_no_ignore,
            miou_nan_for_absent,
            miou_macro_over_pixels,
        ],
    ),
    "softmax_cross_entropy": (
        checks.check_softmax_cross_entropy,
        losses.softmax_cross_entropy,
        [ce_naive, ce_sum, ce_softmax_wrong_dim, ce_no_normaliser],
    ),
    "sigmoid_cross_entropy": (
        checks.check_sigmoid_cross_entropy,
        losses.sigmoid_cross_entropy,
        [bce_naive, bce_sum_over_classes, bce_positive_only, bce_is_softmax, bce_onehot_last],
    ),
    "UNetUp": (
        checks.check_unet_up,
        models.UNetUp,
        [UpSkipLast, UpNoSkip, UpInterpolate, UpAddSkip, UpSingleConv],
    ),
    "box_iou": (
        checks.check_box_iou,
        ops.box_iou,
        [iou_plus_one, iou_union_keeps_overlap, iou_no_clamp, iou_elementwise],
    ),
    "match_detections": (
        checks.check_match_detections,
        metrics.match_detections,
        [match_without_claiming, match_strictly_greater, match_best_even_if_claimed],
    ),
    "average_precision": (
        checks.check_average_precision,
        lambda scores, tp, n: metrics.average_precision(scores, tp, n)[0],
        [
            ap_not_a_number,
            ap_unsorted,
            ap_no_envelope,
            ap_eleven_points,
            ap_recall_over_detections,
            ap_mean_precision,
        ],
    ),
    "nms": (
        checks.check_nms,
        ops.nms,
        [nms_all_boxes_suppress, nms_greater_equal, nms_box_order, nms_mask],
    ),
    "label_anchors": (
        checks.check_label_anchors,
        regions.label_anchors,
        [
            anchors_no_best_rule,
            anchors_best_by_argmax,
            anchors_strictly_greater,
            anchors_negative_inclusive,
            anchors_no_ignored,
            anchors_best_rule_overridden,
        ],
    ),
    "sample_anchors": (
        checks.check_sample_anchors,
        regions.sample_anchors,
        [
            sample_first_ones,
            sample_fixed_negative_quota,
            sample_ignored_as_negative,
            sample_rounds_up,
            sample_rounds_half_to_even,
            sample_own_generator,
            sample_indices,
        ],
    ),
    "BoxCoder": (
        checks.check_box_coder,
        regions.BoxCoder,
        [
            CoderWithoutWeights,
            CoderMultipliesWhenDecoding,
            CoderCorners,
            CoderUnclamped,
            CoderClampsBeforeDividing,
            CoderSymmetricClamp,
            CoderNoLog,
            CoderDividesByBox,
        ],
    ),
    "roi_pool": (
        checks.check_roi_pool,
        ops.roi_pool,
        [roi_pool_floor, roi_pool_average, roi_pool_no_scale, roi_pool_no_plus_one],
    ),
    "mask_iou": (
        checks.check_mask_iou,
        ops.mask_iou,
        [
            mask_iou_union_counts_overlap_twice,
            mask_iou_of_their_boxes,
            mask_iou_nan_when_empty,
            mask_iou_elementwise,
        ],
    ),
    "bilinear_interpolate": (
        checks.check_bilinear_interpolate,
        ops.bilinear_interpolate,
        [
            bilinear_zero_padding,
            bilinear_nearest,
            bilinear_no_zero_outside,
            bilinear_swapped_axes,
            bilinear_top_left_only,
        ],
    ),
    "roi_align": (
        checks.check_roi_align,
        ops.roi_align,
        [
            roi_align_ignores_aligned,
            roi_align_fixed_grid,
            roi_align_detached,
            roi_align_max_of_samples,
            roi_align_no_min_size,
            roi_align_no_scale,
        ],
    ),
    "mask_loss": (
        checks.check_mask_loss,
        losses.mask_loss,
        [
            mask_loss_all_classes,
            mask_loss_softmax,
            mask_loss_whole_mask,
            mask_loss_thresholded_target,
            mask_loss_aligned,
            mask_loss_summed,
            mask_loss_object_index_as_class,
            mask_loss_nan_when_empty,
        ],
    ),
    "keypoints_to_heatmap": (
        checks.check_keypoints_to_heatmap,
        ops.keypoints_to_heatmap,
        [
            heatmap_round_not_floor,
            heatmap_col_major,
            heatmap_hidden_invalid,
            heatmap_no_edge_rule,
            heatmap_outside_clamped,
        ],
    ),
    "keypoint_loss": (
        checks.check_keypoint_loss,
        losses.keypoint_loss,
        [
            loss_per_pixel_sigmoid,
            loss_over_all_landmarks,
            loss_sum_not_mean,
            loss_softmax_over_landmarks,
            loss_new_zero,
        ],
    ),
    "heatmaps_to_keypoints": (
        checks.check_heatmaps_to_keypoints,
        ops.heatmaps_to_keypoints,
        [decode_cell_corner, decode_swapped_axes, decode_no_offset, decode_grid_units],
    ),
}


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_passes(name, capsys):
    check, reference, _ = EXERCISES[name]
    assert re.fullmatch(rf"{name}: correct on \d+ cases", verdict(check, reference, capsys))


@pytest.mark.parametrize(
    "name",
    [n for n, (_, ref, _) in EXERCISES.items() if ref.__module__.startswith("course_utils.")],
)
def test_the_course_twin_is_blocked_as_an_answer(name, capsys):
    check, reference, _ = EXERCISES[name]
    line = verdict(check, reference, capsys, guard=True)
    assert line.startswith(f"{name}: raised BlockedCall on case"), line
    assert "(it called course_utils." in line


@pytest.mark.parametrize("name", EXERCISES)
def test_unimplemented_fails(name, capsys):
    check, _, _ = EXERCISES[name]
    line = verdict(check, not_implemented, capsys)
    assert line == f"{name}: not implemented yet (it raises NotImplementedError)"


@pytest.mark.parametrize(
    "name, wrong",
    [(name, w) for name, (_, _, ws) in EXERCISES.items() for w in ws],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_plausible_wrong_answers_fail(name, wrong, capsys):
    check, _, _ = EXERCISES[name]
    line = verdict(check, wrong, capsys)
    assert line.startswith(f"{name}: ") and "correct" not in line, line
    assert "wrong on case" in line or "raised" in line


def test_answers_that_change_their_inputs_cannot_change_the_expected_results(capsys):
    def gap_in_place(x):
        result = x.mean(dim=(2, 3))
        x.zero_()
        return result

    assert verdict(checks.check_global_avg_pool, gap_in_place, capsys).endswith(
        "correct on 5 cases"
    )


def test_not_a_function(capsys):
    assert verdict(checks.check_conv1x1, 42, capsys) == "conv1x1: expected a function, got int"


def test_error_message_names_the_case(capsys):
    line = verdict(checks.check_conv1x1, conv1x1_channels_last, capsys)
    assert line.startswith(
        'conv1x1: wrong on case "1 image, 3->2 channels, 4x4": expected shape (1, 2, 4, 4)'
    )


# ---------------------------------------------------------------- the notebooks' own answers


def solution_cells():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in source:
                check_source = "".join(cells[i + 1]["source"])
                yield pytest.param(source, check_source, id=f"{path.stem}-cell{i}")


def unimplemented(source: str) -> str:
    """The solution region replaced by a raise, keeping its indentation (what students get)."""
    pattern = re.compile(r"^(\s*)### BEGIN SOLUTION\n.*?^\s*### END SOLUTION\n?", re.S | re.M)
    return pattern.sub(lambda m: f'{m.group(1)}raise NotImplementedError("Exercise")\n', source)


@pytest.mark.parametrize("source, check_source", list(solution_cells()))
def test_notebook_solutions_pass_and_their_stubs_fail(source, check_source, capsys):
    names = {  # what the notebooks' setup cells import
        "math": math,
        "torch": torch,
        "nn": nn,
        "F": F,
        "checks": checks,
        "metrics": metrics,
        "models": models,
        "ops": ops,
    }
    namespace = dict(names)
    exec(source, namespace)
    exec(check_source, namespace)
    assert re.fullmatch(r"\w+: correct on \d+ cases", capsys.readouterr().out.strip())
    stub = dict(names)
    exec(unimplemented(source), stub)
    exec(check_source, stub)
    assert "not implemented yet" in capsys.readouterr().out


def test_passed_or_twin_uses_the_answer_only_when_it_passes(capsys):
    with core.guarding_answers(False):  # the course's twin stands in for a right answer
        passes = checks.passed_or_twin(ops.global_avg_pool, checks.check_global_avg_pool, "twin")
    assert passes is ops.global_avg_pool
    assert capsys.readouterr().out == ""  # silent when it passes
    assert (
        checks.passed_or_twin(gap_sum, checks.check_global_avg_pool, ops.global_avg_pool)
        is ops.global_avg_pool
    )
    out = capsys.readouterr().out
    assert out.startswith(
        "Using the course's global_avg_pool instead of your gap_sum: global_avg_pool: wrong"
    )
