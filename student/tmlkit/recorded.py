"""Expected values for the visible checks that compare with the grader's reference.

A visible check is written once, in ``tmlkit.public.hwN``, and runs in two places: the grader
and the notebook's self-check. Where it needs the grader's reference implementation of a graded
function, it asks its ``expected`` fixture for the value, naming the reference and passing its
inputs::

    want = expected("forward", x, W1, b1, W2, b2)
    cam = expected("gradcam", args, path, x, c, trusted=small_cnn(*args))

``trusted`` names what the inputs stand for without being passed to the reference (a model
built from ``args``): its weights join the fingerprint.

- In the grader, ``expected`` computes the value now, with the spec's ``REFERENCES``.
- In the notebook, it returns the value that ``make notebooks`` recorded by running the same
  check on the reference solution (``tmlkit/recordings/hwN.py``), found by the fingerprint of
  its inputs: arrays, numbers, and the weights of the trusted models and the data slices the
  check built, bit for bit. Where the student's environment builds other inputs (another torch
  build, a GPU), no recording matches, and the check says it cannot judge here: never a false
  ✓ or ✗. Where inputs match, the check compares with its usual tolerance.

A few references run on what the student's code produced (the grader's PGD attacking the model
the student's training returned): no recording can anticipate those inputs. The spec marks them
``on_submission(reference, reason)``; the self-check then says that the grader judges the check,
and why, and ``docs/checks/`` lists these checks.

Hidden checks never use recordings: they draw fresh instances and compare with live references.
"""
from __future__ import annotations

import base64
import hashlib
import importlib
import platform
import zlib

import numpy as np


class CannotJudgeHere(Exception):
    """The check's recorded expected values do not apply in this environment."""


def _torch_value(value):
    """A torch tensor as a numpy array, a module as its state (name → array); else None."""
    module = type(value).__module__
    if not module.startswith("torch"):
        return None
    if hasattr(value, "state_dict") and hasattr(value, "named_parameters"):
        return {name: tensor for name, tensor in value.state_dict().items()}
    if hasattr(value, "detach"):
        return value.detach().cpu().contiguous().numpy()
    return None


def _feed(digest, value) -> None:
    torch_value = _torch_value(value)
    if torch_value is not None:
        digest.update(type(value).__name__.encode())
        _feed(digest, torch_value)
    elif isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        digest.update(f"array {array.dtype.str} {array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(value, (tuple, list)):
        digest.update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif value is None or isinstance(value, (bool, int, float, str)):
        digest.update(f"{type(value).__name__} {value!r}".encode())
    else:
        raise TypeError(f"cannot fingerprint a {type(value).__name__}: pass arrays, numbers, "
                        "strings, torch tensors or modules, and tuples, lists or dicts of them")


def fingerprint(*inputs) -> str:
    """A digest of the inputs' exact values, dtypes and shapes (a module: its weights)."""
    digest = hashlib.sha256()
    _feed(digest, inputs)
    return digest.hexdigest()[:20]


def environment() -> dict[str, str]:
    """The versions and device that the trusted models and data may depend on, for messages."""
    found = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        import torch
        found["torch"] = torch.__version__
        found["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        pass
    return found


def encode(value):
    """A value as Python literals (exact: arrays as their bytes), for the recording modules."""
    torch_value = _torch_value(value)
    if torch_value is not None:
        return encode(torch_value)
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"array": base64.b64encode(zlib.compress(array.tobytes(), 9)).decode(),
                "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(value, np.generic):
        return encode(value.item())
    if isinstance(value, tuple):
        return {"tuple": [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, float) and not np.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record a {type(value).__name__}")


def decode(value):
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "array" in value:
        raw = zlib.decompress(base64.b64decode(value["array"]))
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    if "tuple" in value:
        return tuple(decode(item) for item in value["tuple"])
    if "dict" in value:
        return {decode(k): decode(v) for k, v in value["dict"]}
    return float(value["float"])


class Recorded:
    """The notebook's ``expected``: the values ``make notebooks`` recorded for this homework."""

    def __init__(self, homework: str):
        try:
            self.recording = importlib.import_module(f"tmlkit.recordings.{homework}").RECORDED
        except ImportError:
            self.recording = {"environment": {}, "values": {}, "on_submission": {}}

    def __call__(self, reference: str, *inputs, trusted=None):
        reason = self.recording.get("on_submission", {}).get(reference)
        if reason:
            raise CannotJudgeHere(f"checked when you submit: {reason}")
        entries = self.recording["values"].get(reference, {})
        value = entries.get(fingerprint(*inputs, trusted))
        if value is None:
            recorded_in = ", ".join(f"{k} {v}" for k, v in self.recording["environment"].items())
            here = ", ".join(f"{k} {v}" for k, v in environment().items())
            raise CannotJudgeHere(
                "cannot judge this check here: its expected values were recorded on inputs that "
                f"this environment builds differently (recorded with {recorded_in}; here: "
                f"{here}). The grader judges it when you submit.")
        return decode(value)


def if_recorded(expected, reference: str, *inputs, trusted=None):
    """``expected(reference, *inputs)``, or None where no value was recorded for these inputs:
    for what only a hint needs (the reference on a variant of the inputs), never a verdict."""
    try:
        return expected(reference, *inputs, trusted=trusted)
    except CannotJudgeHere:
        return None

