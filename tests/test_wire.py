"""The data between the grader and a sandbox (course_utils.grading.wire) and the grader's
stand-ins for what a submission defines (remote.RemoteModule): data only, within limits."""

import math

import numpy as np
import pytest
import torch

from course_utils.grading.remote import Link, RemoteModule
from course_utils.grading.wire import WireError, decode, encode
from course_utils.models import BasicBlock


def roundtrip(value, refs=False):
    return decode(encode(value), refs=refs)


def test_values_come_back_as_themselves():
    x = torch.randn(2, 3, dtype=torch.float64)
    got = roundtrip((x, [1, 2.5, None, True, "s"], {"k": torch.tensor(3)}, float("nan")))
    assert torch.equal(got[0], x) and got[0].dtype == torch.float64
    assert got[1] == [1, 2.5, None, True, "s"] and got[2]["k"].item() == 3
    assert math.isnan(got[3])
    assert torch.equal(roundtrip(torch.tensor(7)), torch.tensor(7))  # a 0-d tensor
    assert roundtrip(torch.zeros(0, 4)).shape == (0, 4)
    assert roundtrip(torch.float16) is torch.float16


def test_numpy_scalars_stay_numpy_scalars():
    # a check sees in the grader what it sees in the notebook: np.int64 is not an int
    got = roundtrip((np.int64(5), np.float32(0.5), np.bool_(True)))
    assert [type(v) for v in got] == [np.int64, np.float32, np.bool_]
    assert got[0] == 5 and got[1] == 0.5


def test_references_go_only_from_the_grader_to_the_sandbox():
    data = encode(BasicBlock)  # the grader sends the course's block to a ResNet exercise
    assert decode(data, refs=True) is BasicBlock
    with pytest.raises(WireError, match="unexpected tag"):
        decode(data)  # what a sandbox sends can name no object of the grader's
    for path in ("torch:os.environ.copy", "torch:sys.exit", "os:system", "torch:manual_seed"):
        with pytest.raises(WireError):
            decode({"$ref": path}, refs=True)


@pytest.mark.parametrize(
    "bad",
    [
        {"$tensor": {"dtype": "float32", "shape": [3], "data": "AAAA"}},  # 3 bytes for 12
        {"$tensor": {"dtype": "object", "shape": [1], "data": ""}},
        {"$tensor": {"dtype": "float32", "shape": [-1], "data": ""}},
        {"$np": ["object_", 1]},
        {"$np": ["int64", "1"]},
        {"$pickle": "gASV"},
        {"a": 1, "b": 2},
    ],
)
def test_malformed_data_is_refused(bad):
    with pytest.raises(WireError):
        decode(bad)


def test_a_module_description_over_the_limits_is_refused():
    names = [[f"p{i}", [1], "float32", True] for i in range(20_000)]
    with pytest.raises(WireError, match="over the limits"):
        RemoteModule(Link(None, "x", 1), {"id": 1, "module": {"parameters": names}})
    huge = [["w", [2**20, 2**20], "float32", True]]
    with pytest.raises(WireError, match="size limit"):
        RemoteModule(Link(None, "x", 1), {"id": 1, "module": {"parameters": huge}})


def test_one_budget_for_a_whole_reply():
    # many copies of one large module in one reply: the budget is the reply's, not each's
    link = Link(None, "x", 1)
    big = {"id": 1, "module": {"parameters": [["w", [30_000_000], "float32", True]]}}
    with pytest.raises(WireError, match="size limit"):
        link.value(encode((1,)) and {"$tuple": [{"$handle": big}, {"$handle": big}]})
    deep = [[".".join(["a"] * 20), [1], "float32", True]]
    with pytest.raises(WireError, match="over the limits"):
        RemoteModule(link, {"id": 2, "module": {"parameters": deep}})
    with pytest.raises(WireError, match="too many objects"):
        link.value([{"$handle": {"id": i, "type": "f", "callable": True}} for i in range(1_001)])
