"""Homework 2 spec: LIME on a univariate function, Shapley values, saliency, integrated
gradients, internal influence (students use trulens) and attribution metrics.

Every reference is independent of trulens: closed-form weighted least squares, brute force over
permutations, captum and torch autograd, numpy on a linear image model whose outputs under
masking are known in closed form. Models cross into the student's process as ``Build``s of the
trusted factories ``tmlkit.models:small_cnn`` (float32, as trulens computes in the
default dtype) and ``autograder.checks.explanations:linear_image_model``; the grader builds the
same models here (in float64) for its references. The visible checks are written in the student
package (``tmlkit/public/hw2.py``), which this spec imports; those that compare with the
references above are run by the grader only, until their expected values are recorded.
"""
from __future__ import annotations

import numpy as np

from autograder.checks import explanations as ref
from tmlkit.spec import check, hidden_rng

# The visible checks are written once, in the student package, where the notebook's
# self-check runs them too; imported here, they are this spec's checks.
from tmlkit.public.hw2 import (  # noqa: F401
    _Interacting, _check_average_drop, _check_evaluation_attributions, _check_expert,
    _check_ig_right_sum, _check_influence, _check_lime, _check_necessity, _check_product,
    _check_saliency, _check_shapley, _cnn_metric_case, _linear_case, _necessity_case,
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


@check("2.4", points=0.5, hidden=True)
def test_metrics_hidden(hw):
    """average_drop and necessity_ordering: hidden linear models and CNNs"""
    rng = hidden_rng()
    model, (W, b), predict, X, attrs = _linear_case(rng, int(rng.integers(1 << 30)),
                                                    int(rng.integers(2, 10)),
                                                    size=int(rng.integers(4, 9)))
    _check_average_drop(hw, model, ref.linear_average_drop(W, b, X, attrs), predict, X, attrs,
                        "a hidden linear model")
    attr = _necessity_case(rng, W, b, X[0])
    _check_necessity(hw, model, ref.linear_necessity_ordering(W, b, X[0], attr), predict, X[0],
                     attr, "a hidden linear model")
    model, predict, X, attrs = _cnn_metric_case(rng, int(rng.integers(1 << 30)), 1)
    _check_average_drop(hw, model, ref.reference_average_drop(predict, X, attrs), predict, X,
                        attrs, "a hidden CNN")
    _check_necessity(hw, model, ref.reference_necessity_ordering(predict, X[1], attrs[1]),
                     predict, X[1], attrs[1], "a hidden CNN")


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
              "evaluation_attributions": ref.reference_evaluation_attributions}
