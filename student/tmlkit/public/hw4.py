"""Visible checks of hw4: written once, run by the grader (its spec, autograder/homeworks/hw4.py,
imports them) and by the notebook's self-check (tmlkit.selfcheck). Where a check compares with the
grader's reference, it asks its ``expected`` fixture (see tmlkit.recorded)."""
from __future__ import annotations

import numpy as np

from tmlkit.models import small_cnn
from tmlkit.numeric import as_array, assert_close, rel_error
from tmlkit.recorded import if_recorded
from tmlkit.wire import Build
from tmlkit.spec import CheckFailed, check

CNN = "tmlkit.models:small_cnn"


# ---------------------------------------------------------------------------------------------
# 1.1 The gradient of a softmax output with respect to the features
# ---------------------------------------------------------------------------------------------

def _norm_error(actual, expected) -> float:
    """‖a - e‖ / ‖e‖: unlike an entrywise error, not fooled by entries that cancel to ~0."""
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


def _check_score_grad(hw, rng, C, F, scale=2.0):
    # Logits of standard deviation about `scale`: a saturated softmax (ŷ_c within 1e-9 of 1)
    # would make any formula, torch's included, lose digits to cancellation in 1 - ŷ_c.
    W = rng.normal(scale=scale / np.sqrt(F), size=(C, F))
    b, z, c = rng.normal(size=C), rng.normal(size=F), int(rng.integers(C))
    import torch
    tz = torch.tensor(z, requires_grad=True)
    torch.softmax(torch.tensor(W) @ tz + torch.tensor(b), dim=0)[c].backward()
    expected = tz.grad.numpy()
    got = as_array(hw.score_grad_wrt_features(W, b, z, c), "score_grad_wrt_features(W, b, z, c)",
                   shape=(F,))
    error = _norm_error(got, expected)
    if error > 1e-8:
        p = np.exp(W @ z + b - np.max(W @ z + b))
        p /= p.sum()
        if _norm_error(got, W[c]) < 1e-8 or _norm_error(got, W[c] - p @ W) < 1e-8:
            hint = ("You have the gradient of the logit (or of log ŷ_c); the softmax output adds "
                    "the factor ŷ_c: ŷ_c (W_c - Σ_k ŷ_k W_k).")
        else:
            hint = "∂ŷ_c/∂z = ŷ_c (W_c - Σ_k ŷ_k W_k), with ŷ = softmax(W z + b) and W_c = W[c]."
        raise CheckFailed(f"∂ŷ_c/∂z (C={C}, F={F}, c={c}): relative error ‖g - g_torch‖ / "
                          f"‖g_torch‖ = {error:.2g} against torch autograd in float64 (expected "
                          f"≤ 1e-8). {hint}")


@check("1.1", points=2)
def test_score_grad_matches_autograd(hw):
    """score_grad_wrt_features: matches torch autograd (float64, ≤ 1e-8)"""
    rng = np.random.default_rng(41)
    for C, F in ((4, 7), (10, 3), (2, 12)):
        _check_score_grad(hw, rng, C, F)


# ---------------------------------------------------------------------------------------------
# 1.2 Grad-CAM as the original defines it, against captum's LayerGradCam
# ---------------------------------------------------------------------------------------------

def _call_gradcam(hw, args, path, x, c, normalize, default=False):
    """``default``: leave normalize out, to test its documented default (True)."""
    model = Build(CNN, args)
    if default:
        what = f"gradcam(model, model.{path}, x, c={c}) with normalize left out (default True)"
        return hw.gradcam(model, model.attribute(path), x, c), what
    what = f"gradcam(model, model.{path}, x, c={c}, normalize={normalize})"
    return hw.gradcam(model, model.attribute(path), x, c, normalize=normalize), what


def _scaled(a, normalize):
    return a / a.max() if normalize and a.max() > 0 else a


def _gradcam_hint(got, expected, standard, normalize) -> str:
    """What the map most likely got wrong, tried against the usual slips (``expected`` already
    scaled; ``standard``, the paper's variant, None where it was not recorded)."""
    def same_shape(a, b):      # equal up to a positive factor
        return a.max() > 0 and b.max() > 0 and rel_error(a / a.max(), b / b.max()) < 1e-6
    if not np.all(np.isfinite(got)):
        return ("Your map has NaN or infinite entries. Here Σ_k Σ_ij ∂ŷ_c/∂A^k_ij = 0 (the "
                "softmax is saturated), so Z = 0 and the weights cannot be made to sum to 1: "
                "return the all-zero map in that case instead of dividing by Z.")
    if np.any(got < -1e-12):
        return "Your map has negative entries: apply the ReLU to Σ_k α_k A^k."
    if standard is not None and (same_shape(got, standard)
                                 or rel_error(got, _scaled(standard, normalize)) < 1e-6):
        return ("It is the Grad-CAM paper's variant, with the gradient of the logit. Here y_c is "
                "the softmax output ŷ_c = softmax(s)_c, and α_k = Σ_ij ∂ŷ_c/∂A^k_ij / Z with Z "
                "such that Σ_k α_k = 1.")
    if not normalize and same_shape(got, expected):
        return (f"It is {got.max() / expected.max():.4g}× the reference: normalise the weights "
                "so that they sum to 1 (Z = Σ_k Σ_ij ∂ŷ_c/∂A^k_ij, not h·w nor a sum of "
                "absolute values), and with normalize=False do not rescale the map.")
    if normalize:
        return ("With normalize=True divide the map by its maximum (when that is positive). "
                "Z = Σ_k Σ_ij ∂ŷ_c/∂A^k_ij keeps its sign: when it is negative, the ReLU keeps "
                "the regions where Σ_k g_k A^k is negative.")
    return ("L^c = ReLU(Σ_k α_k A^k) with α_k = Σ_ij ∂ŷ_c/∂A^k_ij / Z, ŷ_c the softmax output "
            "for class c, A the layer's output and Z such that Σ_k α_k = 1 (keep its sign).")


def _check_gradcam(hw, rng, args, path, c, shape, normalize=False, default=False, x=None,
                   reference=None):
    x = rng.normal(size=shape) if x is None else x
    expected = _scaled(reference("gradcam", args, path, x, c, trusted=small_cnn(*args)), normalize)
    got, what = _call_gradcam(hw, args, path, x, c, normalize, default)
    got = as_array(got, what, finite=False)       # NaN: the hint says where it comes from
    if got.shape != expected.shape:
        raise CheckFailed(f"{what} has shape {got.shape}; expected {expected.shape}, the spatial "
                          f"size (h, w) of the layer's activations for one image (x of shape "
                          f"{x.shape}). Drop the batch and channel axes, and do not upsample.")
    error = rel_error(got, expected) if expected.any() else float(np.abs(got).max())
    if not error <= 1e-6:           # also true for NaN
        measure = "relative error" if expected.any() else "max |map|"
        standard = if_recorded(reference, "standard_gradcam", args, path, x, c,
                               trusted=small_cnn(*args))
        raise CheckFailed(f"{what} on a small random CNN: {measure} {error:.2g} against captum's "
                          f"LayerGradCam on the softmax output, "
                          f"weights normalised to sum to 1 (expected ≤ 1e-6). "
                          f"{_gradcam_hint(got, expected, standard, normalize)}")


def saturated_image(seed: int) -> np.ndarray:
    """An input scaled so far that small_cnn(seed)'s softmax is exactly one-hot in float64 (for
    seeds 1 and 4): every ∂ŷ_c/∂A is then exactly 0, and so is Z."""
    return 1e5 * np.random.default_rng(seed).normal(size=(1, 3, 16, 16))


@check("1.2", points=3)
def test_gradcam_matches_captum(hw, expected):
    """gradcam (normalize=False): the original's Grad-CAM (softmax output, Σ α = 1), as captum"""
    rng = np.random.default_rng(42)
    for args, path, c, shape in (((0,), "features.6", 1, (1, 3, 16, 16)),
                                 ((1,), "features.3", 4, (3, 16, 16)),
                                 ((2, 1, 12, 3, 5), "features.7", 0, (1, 1, 12, 12))):
        _check_gradcam(hw, rng, args, path, c, shape, reference=expected)
    # Z = 0: the weights cannot be normalised, and the map is all zeros.
    _check_gradcam(hw, rng, (1,), "features.7", 2, None, x=saturated_image(1), reference=expected)


@check("1.2", points=1)
def test_gradcam_normalized(hw, expected):
    """gradcam (normalize=True): the map divided by its maximum"""
    rng = np.random.default_rng(43)
    for args, path, c, default in (((3,), "features.6", 2, False), ((4,), "features.4", 0, True)):
        _check_gradcam(hw, rng, args, path, c, (1, 3, 16, 16), normalize=True, default=default,
                       reference=expected)


# ---------------------------------------------------------------------------------------------
# 1.3 Grad-CAM of a video, frame by frame
# ---------------------------------------------------------------------------------------------

@check("1.3", points=2)
def test_gradcam_video_is_per_frame(hw):
    """gradcam_video: shape (T, h, w), equal to per-frame gradcam calls"""
    rng = np.random.default_rng(44)
    args, path, c, T = (5,), "features.3", 3, 4
    model = Build(CNN, args)
    frames = rng.normal(size=(T, 3, 16, 16))
    for normalize in (False, True):
        what = f"gradcam_video(model, layer, frames, c, normalize={normalize})"
        video = as_array(hw.gradcam_video(model, model.attribute(path), frames, c,
                                          normalize=normalize), what)
        singles = np.stack([as_array(_call_gradcam(hw, args, path, frame, c, normalize)[0],
                                     "gradcam of one frame") for frame in frames])
        if video.shape != singles.shape:
            raise CheckFailed(f"{what} has shape {video.shape}; expected {singles.shape}: one "
                              "(h, w) map per frame, stacked along a first axis of length T.")
        assert_close(video, singles, what, tol=1e-9,
                     hint="Map t should be exactly gradcam(model, layer, frames[t], c): process "
                          "each frame on its own (a batch would mix the frames' scores).")
        if normalize:      # normalize left out: its documented default is True
            default = as_array(hw.gradcam_video(model, model.attribute(path), frames, c),
                               "gradcam_video(model, layer, frames, c)")
            assert_close(default, singles, "gradcam_video(model, layer, frames, c) with normalize "
                         "left out", tol=1e-9,
                         hint="normalize defaults to True: each frame's map divided by its "
                              "maximum, as gradcam(..., normalize=True) gives it.")
        reversed_video = as_array(hw.gradcam_video(model, model.attribute(path), frames[::-1].copy(),
                                                   c, normalize=normalize), what)
        assert_close(reversed_video, singles[::-1], f"{what} on the frames in reverse order",
                     tol=1e-9, hint="Frame t's map must depend on frame t only.")


# ---------------------------------------------------------------------------------------------
# 2.1 LIME's perturbations
# ---------------------------------------------------------------------------------------------

@check("2.1", points=1)
def test_lime_samples(hw):
    """lime_samples: Gaussian around x0, reproducible from the seed"""
    x0, m, sigma = np.array([1.0, -2.0, 0.5]), 20000, 0.3
    first = as_array(hw.lime_samples(x0, m, sigma, seed=1), "lime_samples(x0, m, sigma, seed=1)",
                     shape=(m, 3))
    again = as_array(hw.lime_samples(x0, m, sigma, seed=1), "lime_samples a second time")
    other = as_array(hw.lime_samples(x0, m, sigma, seed=2), "lime_samples(..., seed=2)")
    if not np.array_equal(first, again):
        raise CheckFailed("Two calls with seed=1 returned different samples: draw them from "
                          "np.random.default_rng(seed), not from the global random state.")
    if np.array_equal(first, other):
        raise CheckFailed("seed=1 and seed=2 gave the same samples: use the seed argument.")
    default = as_array(hw.lime_samples(x0, 5, sigma), "lime_samples(x0, 5, sigma)", shape=(5, 3))
    if not np.array_equal(default, as_array(hw.lime_samples(x0, 5, sigma, seed=0),
                                            "lime_samples(x0, 5, sigma, seed=0)")):
        raise CheckFailed("lime_samples(x0, m, sigma) with seed left out differs from seed=0: "
                          "the seed defaults to 0, so that the call is reproducible.")
    mean_gap = np.abs(first.mean(axis=0) - x0).max()
    if mean_gap > 5 * sigma / np.sqrt(m):
        raise CheckFailed(f"The samples' mean is {mean_gap:.3g} away from x0: centre them at x0.")
    spread = first.std(axis=0)
    if np.abs(spread / sigma - 1).max() > 0.05:
        raise CheckFailed(f"Per-feature standard deviations {np.round(spread, 4)}, expected "
                          f"sigma = {sigma} (sigma is a standard deviation, not a variance).")
    if np.abs(np.corrcoef(first.T) - np.eye(3)).max() > 0.05:
        raise CheckFailed("The features of the samples are correlated: perturb each one "
                          "independently.")


# ---------------------------------------------------------------------------------------------
# 2.2 Weighted least squares and ridge
# ---------------------------------------------------------------------------------------------

def _weighted_problem(rng, n, d):
    return rng.normal(size=(n, d)), rng.normal(size=n), rng.uniform(0.05, 2.0, size=n)


def _check_wls(hw, X, y, w, what, tol=1e-8, reference=None):
    expected = reference("wls", X, y, w)
    got = as_array(hw.weighted_least_squares(X, y, w), what, shape=expected.shape)
    error = rel_error(got, expected)
    if error > tol:
        if rel_error(got, np.linalg.lstsq(X, y, rcond=None)[0]) < 1e-6:
            hint = "It equals the unweighted solution: the weights w must enter the fit."
        elif any(variant is not None and rel_error(got, variant) < 1e-6 for variant in
                 (if_recorded(reference, "wls", X, y, w ** 2),
                  if_recorded(reference, "wls", X, y, np.sqrt(w)))):
            hint = "Scale the rows by sqrt(w): then the squared residuals carry the weights w."
        else:
            hint = "β* minimises Σ_i w_i (y_i - x_i·β)² (written exercise 2b)."
        raise CheckFailed(f"{what}: relative error {error:.2g} against numpy.linalg.lstsq on the "
                          f"weighted problem (expected ≤ {tol:g}). {hint}")


@check("2.2", points=2)
def test_weighted_least_squares(hw, expected):
    """weighted_least_squares: matches lstsq on the weighted problem (≤ 1e-8)"""
    rng = np.random.default_rng(51)
    for n, d in ((30, 5), (12, 12), (100, 3)):
        X, y, w = _weighted_problem(rng, n, d)
        _check_wls(hw, X, y, w, f"weighted_least_squares on a ({n}, {d}) X", reference=expected)


def ill_conditioned(rng, eps=1e-7, d=4):
    """Läuchli's matrix with noise: cond(X) ≈ 1e7, so cond(XᵀWX) ≈ 1e14."""
    X = np.vstack([np.ones((1, d)), eps * np.eye(d), eps * rng.normal(size=(3, d))])
    return X, rng.normal(size=len(X)), rng.uniform(0.5, 2.0, size=len(X))


@check("2.2", points=1)
def test_weighted_least_squares_ill_conditioned(hw, expected):
    """weighted_least_squares: stable when X is ill-conditioned (cond ≈ 1e7)"""
    X, y, w = ill_conditioned(np.random.default_rng(52))
    try:
        _check_wls(hw, X, y, w, "weighted_least_squares on an ill-conditioned X", tol=1e-6,
                   reference=expected)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure} Here cond(X) ≈ {np.linalg.cond(X):.1e}: forming XᵀWX "
                          "squares it to ≈ 1e14 and loses most digits. Solve the least-squares "
                          "problem on the rows scaled by sqrt(w) with np.linalg.lstsq.") from None


def _check_ridge(hw, rng, n, d, lam):
    from sklearn.linear_model import Ridge
    X, y, w = _weighted_problem(rng, n, d)
    expected = Ridge(alpha=lam, fit_intercept=False).fit(X, y, sample_weight=w).coef_
    what = f"ridge_lime(X, y, w, lam={lam:g}) on a ({n}, {d}) X"
    got = as_array(hw.ridge_lime(X, y, w, lam), what, shape=(d,))
    error = rel_error(got, expected)
    if error > 1e-8:
        scaled = Ridge(alpha=lam * np.sum(w), fit_intercept=False).fit(X, y, sample_weight=w).coef_
        hint = ("Your λ is scaled by sum(w); here the objective is Σ w_i (y_i - x_i·β)² + λ‖β‖², "
                "as in sklearn's Ridge." if rel_error(got, scaled) < 1e-6 else
                "β minimises Σ w_i (y_i - x_i·β)² + λ‖β‖², with no intercept (written "
                "exercise 2d).")
        raise CheckFailed(f"{what}: relative error {error:.2g} against sklearn's Ridge with "
                          f"sample_weight (expected ≤ 1e-8). {hint}")


@check("2.2", points=1)
def test_ridge_matches_sklearn(hw):
    """ridge_lime: matches sklearn Ridge with sample_weight"""
    rng = np.random.default_rng(53)
    for n, d, lam in ((40, 6, 0.5), (10, 15, 2.0), (25, 4, 1e-3)):
        _check_ridge(hw, rng, n, d, lam)


# ---------------------------------------------------------------------------------------------
# 2.3 Lasso
# ---------------------------------------------------------------------------------------------

def _check_lasso(hw, rng, n, d, lam, reference):
    X, y, w = _weighted_problem(rng, n, d)
    y = y + X[:, : max(1, d // 3)] @ rng.normal(size=max(1, d // 3))
    expected = reference("lasso", X, y, w, lam)
    what = f"lasso_lime(X, y, w, lam={lam:g}) on a ({n}, {d}) X"
    got = as_array(hw.lasso_lime(X, y, w, lam), what, shape=(d,))
    gap = float(np.abs(got - expected).max())
    if gap > 1e-4 * max(1.0, float(np.abs(expected).max())):
        for factor, why in ((np.sum(w), "sum(w)"), (n, "n"), (0.5, "1/2"), (2.0, "2")):
            variant = if_recorded(reference, "lasso", X, y, w, lam / factor)
            if variant is not None and np.abs(got - variant).max() < 1e-3:
                hint = (f"Your threshold is off by a factor {why}: the objective is "
                        "(1 / (2 Σ_i w_i)) Σ_i w_i (y_i - x_i·β)² + λ‖β‖₁.")
                break
        else:
            hint = ("Minimise (1 / (2 Σ_i w_i)) Σ_i w_i (y_i - x_i·β)² + λ‖β‖₁ (no intercept); a "
                    "coordinate update is a soft-threshold at λ of the weighted correlation of "
                    "column j with the partial residual, divided by Σ_i w_i x_ij² / Σ_i w_i. "
                    "Iterate until the coefficients stop changing.")
        raise CheckFailed(f"{what}: max |β - β_sklearn| = {gap:.2g} against sklearn's Lasso with "
                          f"sample_weight (expected ≤ 1e-4). {hint}")


@check("2.3", points=2)
def test_lasso_matches_sklearn(hw, expected):
    """lasso_lime: matches sklearn Lasso with sample_weight (≤ 1e-4)"""
    rng = np.random.default_rng(61)
    for n, d, lam in ((50, 6, 0.05), (30, 8, 0.2), (20, 5, 5.0), (60, 10, 0.01)):
        _check_lasso(hw, rng, n, d, lam, reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.4 Sparse LIME: greedy forward selection
# ---------------------------------------------------------------------------------------------

def planted_problem(rng, d=None, n=None, k=None, noise=0.3):
    """y = X β + noise with β supported on k of d nearly independent features, |β_j| in [1, 3].
    On this family greedy forward selection finds the best subset (0 misses in 8000 trials)."""
    d = int(rng.integers(6, 11)) if d is None else d
    n = int(rng.integers(40, 81)) if n is None else n
    k = int(rng.integers(2, 5)) if k is None else k
    X = _product(rng.normal(size=(n, d)), np.eye(d) + 0.1 * rng.normal(size=(d, d)) / np.sqrt(d))
    support = np.sort(rng.choice(d, k, replace=False))
    beta = np.zeros(d)
    beta[support] = rng.uniform(1, 3, k) * rng.choice([-1, 1], k)
    return X, _product(X, beta) + noise * rng.normal(size=n), rng.uniform(0.2, 1.0, n), support


def _product(A, B):
    """A @ B as a fixed sequence of elementwise products and sums: bit for bit the same on every
    machine (BLAS's order of summation varies with the CPU and the numpy build), so that the
    recorded expected values of these inputs apply in the student's environment too."""
    return sum((A[:, j, None] * B[j] for j in range(1, A.shape[1])),
               start=A[:, 0, None] * B[0]).reshape(len(A), *np.shape(B)[1:])


def decoy_problem(rng, d=6, n=100):
    """y = 2 x_a + x_b + noise, plus a decoy x_a + 0.7 noise that is as correlated with y as x_a
    (in Xᵀ W y) but redundant once x_a is in: ranking features by correlation alone picks the
    decoy (in 99.9% of draws), greedy selection with refitting never did (0 of 3000)."""
    X = rng.normal(size=(n, d))
    a, b, decoy = rng.choice(d, 3, replace=False)
    X[:, decoy] = X[:, a] + 0.7 * rng.normal(size=n)
    y = 2 * X[:, a] + X[:, b] + 0.1 * rng.normal(size=n)
    return X, y, rng.uniform(0.2, 1.0, n), np.sort([a, b])


def weighted_rss(X, y, w, beta) -> float:
    return float(np.sum(w * (y - X @ beta) ** 2))


def _sparse(hw, X, y, w, k):
    what = f"sparse_lime(X, y, w, k={k}) on a {X.shape} X"
    beta = as_array(hw.sparse_lime(X, y, w, k), what, shape=(X.shape[1],))
    nonzero = int(np.count_nonzero(beta))
    if nonzero > k:
        raise CheckFailed(f"{what} has {nonzero} nonzero coefficients; at most k = {k} are "
                          "allowed. Set every coefficient outside the selected support to 0.")
    return beta, what


@check("2.4", points=2)
def test_sparse_lime_recovers_planted_support(hw):
    """sparse_lime: at most k nonzeros; recovers planted supports, also next to a decoy"""
    rng = np.random.default_rng(71)
    problems = [planted_problem(rng, d=int(rng.integers(8, 20)), n=80) for _ in range(4)]
    for X, y, w, support in problems + [decoy_problem(rng) for _ in range(2)]:
        beta, what = _sparse(hw, X, y, w, len(support))
        if set(np.flatnonzero(beta)) != set(support.tolist()):
            raise CheckFailed(f"{what} selected features {sorted(np.flatnonzero(beta).tolist())}; "
                              f"the planted support is {support.tolist()}. At each step add the "
                              "feature whose inclusion (refitting all selected coefficients by "
                              "weighted least squares) lowers the weighted residual the most.")
        _sparse(hw, X, y, w, 1)


def _check_best_subset(hw, rng, instances, decoys=0, reference=None):
    for index in range(instances + decoys):
        X, y, w, support = planted_problem(rng) if index < instances else decoy_problem(rng)
        k = len(support)
        beta, what = _sparse(hw, X, y, w, k)
        got, best = weighted_rss(X, y, w, beta), reference("best_subset_rss", X, y, w, k)
        if got > 1.01 * best:
            raise CheckFailed(f"{what}: weighted residual Σ w_i (y_i - x_i·β)² = {got:.4g}, but "
                              f"the best subset of {k} features reaches {best:.4g} (more than 1% "
                              "better). Refit the selected coefficients by weighted least squares "
                              "after each addition, and pick the feature that lowers the weighted "
                              "residual most.")


@check("2.4", points=1)
def test_sparse_lime_near_best_subset(hw, expected):
    """sparse_lime: within 1% of the brute-force best subset (d ≤ 10)"""
    _check_best_subset(hw, np.random.default_rng(72), instances=4, reference=expected)


def greedy_trap(rng, d=6, n=60):
    """y = x_a + x_b + noise and a mixture x_m = (x_a + x_b)/√2 + 0.3 noise, the single feature
    that fits y best: greedy forward selection takes x_m first, then x_a or x_b, while the best
    pair is {x_a, x_b} (its weighted residual is tens of times smaller). Best-subset search
    therefore answers differently from the greedy selection the notebook asks for."""
    X = rng.normal(size=(n, d))
    a, b, mixture = rng.choice(d, 3, replace=False)
    X[:, mixture] = (X[:, a] + X[:, b]) / np.sqrt(2) + 0.3 * rng.normal(size=n)
    y = X[:, a] + X[:, b] + 0.05 * rng.normal(size=n)
    return X, y, rng.uniform(0.2, 1.0, n)


@check("2.4", points=1)
def test_sparse_lime_is_greedy(hw, expected):
    """sparse_lime: greedy forward selection, also where it misses the best subset"""
    rng = np.random.default_rng(81)
    for _ in range(3):
        X, y, w = greedy_trap(rng)
        greedy = expected("forward_selection", X, y, w, 2)
        beta, what = _sparse(hw, X, y, w, 2)
        chosen = sorted(np.flatnonzero(beta).tolist())
        if chosen != sorted(greedy):
            first = ("It does not hold the feature that alone fits y best, which greedy "
                     "selection takes first." if greedy[0] not in chosen else
                     "Its second feature is not the one that, refit together with the first, "
                     "lowers the weighted residual most.")
            raise CheckFailed(f"{what} selected features {chosen}, not the support of greedy "
                              f"forward selection. {first} Build the support one feature at a "
                              "time: start empty and k times add the feature whose inclusion "
                              "(refitting all selected coefficients by weighted least squares) "
                              "gives the smallest weighted residual; do not search all subsets.")
