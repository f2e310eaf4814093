"""Homework 2 spec: LIME on a univariate function, Shapley values, saliency, integrated
gradients, internal influence (students use trulens) and attribution metrics.

Every reference is independent of trulens: closed-form weighted least squares, brute force over
permutations, captum and torch autograd, numpy on a linear image model whose outputs under
masking are known in closed form. Models cross into the student's process as ``Build``s of the
trusted factories ``tmlkit.models:small_cnn`` (float32, as trulens computes in the
default dtype) and ``tmlkit.models:linear_image_model``; the grader builds the
same models here (in float64) for its references. The visible checks are written in the student
package (``tmlkit/public/hw2.py``), which this spec imports; where they compare with the
references above, they ask their ``expected`` fixture, and the notebook reads the values that
``make notebooks`` recorded (``REFERENCES`` below).
"""
from __future__ import annotations

import numpy as np

from autograder.checks import explanations as ref
from tmlkit.models import small_cnn
from tmlkit.spec import check, hidden_rng
from tmlkit.wire import Build

# The visible checks are written once, in the student package, where the notebook's
# self-check runs them too; imported here, they are this spec's checks.
from tmlkit.public.hw2 import (  # noqa: F401
    _Interacting, _check_average_drop, _check_evaluation_attributions, _check_expert,
    _check_ig_right_sum, _check_influence, _check_lime, _check_necessity, _check_product,
    _check_saliency, _check_shapley, BIAS_SHIFT, CNN, linear_model,
    test_lime_matches_weighted_least_squares, test_exact_shapley_matches_permutations,
    test_exact_shapley_calls_f_once_per_coalition, test_product_model_shap,
    test_saliency_matches_captum, test_integrated_gradients_right_riemann_sum,
    test_integrated_gradients_default_class, test_internal_influence_point,
    test_internal_influence_linear_from_input, test_internal_influence_comparative,
    test_expert_attribution, test_pixel_attribution, test_evaluation_attributions,
    test_average_drop_linear_model, test_necessity_ordering_linear_model, test_metrics_on_cnn)


# ---------------------------------------------------------------------------------------------
# 1.1 LIME for a univariate function: a weighted local line
# ---------------------------------------------------------------------------------------------

@check("1.1", points=2, hidden=True)
def test_lime_hidden(hw, expected):
    """weighted_neighborhood_LIME: hidden data, queries and kernel widths"""
    rng = hidden_rng()
    for _ in range(4):
        X = rng.uniform(-5, 5, int(rng.integers(20, 300)))
        a, b, k = rng.normal(size=3)
        Y = a * X + b * np.cos(k * X) + 0.1 * rng.normal(size=X.size)
        _check_lime(hw, float(rng.uniform(-3, 3)), X, Y, float(10 ** rng.uniform(-0.3, 2.5)),
                    f"hidden data ({X.size} points)", expected)


# ---------------------------------------------------------------------------------------------
# 1.2 Shapley values by enumeration, and the product model
# ---------------------------------------------------------------------------------------------

@check("1.2", points=1, hidden=True)
def test_exact_shapley_hidden(hw, expected):
    """exact_shapley: hidden models with interactions, M ≤ 5"""
    rng = hidden_rng()
    for _ in range(3):   # M ≥ 3: for M ≤ 2 the Shapley weights happen to be uniform
        _check_shapley(hw, rng, int(rng.integers(3, 6)), int(rng.integers(3, 16)), expected)


@check("1.2", points=1, hidden=True)
def test_product_model_shap_hidden(hw, expected):
    """product_model_shap: hidden points"""
    rng = hidden_rng()
    for _ in range(3):
        _check_product(hw, rng.normal(size=int(rng.integers(1, 7))), expected)


# ---------------------------------------------------------------------------------------------
# 2.1 Saliency: x ⊙ ∇_x f_c(x) for the top-k classes, against captum's InputXGradient
# ---------------------------------------------------------------------------------------------

@check("2.1", points=1, hidden=True)
def test_saliency_hidden(hw, expected):
    """visualize_saliency_map: hidden models, inputs and k"""
    rng = hidden_rng()
    for _ in range(2):
        channels, size, classes = int(rng.integers(1, 4)), 4 * int(rng.integers(2, 5)), \
            int(rng.integers(3, 9))
        args = (int(rng.integers(1 << 30)), channels, size, classes)
        _check_saliency(hw, args, rng.normal(size=(channels, size, size)),
                        int(rng.integers(1, classes + 1)), reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.2 Integrated gradients: the original's Eq. 3 (right Riemann sum), against captum
# ---------------------------------------------------------------------------------------------

@check("2.2", points=1, hidden=True)
def test_integrated_gradients_hidden(hw, expected):
    """visualize_integrated_gradients: Eq. 3 against captum, hidden models, baselines and N"""
    rng = hidden_rng()
    for _ in range(2):
        channels, size, classes = int(rng.integers(1, 4)), 4 * int(rng.integers(2, 5)), \
            int(rng.integers(2, 7))
        args = (int(rng.integers(1 << 30)), channels, size, classes)
        x = rng.uniform(size=(channels, size, size))
        # never the zero baseline, where x and x - baseline coincide
        baseline = (np.ones_like(x), rng.uniform(size=x.shape),
                    rng.uniform(0.2, 1.0) * np.ones_like(x))[int(rng.integers(3))]
        _check_ig_right_sum(hw, args, x, baseline, int(rng.integers(classes)),
                            int(rng.integers(2, 40)), reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.3 Internal influence (Def. 3) and the expert neuron's attribution (Def. 4)
# ---------------------------------------------------------------------------------------------

@check("2.3", points=1, hidden=True)
def test_internal_influence_hidden(hw, expected):
    """get_internal_influences: hidden models, layers, DoIs, baselines and QoIs"""
    rng = hidden_rng()
    for doi in ("point", "linear", str(rng.choice(["point", "linear"]))):
        classes = int(rng.integers(3, 8))
        args = (int(rng.integers(1 << 30)), 3, 16, classes)
        c1, c2 = (int(c) for c in rng.choice(classes, 2, replace=False))
        qoi = (c1, c2) if rng.random() < 0.5 else c1
        x = rng.uniform(size=(1, 3, 16, 16))
        baseline = rng.uniform(-1, 0, size=x.shape) if doi == "linear" else None
        _check_influence(hw, args, str(rng.choice(["features.0", "features.3", "features.4",
                                                   "features.6"])), x, doi, qoi, baseline,
                         reference=expected)


@check("2.3", points=1, hidden=True)
def test_expert_attribution_hidden(hw, expected):
    """expert_attribution: hidden models, layers and inputs"""
    rng = hidden_rng()
    for _ in range(2):
        args = (int(rng.integers(1 << 30)), 3, 16, int(rng.integers(3, 8)))
        _check_expert(hw, args, str(rng.choice(["features.1", "features.4", "features.7"])),
                      rng.uniform(size=(1, 3, 16, 16)), reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.4 Evaluating attributions: pixel attribution, Average Drop %, Necessity Ordering
# ---------------------------------------------------------------------------------------------

@check("2.4", points=0.5, hidden=True)
def test_evaluation_attributions_hidden(hw, expected):
    """evaluation_attributions: hidden models, images and resolutions"""
    rng = hidden_rng()
    channels, size = int(rng.integers(1, 4)), 4 * int(rng.integers(2, 5))
    args = (int(rng.integers(1 << 30)), channels, size, int(rng.integers(2, 7)))
    _check_evaluation_attributions(hw, args, rng.uniform(size=(int(rng.integers(1, 4)), channels,
                                                                size, size)),
                                   int(rng.integers(2, 30)), "hidden images", reference=expected)


# ---------------------------------------------------------------------------------------------
# 2.4 Average Drop and Necessity Ordering: cases built so that every plausible slip changes the
# value, the value itself, and what each slip gives (for the hint)
# ---------------------------------------------------------------------------------------------

def _top_logits(predict, X):
    scores = predict(np.asarray(X, dtype=np.float64))
    return scores, scores.argmax(axis=1)


def _with_some_zeros(rng, attrs):
    """Exact zeros in a patch of the first attribution: the mask keeps only a > 0, not a ≥ 0."""
    attrs = np.array(attrs, dtype=np.float64)
    attrs[0, : attrs.shape[1] // 2, : attrs.shape[2] // 2] = 0.0
    return attrs


def _distinguishes(variants: dict, expected: float, ignore: frozenset = frozenset()) -> bool:
    """Every plausible slip (but those in ``ignore``) gives a value 10× the check's tolerance
    apart from the right one on this case."""
    return all(abs(value - expected) > 1e-5 * max(1.0, abs(expected))
               for name, value in variants.items() if name not in ignore)


# Slips that a random CNN rarely exposes (its predicted class seldom changes under masking, its
# scores seldom fall below the blank image's): the linear cases, built to expose them, catch them.
CNN_RARE_SLIPS = frozenset({"the class predicted on the masked image", "no clipping at 0",
                            "the class predicted on each masked image"})


def _average_drop_variants(predict, X, attrs) -> dict:
    """What plausible slips compute, for the hint: name -> value."""
    X, attrs = np.asarray(X, dtype=np.float64), np.asarray(attrs, dtype=np.float64)
    rows, (_, c) = np.arange(len(X)), _top_logits(predict, X)
    soft = np.stack([np.maximum(a, 0) / a.max() if a.max() > 0 else 0 * a for a in attrs])
    masks = {"hard": ref.positive_mask(attrs), "soft": soft, "≥ 0": (attrs >= 0) * 1.0}

    def drop(mask="hard", probabilities=False, clip=True, masked_class=False):
        full, masked = predict(X), predict(X * masks[mask][:, None])
        if probabilities:
            full, masked = ref.softmax(full), ref.softmax(masked)
        k = masked.argmax(axis=1) if masked_class else c
        d = full[rows, c] - masked[rows, k]
        return 100 * np.mean((np.maximum(d, 0) if clip else d) / full[rows, c])

    return {
        "softmax probabilities": drop(probabilities=True),
        "softmax probabilities and the soft mask max(a, 0) / max(a)": drop("soft", True),
        "the soft mask max(a, 0) / max(a)": drop("soft"),
        "no clipping at 0": drop(clip=False),
        "a mask that keeps a ≥ 0": drop("≥ 0"),
        "the class predicted on the masked image": drop(masked_class=True),
    }


def _necessity_variants(predict, x, attr):
    """What plausible slips compute, for the hint: name -> value."""
    scores = predict(ref.removal_images(x, attr))
    reverse = predict(ref.removal_images(x, -np.asarray(attr, dtype=np.float64)))
    c = int(scores[0].argmax())
    probabilities = ref.softmax(scores)
    blank, per_image = scores[-1, c], scores[np.arange(len(scores)), scores.argmax(axis=1)]
    return {
        "softmax probabilities": np.mean(np.maximum(probabilities[:, c] - probabilities[-1, c], 0)),
        "softmax probabilities without f_c(0)": np.mean(probabilities[:, c]),
        "no f_c(0) term": np.mean(np.maximum(scores[:, c], 0)),
        "no f_c(0) term and no clipping": np.mean(scores[:, c]),
        "no clipping at 0": np.mean(scores[:, c] - blank),
        "the least attributed pixels first": np.mean(np.maximum(reverse[:, c] - reverse[-1, c], 0)),
        "a mean over i = 1..N": np.mean(np.maximum(scores[1:, c] - blank, 0)),
        "a mean over i = 0..N-1": np.mean(np.maximum(scores[:-1, c] - blank, 0)),
        "the class predicted on each masked image": np.mean(np.maximum(per_image - blank, 0)),
    }


def _linear_case(rng, seed, n, size=8):
    """The weights of ``linear_model(seed, size)``, its predict, n images whose top logits are
    ≥ 0.5 and pixel attributions correlated with the true contributions, redrawn until every
    slip of Average Drop changes its value (n ≥ 2); None if 1,000 draws do not get there."""
    W, b = ref.linear_image_weights(seed, 3, size, 4, bias_shift=BIAS_SHIFT)
    predict = ref.linear_predict(W, b)
    for _ in range(1000):
        X = rng.uniform(size=(n, 3, size, size))
        scores, c = _top_logits(predict, X)
        if scores[np.arange(n), c].min() < 0.5:
            continue
        # attributions correlated with the true contributions W_c ⊙ x, plus noise
        contribution = np.stack([ref.linear_pixel_contributions(W, x, k) for x, k in zip(X, c)])
        attrs = _with_some_zeros(rng, contribution + rng.normal(scale=2 * contribution.std(),
                                                                size=contribution.shape))
        if n < 2 or _distinguishes(_average_drop_variants(predict, X, attrs),
                                   ref.linear_average_drop(W, b, X, attrs)):
            return (W, b), predict, X, attrs
    return None


def _necessity_case(rng, W, b, x):
    """A pixel attribution correlated with the contributions, redrawn until every plausible
    slip (clipping, f_c(0), order, class ...) changes the value; None if 1,000 draws do not."""
    c = int(np.argmax(W @ x.ravel() + b))
    contribution = ref.linear_pixel_contributions(W, x, c)
    predict = ref.linear_predict(W, b)
    for _ in range(1000):
        attr = contribution + rng.normal(scale=contribution.std(), size=contribution.shape)
        if _distinguishes(_necessity_variants(predict, x, attr),
                          ref.linear_necessity_ordering(W, b, x, attr)):
            return attr
    return None


def _cnn_case(rng, seed, image):
    """A float64 small CNN whose top logits are positive on the drawn images, and attributions
    on which every plausible slip changes both metrics (Necessity Ordering on X[image])."""
    for attempt in range(1000):
        args = (seed + attempt, 3, 16, 5)
        predict = ref.torch_predict(small_cnn(*args, double=True))
        X = rng.uniform(size=(4, 3, 16, 16))
        scores, c = _top_logits(predict, X)
        if scores[np.arange(4), c].min() < 0.02:
            continue
        attrs = _with_some_zeros(rng, rng.normal(size=(4, 16, 16)))
        if (_distinguishes(_average_drop_variants(predict, X, attrs),
                           ref.reference_average_drop(predict, X, attrs), CNN_RARE_SLIPS) and
                _distinguishes(_necessity_variants(predict, X[image], attrs[image]),
                               ref.reference_necessity_ordering(predict, X[image], attrs[image]),
                               CNN_RARE_SLIPS)):
            break
    return args, X, attrs


def average_drop_linear_cases(rng_seed, model_seed, n):
    """The visible check's two cases on ``linear_model(model_seed)``: (X, attrs, (AD, {slip:
    value})), the second with one image's attribution ≤ 0 everywhere (its mask is all zeros)."""
    (W, b), predict, X, attrs = _linear_case(np.random.default_rng(rng_seed), model_seed, n)
    second = attrs.copy()
    second[3] = -np.abs(second[3])
    return [(X, a, (ref.linear_average_drop(W, b, X, a), _average_drop_variants(predict, X, a)))
            for a in (attrs, second)]


def necessity_linear_cases(rng_seed, models):
    """The visible check's cases, one per (model seed, size): (x, attr, (N_o, {slip: value}))."""
    rng, cases = np.random.default_rng(rng_seed), []
    for seed, size in models:
        (W, b), predict, X, _ = _linear_case(rng, seed, 1, size=size)
        attr = _necessity_case(rng, W, b, X[0])
        cases.append((X[0], attr, (ref.linear_necessity_ordering(W, b, X[0], attr),
                                   _necessity_variants(predict, X[0], attr))))
    return cases


def cnn_metric_case(rng_seed, seed, image):
    """(the small CNN's args, X, attrs) of the visible CNN check."""
    return _cnn_case(np.random.default_rng(rng_seed), seed, image)


def cnn_metrics(args, X, attrs, image):
    """Average Drop on (X, attrs) and Necessity Ordering on X[image], each with what its slips
    give, on ``small_cnn(*args)`` in float64."""
    predict = ref.torch_predict(small_cnn(*args, double=True))
    return ((ref.reference_average_drop(predict, X, attrs),
             _average_drop_variants(predict, X, attrs)),
            (ref.reference_necessity_ordering(predict, X[image], attrs[image]),
             _necessity_variants(predict, X[image], attrs[image])))


def _hidden_linear_cases(rng):
    """(seed, size, an Average Drop case, an attribution of its first image) for a random
    ``linear_model(seed, size)``, redrawn until both cases expose every slip. About 3 % of the
    models predict one class, with a wide margin, on every image and every masked image; on
    those, no draw of images exposes the slip of taking the masked image's class."""
    for _ in range(100):
        seed, size = int(rng.integers(1 << 30)), int(rng.integers(4, 9))
        case = _linear_case(rng, seed, int(rng.integers(2, 10)), size=size)
        attr = None if case is None else _necessity_case(rng, *case[0], case[2][0])
        if attr is not None:
            return seed, size, case, attr
    raise RuntimeError("no hidden linear model exposed every slip in 100 draws")


@check("2.4", points=0.5, hidden=True)
def test_metrics_hidden(hw):
    """average_drop and necessity_ordering: hidden linear models and CNNs"""
    rng = hidden_rng()
    seed, size, ((W, b), predict, X, attrs), attr = _hidden_linear_cases(rng)
    model = linear_model(seed, size)
    _check_average_drop(hw, model, X, attrs, (ref.linear_average_drop(W, b, X, attrs),
                                              _average_drop_variants(predict, X, attrs)),
                        "a hidden linear model")
    _check_necessity(hw, model, X[0], attr, (ref.linear_necessity_ordering(W, b, X[0], attr),
                                             _necessity_variants(predict, X[0], attr)),
                     "a hidden linear model")
    args, X, attrs = _cnn_case(rng, int(rng.integers(1 << 30)), 1)
    average_drop, necessity = cnn_metrics(args, X, attrs, 1)
    model = Build(CNN, (*args, 4, True))
    _check_average_drop(hw, model, X, attrs, average_drop, "a hidden CNN")
    _check_necessity(hw, model, X[1], attrs[1], necessity, "a hidden CNN")


def _influence_in_layer_space(model, path, x, qoi, resolution=10):
    """What TruLens's LinearDoi at the layer's cut computes: the points α a(x), α = 1..0, in
    the layer's own activation space (a slip, for the hint)."""
    import torch
    layer = ref.module_at(model, path)
    total = 0
    for i in range(resolution):
        kept = {}

        def scale(module, inputs, output, alpha=1 - i / (resolution - 1), kept=kept):
            kept["a"] = (alpha * output).detach().requires_grad_()
            return kept["a"]

        handle = layer.register_forward_hook(scale)
        try:
            out = model(ref.as_batch(x))[0]
        finally:
            handle.remove()
        q = out[qoi[0]] - out[qoi[1]] if isinstance(qoi, (tuple, list)) else out[int(qoi)]
        total = total + torch.autograd.grad(q, kept["a"])[0].numpy()[0]
    influence = total / resolution
    return influence.reshape(influence.shape[0], -1).sum(axis=1)


def interacting_shapley(w, pairs, x, background) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley values of _Interacting.of(w, pairs) by permutations, and the uniformly
    weighted (Banzhaf) values that a mistake in the weights gives."""
    f = _Interacting.of(w, pairs)
    M, unweighted = len(x), np.zeros(len(x))
    v = ref.coalition_values(f, x, background)
    for S, value in v.items():
        for i in range(M):
            if i not in S:
                unweighted[i] += (v[S | {i}] - value) / 2 ** (M - 1)
    return ref.brute_force_shapley(f, x, background), unweighted


def product_shapley(x) -> np.ndarray:
    """Shapley values of f(x) = Π x_i with independent zero-mean features: the closed form,
    checked against exact Shapley values by permutations on a background whose mixed moments are
    exactly those of independent zero-mean features."""
    closed_form = np.full(len(x), np.prod(x) / len(x))
    brute = ref.brute_force_shapley(lambda rows: np.prod(rows, axis=1), x,
                                    ref.sign_patterned_background(len(x)))
    assert np.allclose(brute, closed_form, atol=1e-12)
    return closed_form


# What the visible checks compare with (their ``expected`` fixture): computed live here, and
# recorded by ``make notebooks`` for the notebook's self-checks.
REFERENCES = {"local_line": ref.reference_local_line, "interacting_shapley": interacting_shapley,
              "product_shapley": product_shapley,
              "logits": ref.logits, "saliency": ref.reference_saliency,
              "integrated_gradients": ref.reference_integrated_gradients,
              "rule_integrated_gradients": ref.rule_integrated_gradients,
              "layer_influence": ref.reference_layer_influence,
              "influence_in_layer_space": _influence_in_layer_space,
              "channel_totals": ref.channel_totals,
              "expert_attribution": ref.reference_expert_attribution,
              "channel_integrated_gradients": ref.channel_integrated_gradients,
              "evaluation_attributions": ref.reference_evaluation_attributions,
              "average_drop_linear_cases": average_drop_linear_cases,
              "necessity_linear_cases": necessity_linear_cases,
              "cnn_metric_case": cnn_metric_case, "cnn_metrics": cnn_metrics}
