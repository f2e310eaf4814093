"""Numerical tools shared by all homeworks (after CS231n's gradient_check)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tmlkit.wire import Opaque
from tmlkit.spec import CheckFailed


def rel_error(actual, expected) -> float:
    """max |a - e| / max(1e-8, |a| + |e|), elementwise; 1e-7 or less means agreement in float64."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected) / np.maximum(1e-8, np.abs(actual) + np.abs(expected)),
                        initial=0.0))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Centred differences (f(x + h e_i) - f(x - h e_i)) / 2h for every entry of x."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        upper = f(x)
        x[index] = saved - h
        lower = f(x)
        x[index] = saved
        grad[index] = (upper - lower) / (2 * h)
    return grad


def as_array(value, what: str, shape: tuple | None = None, finite: bool = True) -> np.ndarray:
    """The student's value as a float64 array, or a CheckFailed naming what is wrong with it."""
    if isinstance(value, Opaque):
        raise CheckFailed(f"{what} should be a numpy array, but your code returned {value!r}.")
    if value is None:
        raise CheckFailed(f"{what} is None: did you forget a `return`?")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise CheckFailed(f"{what} could not be read as an array of numbers ({error}).") from None
    if shape is not None and array.shape != tuple(shape):
        raise CheckFailed(f"{what} has shape {array.shape}, expected {tuple(shape)}.")
    if finite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise CheckFailed(f"{what} has {bad} NaN or infinite entries. Look for overflow in exp() "
                          "or a log of zero.")
    return array


def as_float(value, what: str) -> float:
    array = as_array(value, what)
    if array.size != 1:
        raise CheckFailed(f"{what} should be a single number, but has shape {array.shape}.")
    return float(array.reshape(()))


def as_pair(value, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        kind = type(value).__name__ if not isinstance(value, Opaque) else value.type_name
        raise CheckFailed(f"{what} should return a pair (two values), but returned a {kind}.")
    return tuple(value)


def assert_close(actual, expected, what: str, tol: float = 1e-7, hint: str = "") -> float:
    """Fail when rel_error(actual, expected) > tol; returns the error so callers can report it."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = as_array(actual, what, shape=expected.shape)
    error = rel_error(actual, expected)
    if not error <= tol:
        message = f"{what}: relative error {error:.2g}, expected at most {tol:g}."
        raise CheckFailed(message + (f" {hint}" if hint else ""))
    return error


def accuracy(predictions, labels, what: str = "predictions") -> float:
    predictions = as_array(predictions, what, shape=np.shape(labels))
    return float(np.mean(predictions == np.asarray(labels)))


def lp_sizes(delta: np.ndarray, zero_tol: float = 1e-12) -> dict[str, float]:
    delta = np.ravel(delta)
    return {"L0": float(np.count_nonzero(np.abs(delta) > zero_tol)), "L1": float(np.abs(delta).sum()),
            "L2": float(np.linalg.norm(delta)), "Linf": float(np.abs(delta).max(initial=0.0))}


def check_documented_defaults(run: Callable[..., tuple], call: str, documented: dict,
                              changed: dict, tol: float, hint: str) -> None:
    """The documented defaults of a seeded trainer, observed from outside.

    ``run(**keywords)`` trains on fixed data and returns a tuple of arrays; ``call`` spells the
    call without keywords, e.g. "sgd(X, y". Fails unless two calls with the ``documented`` values
    agree (to ``tol``), the call without keywords agrees with them (naming each default that
    differs), and each value of ``changed``, one at a time, changes the result. ``hint`` says how
    to seed, for a result that is not reproducible or ignores the seed."""
    def same(first, second):
        return all(rel_error(u, v) <= tol for u, v in zip(first, second))

    spelled = ", ".join(f"{k}={v!r}" for k, v in documented.items())
    explicit = run(**documented)
    if not same(run(**documented), explicit):
        raise CheckFailed(f"Two calls {call}, {spelled}) returned different results: the same "
                          f"arguments should give the same result. {hint}")
    if not same(run(), explicit):
        wrong = [k for k in documented
                 if not same(run(**{j: v for j, v in documented.items() if j != k}), explicit)]
        raise CheckFailed(f"{call}) returns other results than {call}, {spelled}): the default of "
                          f"{' and '.join(f'`{k}`' for k in wrong) or 'an argument'} is not the "
                          "documented one. Check the signature.")
    ignored = [k for k, v in changed.items() if same(run(**{**documented, k: v}), explicit)]
    if ignored:
        raise CheckFailed(f"{call}, {' or '.join(f'{k}={changed[k]!r}' for k in ignored)}) returns "
                          f"the same results as with {spelled}: use each argument rather than a "
                          f"fixed value.{' ' + hint if 'seed' in ignored else ''}")
