"""Homework 4 spec: Grad-CAM on a small CNN, and LIME as a (sparse) weighted regression.

The visible checks, with fixed seeds, are written in the student package
(``tmlkit/public/hw4.py``), where the notebook's self-check cells run them too; this spec imports
them. Hidden checks draw fresh instances on every grading run (seed from $TML_GRADER_SEED when
reproducibility is wanted). Models cross into the student's process as ``Build``s of the trusted factory
``tmlkit.models:small_cnn``; the grader builds the same model here for its reference.
"""
from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np

from tmlkit.models import small_cnn
from tmlkit.spec import check, hidden_rng

# The visible checks are written once, in the student package, where the notebook's
# self-check runs them too; imported here, they are this spec's checks.
from tmlkit.public.hw4 import (  # noqa: F401
    _check_best_subset, _check_gradcam, _check_lasso, _check_ridge, _check_score_grad, _check_wls,
    _weighted_problem, ill_conditioned, weighted_rss, test_score_grad_matches_autograd,
    test_gradcam_matches_captum, test_gradcam_normalized, test_gradcam_video_is_per_frame,
    test_lime_samples, test_weighted_least_squares, test_weighted_least_squares_ill_conditioned,
    test_ridge_matches_sklearn, test_lasso_matches_sklearn,
    test_sparse_lime_recovers_planted_support, test_sparse_lime_near_best_subset,
    test_sparse_lime_is_greedy)


# ---------------------------------------------------------------------------------------------
# 1.1 The gradient of a softmax output with respect to the features
# ---------------------------------------------------------------------------------------------

@check("1.1", points=1, hidden=True)
def test_score_grad_on_hidden_shapes(hw):
    """score_grad_wrt_features: matches torch autograd on hidden shapes"""
    rng = hidden_rng()
    for _ in range(4):
        _check_score_grad(hw, rng, int(rng.integers(2, 15)), int(rng.integers(1, 60)),
                          scale=float(rng.uniform(0.5, 3)))


# ---------------------------------------------------------------------------------------------
# 1.2 Grad-CAM as the original defines it, against captum's LayerGradCam
# ---------------------------------------------------------------------------------------------

def _layer(model, path: str):
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def _probabilities(model):
    import torch
    return lambda inputs: torch.softmax(model(inputs), dim=1)


def gradient_sum(model, layer, x, c: int) -> float:
    """Σ_k Σ_ij ∂ŷ_c/∂A^k_ij, the derivative of the softmax output ŷ_c when every activation of
    ``layer`` moves by the same t, by forward-mode autodiff: independent of the reverse-mode
    gradients that captum (and the student) compute."""
    import torch

    def shifted(t):
        handle = layer.register_forward_hook(lambda module, inputs, output: output + t)
        try:
            return _probabilities(model)(x)[0, c]
        finally:
            handle.remove()
    zero = torch.zeros((), dtype=x.dtype)
    # torch's own first jvp warns that it uses torch.jit.script: not the student's concern, and
    # nbgrader scores a self-check cell that writes to stderr as failed.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        return float(torch.func.jvp(shifted, (zero,), (torch.ones_like(zero),))[1].detach())


def reference_gradcam(args: tuple, path: str, x: np.ndarray, c: int) -> np.ndarray:
    """The original's Grad-CAM, ReLU(Σ_k α_k A^k) with α_k = g_k / Σ_j g_j and g_k = Σ_ij
    ∂ŷ_c/∂A^k_ij on the softmax output: captum's LayerGradCam on the softmax-wrapped model (no
    ReLU) gives (1/hw) Σ_k g_k A^k, rescaled by hw / Σ_j g_j. Where Σ_j g_j = 0 the weights
    cannot be normalised and the map is all zeros. Shape (h, w), unnormalised."""
    import torch
    from captum.attr import LayerGradCam
    model = small_cnn(*args)
    layer = _layer(model, path)
    x = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, *np.shape(x)[-3:])
    mean_weighted = LayerGradCam(_probabilities(model), layer).attribute(
        x, target=int(c), relu_attributions=False).detach().numpy()[0, 0]
    total = gradient_sum(model, layer, x, int(c))
    if total == 0:
        return np.zeros_like(mean_weighted)
    return np.maximum(mean_weighted * mean_weighted.size / total, 0.0)


def reference_standard_gradcam(args: tuple, path: str, x: np.ndarray, c: int) -> np.ndarray:
    """The Grad-CAM paper's variant, for the hint only: the logit's gradient, α_k its spatial
    mean (captum's LayerGradCam with relu_attributions=True on the model itself)."""
    import torch
    from captum.attr import LayerGradCam
    model = small_cnn(*args)
    x = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, *np.shape(x)[-3:])
    return LayerGradCam(model, _layer(model, path)).attribute(
        x, target=int(c), relu_attributions=True).detach().numpy()[0, 0]


@check("1.2", points=2, hidden=True)
def test_gradcam_on_hidden_models(hw, expected):
    """gradcam (normalize=False): matches captum on hidden models, layers and classes"""
    rng = hidden_rng()
    for _ in range(3):
        in_channels, size, classes = int(rng.integers(1, 4)), 4 * int(rng.integers(2, 6)), \
            int(rng.integers(2, 8))
        args = (int(rng.integers(1 << 30)), in_channels, size, classes, int(rng.integers(2, 7)))
        path = str(rng.choice(["features.0", "features.1", "features.3", "features.4",
                               "features.6", "features.7"]))
        shape = (1, in_channels, size, size) if rng.random() < 0.5 else (in_channels, size, size)
        _check_gradcam(hw, rng, args, path, int(rng.integers(classes)), shape, reference=expected)


# ---------------------------------------------------------------------------------------------
# 1.3 Grad-CAM of a video, frame by frame
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# 2.1 LIME's perturbations
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# 2.2 Weighted least squares and ridge
# ---------------------------------------------------------------------------------------------

def reference_wls(X, y, w):
    s = np.sqrt(w)
    return np.linalg.lstsq(s[:, None] * X, s * y, rcond=None)[0]


@check("2.2", points=1, hidden=True)
def test_weighted_least_squares_hidden(hw, expected):
    """weighted_least_squares: hidden problems, some ill-conditioned"""
    rng = hidden_rng()
    for _ in range(3):
        n = int(rng.integers(3, 80))
        X, y, w = _weighted_problem(rng, n, int(rng.integers(1, n + 1)))
        _check_wls(hw, X, y, w, f"weighted_least_squares on a hidden {X.shape} X",
                   reference=expected)
    X, y, w = ill_conditioned(rng, d=int(rng.integers(2, 7)))
    _check_wls(hw, X, y, w, "weighted_least_squares on a hidden ill-conditioned X", tol=1e-6,
               reference=expected)


@check("2.2", points=1, hidden=True)
def test_ridge_hidden(hw):
    """ridge_lime: matches sklearn Ridge on hidden problems"""
    rng = hidden_rng()
    for _ in range(3):
        _check_ridge(hw, rng, int(rng.integers(3, 60)), int(rng.integers(1, 20)),
                     float(10 ** rng.uniform(-3, 1)))


# ---------------------------------------------------------------------------------------------
# 2.3 Lasso
# ---------------------------------------------------------------------------------------------

def reference_lasso(X, y, w, lam):
    from sklearn.linear_model import Lasso
    return Lasso(alpha=lam, fit_intercept=False, tol=1e-12, max_iter=200_000).fit(
        X, y, sample_weight=w).coef_


@check("2.3", points=2, hidden=True)
def test_lasso_hidden(hw, expected):
    """lasso_lime: matches sklearn Lasso on hidden problems"""
    rng = hidden_rng()
    for _ in range(3):
        _check_lasso(hw, rng, int(rng.integers(20, 80)), int(rng.integers(2, 12)),
                     float(10 ** rng.uniform(-2.5, -0.3)), reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.4 Sparse LIME: greedy forward selection
# ---------------------------------------------------------------------------------------------

def best_subset_rss(X, y, w, k) -> float:
    best = np.inf
    for subset in combinations(range(X.shape[1]), k):
        subset = list(subset)
        beta = np.zeros(X.shape[1])
        beta[subset] = reference_wls(X[:, subset], y, w)
        best = min(best, weighted_rss(X, y, w, beta))
    return best


@check("2.4", points=2, hidden=True)
def test_sparse_lime_hidden(hw, expected):
    """sparse_lime: within 1% of the best subset on hidden problems"""
    _check_best_subset(hw, hidden_rng(), instances=5, decoys=2, reference=expected)


def reference_forward_selection(X, y, w, k) -> list:
    """The support greedy forward selection picks, in order: each time the feature whose
    inclusion, refitting all selected coefficients by weighted least squares, leaves the least
    weighted residual."""
    support: list = []
    for _ in range(k):
        rss = {}
        for j in range(X.shape[1]):
            if j not in support:
                beta = np.zeros(X.shape[1])
                beta[support + [j]] = reference_wls(X[:, support + [j]], y, w)
                rss[j] = weighted_rss(X, y, w, beta)
        support.append(min(rss, key=rss.get))
    return support


# What the checks compare with (their ``expected`` fixture): computed live here, and recorded
# for the visible checks by ``make notebooks``, for the notebook's self-checks.
REFERENCES = {"gradcam": reference_gradcam, "standard_gradcam": reference_standard_gradcam,
              "wls": reference_wls, "lasso": reference_lasso,
              "best_subset_rss": best_subset_rss, "forward_selection": reference_forward_selection}
