"""Visible checks of hw2: written once, run by the grader (its spec, autograder/homeworks/hw2.py,
imports them) and by the notebook's self-check (tmlkit.selfcheck). Where a check compares with the
grader's reference, it asks its ``expected`` fixture (see tmlkit.recorded)."""
from __future__ import annotations

import numpy as np

from tmlkit.models import linear_image_weights, small_cnn
from tmlkit.numeric import as_array, as_float, as_pair
from tmlkit.wire import Build
from tmlkit.recorded import if_recorded
from tmlkit.spec import CheckFailed, check

CNN = "tmlkit.models:small_cnn"
LINEAR = "tmlkit.models:linear_image_model"


def _norm_error(actual, expected) -> float:
    """‖a - e‖ / ‖e‖: robust to entries that are ~0 in float32."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


# ---------------------------------------------------------------------------------------------
# 1.1 LIME for a univariate function: a weighted local line
# ---------------------------------------------------------------------------------------------

def notebook_function(x):
    """The function the notebook explains: 2 sin(x) + 0.3 x."""
    return 2 * np.sin(x) + 0.3 * np.asarray(x)


def _check_lime(hw, query, X, Y, d, what_data, reference):
    expected = reference("local_line", query, X, Y, d)
    what = f"weighted_neighborhood_LIME(query={query:g}, {what_data}, d={d:g})"
    slope, intercept = (as_float(v, f"{what}[{i}]") for i, v in
                        enumerate(as_pair(hw.weighted_neighborhood_LIME(query, X, Y, d), what)))
    gap = max(abs(slope - expected[0]), abs(intercept - expected[1])) / max(1.0, *np.abs(expected))
    if gap > 1e-6:
        hints = []
        for name, w in (("unweighted", np.ones_like(X)),
                        ("exp(-|x - x'| / d)", np.exp(-np.abs(X - query) / d)),
                        ("exp(-|x - x'|² / (2d))", np.exp(-(X - query) ** 2 / (2 * d))),
                        ("exp(-|x - x'|² · d)", np.exp(-(X - query) ** 2 * d))):
            A = np.stack([X, np.ones_like(X)], axis=1) * np.sqrt(w)[:, None]
            alt = np.linalg.lstsq(A, Y * np.sqrt(w), rcond=None)[0]
            if max(abs(slope - alt[0]), abs(intercept - alt[1])) < 1e-6 * max(1, *np.abs(alt)):
                hints.append(f"Your line is the fit with weights {name}; LIME's kernel here is "
                             "exp(-|x - x'|² / d).")
        if abs(slope - expected[0]) < 1e-6 * max(1, abs(expected[0])):
            hints.append("The slope is right but the intercept is not: return the intercept of "
                         "the line in the original x coordinates (y ≈ slope · x + intercept).")
        hint = " ".join(hints) or ("Minimise Σ_i w_i (y_i - a x_i - b)² with w_i = "
                                   "exp(-(x_i - query)² / d) over a and b.")
        raise CheckFailed(f"{what} returned (slope, intercept) = ({slope:.6g}, {intercept:.6g}); "
                          f"the closed-form weighted least squares gives ({expected[0]:.6g}, "
                          f"{expected[1]:.6g}). {hint}")
    return slope


@check("1.1", points=3)
def test_lime_matches_weighted_least_squares(hw, expected):
    """weighted_neighborhood_LIME: the closed-form weighted line for d = 1, 10, 100"""
    rng = np.random.default_rng(11)
    X = np.sort(rng.uniform(-8, 8, 200))
    Y = notebook_function(X)
    slopes = {d: _check_lime(hw, 3.0, X, Y, d, "the notebook's 2 sin(x) + 0.3 x on 200 points",
                             expected)
              for d in (1.0, 10.0, 100.0)}
    # the pattern the notebook discusses: a narrow kernel follows the local slope 2 cos(3) + 0.3
    # < 0, a wide one the global upward trend.
    if not (slopes[1.0] < 0 < slopes[100.0]):
        raise CheckFailed(f"Slopes at query 3: d=1 gives {slopes[1.0]:.3g}, d=100 gives "
                          f"{slopes[100.0]:.3g}; expected negative (local) then positive (global).")


# ---------------------------------------------------------------------------------------------
# 1.2 Shapley values by enumeration, and the product model
# ---------------------------------------------------------------------------------------------

class _Interacting:
    """A grader-side model with interactions, called back from the student's exact_shapley."""

    def __init__(self, rng, M):
        self.w = rng.normal(size=M)
        self.pairs = rng.normal(size=(M, M)) * (rng.random((M, M)) < 0.5)
        self.calls = 0

    @classmethod
    def of(cls, w, pairs) -> _Interacting:
        """The model with these weights (for the references, which get the weights)."""
        model = cls.__new__(cls)
        model.w, model.pairs, model.calls = w, pairs, 0
        return model

    def __call__(self, rows):
        self.calls += 1
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
        # pairwise terms alone would not do: for games of order ≤ 2 the Shapley value equals
        # the uniformly weighted (Banzhaf) one, so add a triple product and a max of all
        return rows @ self.w + np.einsum("ni,ij,nj->n", rows, self.pairs, rows) + \
            np.sin(rows[:, 0]) * np.maximum(rows[:, -1], 0) + \
            np.prod(rows[:, :3], axis=1) + np.max(rows, axis=1)


def _check_shapley(hw, rng, M, n_background, reference):
    f = _Interacting(rng, M)
    x, background = rng.normal(size=M), rng.normal(size=(n_background, M))
    what = f"exact_shapley(f, x, background) with M={M} features, {n_background} background rows"
    phi = as_array(hw.exact_shapley(f, x, background), what, shape=(M,))
    student_calls = f.calls
    gap = abs(phi.sum() - (f(x[None])[0] - f(background).mean()))
    expected, unweighted = reference("interacting_shapley", f.w, f.pairs, x, background)
    error = float(np.abs(phi - expected).max() / max(1.0, np.abs(expected).max()))
    if error > 1e-9:
        hint = ("Each marginal contribution v(S ∪ {i}) - v(S) must be weighted by |S|! (M - |S| "
                "- 1)! / M!; you averaged them uniformly over the subsets."
                if np.abs(phi - unweighted).max() < 1e-8 else
                "v(S) is the mean over the background rows of f on the row with the features in "
                "S replaced by x's; φ_i = Σ_{S ∌ i} |S|! (M-|S|-1)! / M! (v(S ∪ {i}) - v(S)).")
        raise CheckFailed(f"{what}: max |φ - φ_ref| = {error:.2g} (relative) against the average "
                          f"over all {M}! feature orderings (expected ≤ 1e-9); efficiency gap "
                          f"|Σφ - (f(x) - E f)| = {gap:.2g}. {hint}")
    if gap > 1e-9 * max(1.0, abs(f(x[None])[0])):
        raise CheckFailed(f"{what}: Σφ differs from f(x) - mean f(background) by {gap:.2g}.")
    return student_calls


@check("1.2", points=1)
def test_exact_shapley_matches_permutations(hw, expected):
    """exact_shapley: efficiency (≤ 1e-9) and equal to brute force over orderings (M ≤ 5)"""
    rng = np.random.default_rng(21)
    for M, n in ((1, 4), (3, 10), (5, 12)):
        _check_shapley(hw, rng, M, n, expected)


@check("1.2", points=1)
def test_exact_shapley_calls_f_once_per_coalition(hw):
    """exact_shapley: calls f once per coalition, on all background rows at once"""
    rng = np.random.default_rng(22)
    for M, n in ((3, 8), (5, 6)):
        f = _Interacting(rng, M)
        what = (f"exact_shapley(f, x, background) with M={M} features and {n} background rows")
        as_array(hw.exact_shapley(f, rng.normal(size=M), rng.normal(size=(n, M))), what,
                 shape=(M,))
        # f is the grader's: each call crosses the process boundary and is counted here. Two
        # calls are spared for f(x) and f(background) made apart from the coalitions.
        allowed = 2 ** M + 2
        if not 1 <= f.calls <= allowed:
            raise CheckFailed(
                f"{what} called f {f.calls} times; one call per coalition, 2^M = {2 ** M}, is "
                "what the exercise asks (a couple more are fine). " + (
                    "It never called f." if f.calls == 0 else
                    "Evaluate each coalition with one call of f on all the background rows at "
                    "once (f takes an array of rows (n, M)), and compute each v(S) only once."))


def _check_product(hw, x, reference):
    M = len(x)
    closed_form = reference("product_shapley", x)
    what = f"product_model_shap(x) for x = {np.round(x, 3).tolist()}"
    got = as_array(hw.product_model_shap(x), what, shape=(M,))
    if np.abs(got - closed_form).max() > 1e-6 * max(1.0, abs(np.prod(x))):
        raise CheckFailed(f"{what} = {np.round(got, 6).tolist()}; exact Shapley values of "
                          f"f(x) = Π x_i with independent zero-mean features are "
                          f"{np.round(closed_form, 6).tolist()}. With E[x_j] = 0, v(S) = 0 for "
                          "every S but the full set: which players share f(x), and how?")


@check("1.2", points=1)
def test_product_model_shap(hw, expected):
    """product_model_shap: the closed form, checked against exact Shapley values (≤ 1e-6)"""
    for x in ([1.5, -2.0], [0.3, 1.2, -0.7, 2.0], [-1.1, 0.4, 0.9, -1.3, 0.5]):
        _check_product(hw, np.array(x), expected)


# ---------------------------------------------------------------------------------------------
# 2.1 Saliency: x ⊙ ∇_x f_c(x) for the top-k classes, against captum's InputXGradient
# ---------------------------------------------------------------------------------------------

def _cnn(args):
    """The float32 CNN sent to the student, and the same weights in float64 for references."""
    return Build(CNN, (*args, 4, False)), small_cnn(*args, 4, double=True)


def _check_saliency(hw, args, x, k, default=False, reference=None):
    """``default``: leave k out of the call, to test its documented default of 5."""
    model, reference_model = _cnn(args)
    scores = reference("logits", reference_model, x)
    top = np.argsort(-scores, kind="stable")[:k]
    what = (f"visualize_saliency_map(model, x, show=False), k left out (its default is {k})"
            if default else f"visualize_saliency_map(model, x, k={k}, show=False)")
    classes, attributions = as_pair(hw.visualize_saliency_map(
        model, x, show=False, **({} if default else {"k": k})), what)
    classes = as_array(classes, f"{what}[0] (the classes)", shape=(k,))
    if classes.tolist() != top.tolist():
        raise CheckFailed(f"{what}[0] = {classes.astype(int).tolist()}; the model's top-{k} "
                          f"classes, by decreasing score, are {top.tolist()}.")
    expected = reference("saliency", reference_model, x, top)
    attributions = as_array(attributions, f"{what}[1] (the attributions)",
                            shape=expected.shape)
    error = _norm_error(attributions, expected)
    if error > 1e-5:
        image = np.reshape(x, np.shape(x)[-3:])
        gradient = expected / np.where(image == 0, 1, image)
        hint = ("It is the plain gradient: multiply by the input (x ⊙ ∇f_c)."
                if _norm_error(attributions, gradient) < 1e-4 else
                "S_c(x) = x ⊙ ∂f_c/∂x with f_c the model's output (logit) for class c; attribution "
                "k belongs to the k-th class of the top-k list.")
        raise CheckFailed(f"{what}[1]: relative error ‖S - S_ref‖ / ‖S_ref‖ = {error:.2g} against "
                          f"captum's InputXGradient in float64 (expected ≤ 1e-5). {hint}")


@check("2.1", points=3)
def test_saliency_matches_captum(hw, expected):
    """visualize_saliency_map: top-k classes and x ⊙ ∇f_c against captum (≤ 1e-5)"""
    rng = np.random.default_rng(31)
    _check_saliency(hw, (0, 3, 16, 5), rng.normal(size=(3, 16, 16)), 3, reference=expected)
    _check_saliency(hw, (1, 3, 16, 6), rng.uniform(size=(1, 3, 16, 16)), 5, default=True,
                    reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.2 Integrated gradients: the original's Eq. 3 (right Riemann sum), against captum
# ---------------------------------------------------------------------------------------------

def _integrated_gradients(hw, args, x, baseline, resolution, c):
    what = f"visualize_integrated_gradients(model, x, baseline, resolution={resolution}, c={c})"
    model, reference_model = _cnn(args)
    got = as_array(hw.visualize_integrated_gradients(model, x, baseline, resolution, c=c,
                                                     show=False), what, shape=np.shape(x)[-3:])
    return got, reference_model, what


# Other rules for the path integral, as (alphas, weights) for N steps: what plausible slips
# compute, for the hint.
IG_RULES = {
    "TruLens's LinearDoi (the mean over N points from x to the baseline, both ends included)":
        lambda N: (np.linspace(0, 1, N), np.full(N, 1 / N)),
    "the left Riemann sum (the baseline included, x left out)":
        lambda N: (np.arange(N) / N, np.full(N, 1 / N)),
    "the trapezoid rule": lambda N: (np.linspace(0, 1, N + 1),
                                     np.r_[0.5, np.ones(N - 1), 0.5] / N),
    "the midpoint rule": lambda N: ((np.arange(N) + 0.5) / N, np.full(N, 1 / N)),
}


def _check_ig_right_sum(hw, args, x, baseline, c, resolution, reference=None):
    got, reference_model, what = _integrated_gradients(hw, args, x, baseline, resolution, c)
    expected = reference("integrated_gradients", reference_model, x, baseline, c, resolution,
                         "riemann_right")
    error = _norm_error(got, expected)
    if error <= 1e-5:
        return
    slips = {name: if_recorded(reference, "rule_integrated_gradients", reference_model, x, baseline,
                               c, *rule(resolution)) for name, rule in IG_RULES.items()}
    slip = next((name for name, value in slips.items()
                 if value is not None and _norm_error(got, value) <= 1e-4), None)
    hint = (f"Your map is {slip}. " if slip else "") + (
        "Eq. 3 averages the gradient at the N points x_b + (x - x_b) i/N, i = 1..N (x itself "
        "included, the baseline not), then multiplies by (x - x_b).")
    raise CheckFailed(f"{what}: relative error ‖IG - IG_ref‖ / ‖IG_ref‖ = {error:.2g} against "
                      f"captum's right Riemann sum with N = {resolution} (float64; expected "
                      f"≤ 1e-5). {hint}")


@check("2.2", points=2)
def test_integrated_gradients_right_riemann_sum(hw, expected):
    """visualize_integrated_gradients: Eq. 3's right Riemann sum, against captum (≤ 1e-5)"""
    rng = np.random.default_rng(32)
    x = rng.uniform(size=(3, 16, 16))
    for baseline, c, resolution in ((np.zeros_like(x), 1, 4), (np.ones_like(x), 3, 10),
                                    (rng.uniform(size=x.shape), 0, 25)):
        _check_ig_right_sum(hw, (2, 3, 16, 5), x, baseline, c, resolution, reference=expected)


@check("2.2", points=1)
def test_integrated_gradients_default_class(hw, expected):
    """visualize_integrated_gradients: c left out is the model's top class at x (here not 0)"""
    rng = np.random.default_rng(34)
    args = (6, 3, 16, 5)
    x = rng.uniform(size=(3, 16, 16))
    baseline = np.ones_like(x)     # not zeros, where x - baseline = x hides a missing factor
    model, reference_model = _cnn(args)
    top = int(np.argmax(expected("logits", reference_model, x)))    # 3: a default of 0 is visible
    what = "visualize_integrated_gradients(model, x, baseline, resolution=300, show=False)"
    got = as_array(hw.visualize_integrated_gradients(model, x, baseline, 300, show=False),
                   f"{what} (c left out)", shape=x.shape)
    # 1e-2 and 300 steps: this check is about the class, and passes whatever the rule for the
    # integral (the right-sum check grades the rule)
    errors = {c: _norm_error(got, expected("integrated_gradients", reference_model, x, baseline, c,
                                           300, "riemann_right"))
              for c in range(5)}
    if errors[top] > 1e-2:
        closest = min(errors, key=errors.get)
        which = (f" Your map is class {closest}'s." if errors[closest] <= 1e-2 else "")
        raise CheckFailed(f"{what}, with c left out: relative error {errors[top]:.2g} against "
                          f"captum's IG of the model's top class at x, class {top} (expected "
                          f"≤ 1e-2).{which} When c is None, explain the class with the highest "
                          "score at x.")


# ---------------------------------------------------------------------------------------------
# 2.3 Internal influence (Def. 3: the DoI in input space, the gradient at the layer) and the
# expert neuron's attribution (Def. 4)
# ---------------------------------------------------------------------------------------------

def _influence_hint(reference, reference_model, path, x, qoi, doi, baseline, influence):
    if doi == "point":
        return ("Influence of a neuron (channel) = the gradient of the QoI with respect to the "
                "layer's output at x (multiply_activation=False), summed over the channel's "
                "positions.")
    slips = {
        "That is the point DoI's influence: average over the linear DoI instead.":
            if_recorded(reference, "layer_influence", reference_model, path, x, qoi, "point", None),
        "That is the linear DoI applied at the layer (points α·a(x) between zero activations "
        "and the layer's output): the path runs in input space, from the baseline image to x, "
        "and only the gradient is taken at the layer.":
            if_recorded(reference, "influence_in_layer_space", reference_model, path, x, qoi),
    }
    if baseline is not None:
        slips["That path starts at the all-zero input: start it at the baseline given."] = \
            if_recorded(reference, "layer_influence", reference_model, path, x, qoi, "linear", None)
    return next((hint for hint, value in slips.items()
                 if value is not None and _norm_error(influence, value) < 1e-4),
                "The linear DoI is 10 points x_b + α (x - x_b), α = 1, 8/9, ..., 0, in input "
                "space; average the gradient at the layer over them, summed over positions.")


def _check_influence(hw, args, path, x, doi, qoi, baseline=None, pass_baseline=True,
                     reference=None):
    """``pass_baseline=False``: leave the baseline out, to test its default (the zero input)."""
    model, reference_model = _cnn(args)
    layer_name = path.replace(".", "_")
    given = ", baseline" if pass_baseline and baseline is not None else ""
    what = (f"get_internal_influences(model, x_pp, None, layer_name={layer_name!r}, doi={doi!r}, "
            f"qoi={qoi!r}{given})")
    influence, expert = as_pair(hw.get_internal_influences(
        model, x, None, layer_name, doi, qoi,
        **({"baseline": baseline} if given else {})), what)
    expected = reference("layer_influence", reference_model, path, x, qoi, doi, baseline)
    influence = as_array(influence, f"{what}[0] (the influence per neuron)",
                         shape=expected.shape)
    error = _norm_error(influence, expected)
    if error > 1e-5:
        hint = _influence_hint(reference, reference_model, path, x, qoi, doi, baseline, influence)
        raise CheckFailed(f"{what}[0]: relative error {error:.2g} against the mean layer gradient "
                          f"computed with captum (expected ≤ 1e-5). {hint}")
    expert = as_float(expert, f"{what}[1] (the expert neuron)")
    best = float(expected.max())
    if expert != int(expert) or not 0 <= expert < expected.size or \
            expected[int(expert)] < best - 1e-6 * max(1.0, abs(best)):
        raise CheckFailed(f"{what}[1] = {expert:g}, but the neuron with the largest influence "
                          f"is {int(expected.argmax())} (influence {best:.4g}).")


@check("2.3", points=2)
def test_internal_influence_point(hw, expected):
    """get_internal_influences: the point DoI's layer gradient and expert neuron"""
    rng = np.random.default_rng(34)
    x = rng.uniform(size=(1, 3, 16, 16))
    for path, qoi in (("features.6", 1), ("features.3", 2), ("features.7", 0)):
        _check_influence(hw, (5, 3, 16, 5), path, x, "point", qoi, reference=expected)


@check("2.3", points=2)
def test_internal_influence_linear_from_input(hw, expected):
    """get_internal_influences: the linear DoI from the baseline image, in input space"""
    rng = np.random.default_rng(40)
    x = rng.uniform(size=(1, 3, 16, 16))
    for path, qoi, baseline, pass_baseline in (
            ("features.3", 2, np.full_like(x, -0.5), True),     # the black image (x - 0.5)
            ("features.6", 0, rng.uniform(size=x.shape), True),
            ("features.4", 1, None, False)):                    # left out: the zero input
        _check_influence(hw, (5, 3, 16, 5), path, x, "linear", qoi, baseline, pass_baseline,
                         reference=expected)


@check("2.3", points=1)
def test_internal_influence_comparative(hw, expected):
    """get_internal_influences: comparative QoI (class c1 versus c2)"""
    rng = np.random.default_rng(35)
    x = rng.uniform(size=(1, 3, 16, 16))
    for path, qoi in (("features.6", (1, 3)), ("features.4", (4, 0))):
        _check_influence(hw, (6, 3, 16, 5), path, x, "point", qoi, reference=expected)


def _check_expert(hw, args, path, x, reference=None):
    model, reference_model = _cnn(args)
    # an active channel (a dead one has no gradient): the largest total activation
    expert = int(np.argmax(reference("channel_totals", reference_model, path, x)))
    layer_name = path.replace(".", "_")
    what = f"expert_attribution(model, x_pp, layer_name={layer_name!r}, expert={expert})"
    expected = reference("expert_attribution", reference_model, path, x, expert)
    got = as_array(hw.expert_attribution(model, x, layer_name, expert), what,
                   shape=expected.shape)
    error = _norm_error(got, expected)
    if error <= 1e-5:
        return
    image = np.reshape(x, expected.shape)
    slips = {
        "It is the plain gradient ∇_x h: multiply by the input.":
            expected / np.where(image == 0, 1, image),
        "It is integrated gradients of the channel (from the zero input): Def. 4 is the input "
        "times the gradient at x itself.":
            if_recorded(reference, "channel_integrated_gradients", reference_model, path, x, expert),
    }
    hint = next((h for h, value in slips.items()
                 if value is not None and _norm_error(got, value) < 1e-2),
                "A(x) = x ⊙ ∇_x h_k(x), h_k the output of channel k of the layer summed over "
                "its positions.")
    raise CheckFailed(f"{what}: relative error {error:.2g} against captum's NeuronGradient "
                      f"times x (float64; expected ≤ 1e-5). {hint}")


@check("2.3", points=1)
def test_expert_attribution(hw, expected):
    """expert_attribution: x ⊙ ∇_x h_k (Def. 4) against captum, post-ReLU and conv layers"""
    rng = np.random.default_rng(41)
    x = rng.uniform(size=(1, 3, 16, 16))
    for path in ("features.7", "features.4", "features.6"):
        _check_expert(hw, (5, 3, 16, 5), path, x, reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.4 Evaluating attributions: pixel attribution, Average Drop %, Necessity Ordering
# ---------------------------------------------------------------------------------------------

@check("2.4", points=0.5)
def test_pixel_attribution(hw):
    """pixel_attribution: the mean over the channel axis, for one image or a batch"""
    rng = np.random.default_rng(36)
    for shape in ((3, 5, 4), (2, 3, 6, 6), (1, 1, 4, 4)):
        attr = rng.normal(size=shape)
        expected = attr.mean(axis=-3)
        got = as_array(hw.pixel_attribution(attr), f"pixel_attribution(attr of shape {shape})",
                       shape=expected.shape)
        if np.abs(got - expected).max() > 1e-12:
            hint = ("It is the sum over channels; take the mean."
                    if np.allclose(got, attr.sum(axis=-3)) else
                    "Average over the channel axis, the third from the end (C of (..., C, H, W)).")
            raise CheckFailed(f"pixel_attribution(attr of shape {shape}) is not the mean over "
                              f"channels. {hint}")


# Baselines a student may take for "black" where Exercise 22 asks for the all-zero input: the
# small CNN's black image (its input is the picture minus 0.5) and the darkest value present.
EVALUATION_BASELINE_SLIPS = {
    "-0.5 (the black image of the small CNN's input)": lambda x: -0.5,
    "the image's minimum": lambda x: float(np.min(x)),
}


def _check_evaluation_attributions(hw, args, X, resolution, where, reference=None):
    model, reference_model = _cnn(args)
    what = f"evaluation_attributions(model, X, resolution={resolution}) on {where}"
    saliency, ig = as_pair(hw.evaluation_attributions(model, X, resolution), what)
    expected_saliency, expected_ig = reference("evaluation_attributions", reference_model, X,
                                               resolution, 0.0)
    saliency = as_array(saliency, f"{what}[0] (saliency)", shape=expected_saliency.shape)
    error = _norm_error(saliency, expected_saliency)
    if error > 1e-5:
        raise CheckFailed(f"{what}[0]: relative error {error:.2g} against captum's InputXGradient "
                          "(expected ≤ 1e-5). Each row is the channel mean of x ⊙ ∇f_c(x), c the "
                          "class predicted for that image.")
    ig = as_array(ig, f"{what}[1] (integrated gradients)", shape=expected_ig.shape)
    error = _norm_error(ig, expected_ig)
    if error > 1e-5:
        def from_baseline(baseline):     # IG of each image from its own constant baseline
            maps = [if_recorded(reference, "evaluation_attributions", reference_model, x[None],
                                resolution, baseline(x)) for x in X]
            return None if any(m is None for m in maps) else np.stack([m[1][0] for m in maps])
        slip = next((name for name, baseline in EVALUATION_BASELINE_SLIPS.items()
                     if (value := from_baseline(baseline)) is not None
                     and _norm_error(ig, value) < 1e-4), None)
        hint = (f"Your path starts at {slip}. " if slip else "") + (
            "Exercise 22's integrated gradients start at the all-zero input (Eq. 3 with "
            "N = resolution), for the class predicted for each image, averaged over channels.")
        raise CheckFailed(f"{what}[1]: relative error {error:.2g} against captum's right Riemann "
                          f"sum (expected ≤ 1e-5). {hint}")


@check("2.4", points=1)
def test_evaluation_attributions(hw, expected):
    """evaluation_attributions: saliency and IG from the all-zero input, per predicted class"""
    rng = np.random.default_rng(42)
    _check_evaluation_attributions(hw, (12, 3, 16, 5), rng.uniform(size=(3, 3, 16, 16)), 6,
                                   "3 images", reference=expected)


BIAS_SHIFT = 4.0    # raises every logit of the linear model: Average Drop divides by f_c(x) > 0


def linear_model(seed: int, size: int = 8):
    """The linear image model of the metric checks (3 channels, 4 classes, float64), as the
    student's process builds it; its weights are drawn with numpy (``linear_image_weights``)."""
    return Build(LINEAR, (seed, 3, size, 4, 3.0, True, BIAS_SHIFT))


def linear_weights(seed: int, size: int = 8):
    """The weights of ``linear_model(seed, size)``: what its recorded values depend on."""
    return linear_image_weights(seed, 3, size, 4, 3.0, BIAS_SHIFT)


AVERAGE_DROP_HINTS = {
    "softmax probabilities": "Use the pre-softmax scores (logits) f_c, not softmax "
                             "probabilities.",
    "softmax probabilities and the soft mask max(a, 0) / max(a)":
        "Use the pre-softmax scores f_c, and a hard mask: keep a pixel (all channels) where its "
        "attribution is > 0, set it to 0 elsewhere.",
    "the soft mask max(a, 0) / max(a)": "The mask is hard: keep a pixel where its attribution "
                                        "is > 0, set it to 0 elsewhere (no scaling).",
    "no clipping at 0": "Clip each drop at 0: an image whose score rises under the mask counts "
                        "as 0.",
    "a mask that keeps a ≥ 0": "Keep only pixels with a strictly positive attribution; a pixel "
                               "attributed exactly 0 is set to 0.",
    "the class predicted on the masked image": "c_i is the class predicted for the full image "
                                               "x_i; use the same class on the masked image.",
}


def _require_value(got: float, reference: tuple, what: str, hints: dict, definition: str):
    """Fails unless ``got`` is the reference's value. ``reference`` is (value, {slip: the value
    that slip gives on this case}): a wrong value that matches a plausible slip gets that slip's
    hint, any other wrong value the definition."""
    expected, variants = reference

    def close(a, b):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    if close(got, expected):
        return
    hint = next((hints[name] for name, value in variants.items() if close(got, value)),
                definition)
    raise CheckFailed(f"{what} = {got:.6g}; the reference computation gives {expected:.6g}. {hint}")


def _check_average_drop(hw, model, X, attrs, reference, where):
    what = f"average_drop(model, X, pixel_attrs) on {where}"
    got = as_float(hw.average_drop(model, X, attrs), what)
    _require_value(got, reference, what, AVERAGE_DROP_HINTS,
                   "AD = 100 · mean_i max(f_c(x_i) - f_c(M(x_i)), 0) / f_c(x_i): f_c the "
                   "pre-softmax score of the class c_i predicted for x_i, M keeping the pixels "
                   "with a positive attribution (in every channel) and zeroing the others.")


@check("2.4", points=1)
def test_average_drop_linear_model(hw, expected):
    """average_drop: pre-softmax scores and the hard mask, the closed form on a linear model"""
    cases = expected("average_drop_linear_cases", 37, 7, 12, trusted=linear_weights(7))
    for (X, attrs, reference), where in zip(cases, (
            "a linear model (12 images)", "a linear model, one attribution ≤ 0 everywhere")):
        _check_average_drop(hw, linear_model(7), X, attrs, reference, where)


NECESSITY_HINTS = {
    "softmax probabilities": "Use the pre-softmax scores (logits) f_c, not softmax probabilities.",
    "softmax probabilities without f_c(0)": "Use the pre-softmax scores f_c, and subtract the "
                                            "score of the all-zero image f_c(0) from each term.",
    "no f_c(0) term": "Subtract f_c(0), the score of the all-zero image, from each term.",
    "no f_c(0) term and no clipping": "Each term is max(f_c(R(i)) - f_c(0), 0).",
    "no clipping at 0": "Clip each term at 0: max(f_c(R(i)) - f_c(0), 0).",
    "the least attributed pixels first": "That removes the *least* attributed pixels first; "
                                         "remove them by decreasing attribution.",
    "a mean over i = 1..N": "Sum over i = 0, 1, ..., N (nothing removed up to every pixel "
                            "removed): N + 1 terms, divided by N + 1.",
    "a mean over i = 0..N-1": "Sum over i = 0, 1, ..., N (nothing removed up to every pixel "
                              "removed): N + 1 terms, divided by N + 1.",
    "the class predicted on each masked image": "c is the class predicted for the full image x; "
                                                "keep it fixed for every R(i).",
}


def _check_necessity(hw, model, x, attr, reference, where):
    what = f"necessity_ordering(model, x, pixel_attr) on {where}"
    got = as_float(hw.necessity_ordering(model, x, attr), what)
    _require_value(got, reference, what, NECESSITY_HINTS,
                   "N_o = 1/(N+1) · Σ_{i=0..N} max(f_c(R(i)) - f_c(0), 0): R(i) zeroes (in every "
                   "channel) the i pixels with the largest attribution, f_c is the pre-softmax "
                   "score of the class predicted for x, N = H·W.")


# The linear models of the Necessity Ordering check: (model seed, image size).
NECESSITY_MODELS = ((8, 8), (9, 5), (10, 12))


@check("2.4", points=1)
def test_necessity_ordering_linear_model(hw, expected):
    """necessity_ordering: pre-softmax f_c minus f_c(0), N + 1 removals, closed form (linear)"""
    cases = expected("necessity_linear_cases", 38, NECESSITY_MODELS,
                     trusted=[linear_weights(seed, size) for seed, size in NECESSITY_MODELS])
    for (seed, size), (x, attr, reference) in zip(NECESSITY_MODELS, cases):
        _check_necessity(hw, linear_model(seed, size), x, attr, reference,
                         f"a linear model ({size}×{size} pixels)")


@check("2.4", points=0.5)
def test_metrics_on_cnn(hw, expected):
    """average_drop and necessity_ordering: agree with the reference on a CNN"""
    args, X, attrs = expected("cnn_metric_case", 39, 9, 0)
    average_drop, necessity = expected("cnn_metrics", args, X, attrs, 0,
                                       trusted=small_cnn(*args, double=True))
    model = Build(CNN, (*args, 4, True))
    _check_average_drop(hw, model, X, attrs, average_drop, "a small CNN (float64)")
    _check_necessity(hw, model, X[0], attrs[0], necessity, "a small CNN (float64)")


