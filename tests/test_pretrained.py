"""The optional real-photo cells (course_utils.pretrained), run offline with random weights."""

import urllib.error

import matplotlib.pyplot as plt
import pytest
import torch

from course_utils import pretrained


@pytest.mark.parametrize("task", list(pretrained.TASKS))
def test_show_on_photos_runs_offline_with_random_weights(task):
    kwargs = {}  # small detector inputs and few regions: random heads find anything
    if task != "classification":
        kwargs = dict(min_size=96, max_size=128, rpn_post_nms_top_n_test=50)
        kwargs["box_detections_per_img"] = 5
    result = pretrained.show_on_photos(
        task, photos=("coffee", "coins"), weights=None, score_threshold=0.0, size=64, **kwargs
    )
    assert result is not None
    fig, outputs = result
    assert len(outputs) == 2 and len(fig.axes) == 2
    if task == "classification":
        p = outputs[0]["probabilities"]
        assert p.shape == (1000,) and torch.isclose(p.sum(), torch.tensor(1.0))
    else:
        out = outputs[1]
        assert out["boxes"].shape[1:] == (4,) and len(out["scores"]) == len(out["boxes"])
        if task == "instance":
            assert out["masks"].shape[1:] == (1, 64, 81)  # coins: 303x384, shorter side 64
        if task == "keypoints":
            assert out["keypoints"].shape[1:] == (17, 3)
            assert max(max(bone) for bone in pretrained.COCO_SKELETON) == 16
    plt.close(fig)


def test_nothing_is_downloaded_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache

    def no_download(*args, **kwargs):
        raise AssertionError("must not build (and download) the model")

    monkeypatch.setattr(pretrained, "load", no_download)
    assert not pretrained.is_cached("detection")
    assert pretrained.show_on_photos("detection") is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "download=True" in out and "167 MB" in out


def test_an_offline_download_prints_one_line(monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(pretrained, "load", offline)
    assert pretrained.show_on_photos("keypoints", download=True) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("Could not download keypointrcnn_resnet50_fpn")


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown task 'pose'"):
        pretrained.load("pose")
    with pytest.raises(ValueError, match="weights must be 'DEFAULT' or None"):
        pretrained.load("detection", weights="COCO")
