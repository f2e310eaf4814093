"""HW2's attribution metrics as the original homework defines them (pre-softmax scores, a hard
mask, all N + 1 removals): the grader's references against an independent brute force that
builds every masked image by hand and calls the torch model one image at a time, and the
linear model's closed forms against both."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.checks import explanations as ref
from tmlkit.models import small_cnn


def score(model, image: np.ndarray, c: int) -> float:
    """f_c(image) by one forward pass of the float64 model."""
    with torch.no_grad():
        return float(model(torch.as_tensor(image[None], dtype=torch.float64))[0, c])


def brute_average_drop(model, X: np.ndarray, pixel_attrs: np.ndarray) -> float:
    total = 0.0
    for x, a in zip(X, pixel_attrs):
        with torch.no_grad():
            c = int(model(torch.as_tensor(x[None]))[0].argmax())
        masked = x.copy()
        for row in range(a.shape[0]):
            for col in range(a.shape[1]):
                if not a[row, col] > 0:
                    masked[:, row, col] = 0.0
        full = score(model, x, c)
        total += max(full - score(model, masked, c), 0.0) / full
    return 100 * total / len(X)


def brute_necessity_ordering(model, x: np.ndarray, a: np.ndarray) -> float:
    with torch.no_grad():
        c = int(model(torch.as_tensor(x[None]))[0].argmax())
    height, width = a.shape
    pixels = sorted(((row, col) for row in range(height) for col in range(width)),
                    key=lambda p: (-a[p], p[0] * width + p[1]))
    blank = score(model, np.zeros_like(x), c)
    image, terms = x.copy(), [max(score(model, x, c) - blank, 0.0)]
    for row, col in pixels:                        # R(i) for i = 1..N
        image[:, row, col] = 0.0
        terms.append(max(score(model, image, c) - blank, 0.0))
    return sum(terms) / (height * width + 1)


def positive_cnn_case(seed: int, n: int = 3):
    """A float64 small CNN and images on which its top logits are positive."""
    rng = np.random.default_rng(seed)
    for attempt in range(100):
        model = small_cnn(seed + attempt, 3, 8, 4, double=True)
        X = rng.uniform(size=(n, 3, 8, 8))
        logits = ref.torch_predict(model)(X)
        if logits.max(axis=1).min() > 0.01:
            return model, X, rng.normal(size=(n, 8, 8))
    raise AssertionError("no CNN with positive top logits")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_references_match_brute_force_on_a_cnn(seed):
    model, X, attrs = positive_cnn_case(seed)
    attrs[0, :3, :3] = 0.0                         # zeros are not positive: masked out
    predict = ref.torch_predict(model)
    assert ref.reference_average_drop(predict, X, attrs) == \
        pytest.approx(brute_average_drop(model, X, attrs), rel=1e-10, abs=1e-10)
    for x, a in zip(X, attrs):
        assert ref.reference_necessity_ordering(predict, x, a) == \
            pytest.approx(brute_necessity_ordering(model, x, a), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_linear_closed_forms_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    W, b = ref.linear_image_weights(seed, 2, 5, 3, bias_shift=4.0)
    model = ref.linear_image_model(seed, 2, 5, 3, 3.0, True, 4.0)
    X, attrs = rng.uniform(size=(4, 2, 5, 5)), rng.normal(size=(4, 5, 5))
    attrs[1] = -np.abs(attrs[1])                   # nothing positive: the mask is empty
    assert ref.linear_average_drop(W, b, X, attrs) == \
        pytest.approx(brute_average_drop(model, X, attrs), rel=1e-10)
    for x, a in zip(X, attrs):
        assert ref.linear_necessity_ordering(W, b, x, a) == \
            pytest.approx(brute_necessity_ordering(model, x, a), rel=1e-10, abs=1e-12)


def test_metrics_on_cases_with_known_values():
    """Attributions that keep everything lose nothing; ranking pixels by their true
    contributions makes the removal curve fall fastest."""
    rng = np.random.default_rng(5)
    W, b = ref.linear_image_weights(5, 3, 4, 3, bias_shift=4.0)
    X = rng.uniform(size=(5, 3, 4, 4))
    assert ref.linear_average_drop(W, b, X, np.ones((5, 4, 4))) == 0.0
    x = X[0]
    c = int(np.argmax(W @ x.ravel() + b))
    g = ref.linear_pixel_contributions(W, x, c)
    best = ref.linear_necessity_ordering(W, b, x, g)
    assert best < ref.linear_necessity_ordering(W, b, x, -g)
    for _ in range(20):
        assert best <= ref.linear_necessity_ordering(W, b, x, rng.normal(size=(4, 4))) + 1e-12


def test_average_drop_refuses_non_positive_scores():
    predict = ref.linear_predict(np.zeros((2, 3)), np.array([-1.0, -2.0]))
    with pytest.raises(ValueError, match="top logit"):
        ref.reference_average_drop(predict, np.ones((1, 3, 1, 1)), np.ones((1, 1, 1)))
