"""Only plain data crosses the process boundary, and it round-trips exactly."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tmlkit.wire import Build, Opaque, WireError, decode, encode, recv, send


def round_trip(value):
    """Through a real socket pair, as between the grader and the child."""
    import socket
    import threading
    buffers = []
    header = {"value": encode(value, buffers)}
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=send, args=(a, header, buffers))
        sender.start()
        received, received_buffers = recv(b)
        sender.join()
    return decode(received["value"], received_buffers)


@given(hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_]),
                  shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))
def test_arrays_round_trip_with_dtype_and_shape(array):
    back = round_trip(array)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_containers_scalars_and_special_floats():
    value = {"a": [1, 2.5, float("nan"), float("inf")], "b": (None, True, "x"), "c": 2**70}
    back = round_trip(value)
    assert back["b"] == (None, True, "x") and back["c"] == 2**70
    assert back["a"][:2] == [1, 2.5] and np.isnan(back["a"][2]) and back["a"][3] == np.inf


def test_numpy_scalar_keeps_its_type():
    assert type(round_trip(np.float32(1.5))) is np.float32


def test_torch_tensor_arrives_as_numpy():
    back = round_trip(torch.arange(3.0, requires_grad=True) * 2)
    assert isinstance(back, np.ndarray) and back.tolist() == [0.0, 2.0, 4.0]


class LyingArray:
    def __array__(self, *args, **kwargs):
        return np.ones(3)

    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [object(), LyingArray(), np.array([object()]), lambda: 1,
                                   type("MyList", (list,), {})([1])])
def test_other_objects_arrive_as_opaque_placeholders(value):
    assert isinstance(round_trip(value), Opaque)


def test_refuses_object_dtype_on_decode():
    with pytest.raises(WireError):
        decode({"t": "nd", "dtype": "|O", "shape": [1], "b": 0}, [b"\x00" * 8])


def test_refuses_two_arrays_on_one_buffer():
    # Arrays are views of their received buffer; a crafted message must not make two of them alias.
    one = {"t": "nd", "dtype": "<f8", "shape": [1], "b": 0}
    with pytest.raises(WireError, match="already used"):
        decode({"t": "list", "v": [one, one]}, [bytearray(8)])


def test_large_arrays_arrive_intact_and_writable():
    array = np.arange(3_000_000, dtype=np.float64).reshape(1000, 3000)[:, ::2]   # not contiguous
    back = round_trip({"x": array, "small": np.float32(2.5)})
    np.testing.assert_array_equal(back["x"], array)
    back["x"][0, 0] = -1.0       # the grader may modify what it received
    assert back["small"] == np.float32(2.5) and array[0, 0] == 0.0


def test_a_builds_args_may_hold_callbacks():
    """A grader function inside a Build's args crosses as a callback, so a trusted model can
    report to the grader (hw5's traced_softmax_regression)."""
    def record(*args):
        return None

    buffers: list = []
    callbacks: dict = {}
    data = encode([Build("tmlkit.robustness:predicate", ("greater", record))], buffers,
                  callbacks)
    assert list(callbacks.values()) == [record]
    seen = []
    decoded = decode(data, buffers, make_callback=lambda i: ("callback", i),
                     make_build=lambda factory, args, path: seen.append(args) or factory)
    assert decoded == ["tmlkit.robustness:predicate"]
    assert seen == [("greater", ("callback", 0))]
