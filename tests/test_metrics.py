import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from course_utils import metrics


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=30, deadline=None)
@given(num_classes=st.integers(1, 6), n=st.integers(1, 60), seed=st.integers(0, 999))
def test_confusion_matrix_matches_scikit_learn(num_classes, n, seed):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randint(num_classes, (n,), generator=g)
    target = torch.randint(num_classes, (n,), generator=g)
    expected = sk_confusion_matrix(target.numpy(), pred.numpy(), labels=np.arange(num_classes))
    assert metrics.confusion_matrix(pred, target, num_classes).tolist() == expected.tolist()


def test_confusion_matrix_on_label_maps_with_ignore_index():
    target = torch.tensor([[0, 1, 255], [2, 2, 1]])
    pred = torch.tensor([[0, 2, 1], [2, 2, 1]])
    cm = metrics.confusion_matrix(pred, target, 3, ignore_index=255)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 2]]
    assert cm.dtype == torch.int64


@pytest.mark.parametrize(
    "pred, target, k, match",
    [
        (torch.tensor([0, 1]), torch.tensor([0]), 2, "same shape"),
        (torch.tensor([0, 3]), torch.tensor([0, 1]), 2, r"pred labels must be in 0..1"),
        (torch.tensor([0, 1]), torch.tensor([-1, 1]), 2, r"target labels must be in 0..1"),
        (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 2, "integer class labels"),
        (torch.tensor([0, 1]), torch.tensor([0, 1]), 0, "positive int"),
    ],
)
def test_confusion_matrix_bad_input(pred, target, k, match):
    with pytest.raises(ValueError, match=match):
        metrics.confusion_matrix(pred, target, k)


def test_accuracy():
    assert metrics.accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="same shape"):
        metrics.accuracy(torch.tensor([1]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy(torch.tensor([]), torch.tensor([]))


def test_confusion_matrix_of_nothing_is_zero():
    cm = metrics.confusion_matrix(
        torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 3
    )
    assert cm.tolist() == [[0] * 3] * 3
