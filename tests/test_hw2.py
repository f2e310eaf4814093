"""HW2 end to end: plausible mistakes lose exactly the points of the checks they should fail,
the references agree with what they stand for, and the notebook runs in quick mode (what every
homework must satisfy is in test_homeworks.py)."""
from __future__ import annotations

import numpy as np
import pytest
from alternatives import ALTERNATIVES
from conftest import (assert_every_selfcheck_ran, assert_loses_exactly, assert_selfcheck_agrees,
                      replace_function, run_quick)

from autograder import homeworks
from autograder.checks import explanations as ref
from autograder.grade import grade

HW2 = homeworks.get("hw2")


def test_solution_has_public_checks_in_every_part_and_hidden_ones(solution_result):
    visibility = {(t.number, t.visibility) for t in solution_result.tests}
    for part in ("1.1", "1.2", "2.1", "2.2", "2.3", "2.4"):
        assert (part, "visible") in visibility
        assert (part, "after_published") in visibility


LIME = {"test_lime_matches_weighted_least_squares",
        "test_lime_hidden"}
SHAPLEY = {"test_exact_shapley_matches_permutations",
           "test_exact_shapley_hidden"}
PRODUCT = {"test_product_model_shap",
           "test_product_model_shap_hidden"}
SALIENCY = {"test_saliency_matches_captum",
            "test_saliency_hidden"}
IG_DEFAULT = "test_integrated_gradients_default_class"
IG = {"test_integrated_gradients_completeness",
      "test_integrated_gradients_match_captum",
      "test_integrated_gradients_hidden",
      IG_DEFAULT}
_IG_DEFAULT = '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    wrapper = _wrap(model)
    batch = _batch(x)
    {choose}
    ig = IntegratedGradients(wrapper, baseline=_batch(baseline), resolution=int(resolution),
                             qoi=ClassQoI(int(c)), rebatch_size=25)
    return ig.attributions(batch)[0]
'''
INFLUENCE = {"test_internal_influence_point_and_linear",
             "test_internal_influence_comparative",
             "test_internal_influence_hidden"}
AVERAGE_DROP_LINEAR = ("test_average_drop_linear_model")
NECESSITY_LINEAR = ("test_necessity_ordering_linear_model")
METRICS_CNN_AND_HIDDEN = {"test_metrics_on_cnn",
                          "test_metrics_hidden"}

MUTANTS = {
    "LIME with the kernel exp(-|x - x'| / d)": ("weighted_neighborhood_LIME", '''
def weighted_neighborhood_LIME(query, comparison_X, comparison_Y, d):
    X, Y = np.asarray(comparison_X, dtype=float), np.asarray(comparison_Y, dtype=float)
    root = np.sqrt(np.exp(-np.abs(X - query) / d))
    A = np.stack([X, np.ones_like(X)], axis=1)
    slope, intercept = np.linalg.lstsq(root[:, None] * A, root * Y, rcond=None)[0]
    return float(slope), float(intercept)
''', "1.1", LIME, "exp(-|x - x'| / d)"),
    "LIME without weights": ("weighted_neighborhood_LIME", '''
def weighted_neighborhood_LIME(query, comparison_X, comparison_Y, d):
    slope, intercept = np.polyfit(comparison_X, comparison_Y, 1)
    return float(slope), float(intercept)
''', "1.1", LIME, "unweighted"),
    "Shapley values without the subset weights": ("exact_shapley", '''
def exact_shapley(f, x, background):
    x, background = np.asarray(x, dtype=float), np.asarray(background, dtype=float)
    M = len(x)
    value = np.zeros(1 << M)
    for S in range(1 << M):
        rows = background.copy()
        members = [i for i in range(M) if S >> i & 1]
        rows[:, members] = x[members]
        value[S] = np.mean(f(rows))
    phi = np.zeros(M)
    for S in range(1 << M):
        for i in range(M):
            if not S >> i & 1:
                phi[i] += (value[S | 1 << i] - value[S]) / 2 ** (M - 1)
    return phi
''', "1.2", SHAPLEY, "averaged them uniformly"),
    "Shapley values with one call of f per background row": ("exact_shapley", '''
def exact_shapley(f, x, background):
    x, background = np.asarray(x, dtype=float), np.asarray(background, dtype=float)
    M = len(x)
    value = np.zeros(1 << M)
    for S in range(1 << M):
        rows = background.copy()
        members = [i for i in range(M) if S >> i & 1]
        rows[:, members] = x[members]
        value[S] = np.mean([f(row[None])[0] for row in rows])
    phi = np.zeros(M)
    for S in range(1 << M):
        size = bin(S).count("1")
        if size < M:
            weight = math.factorial(size) * math.factorial(M - size - 1) / math.factorial(M)
            for i in range(M):
                if not S >> i & 1:
                    phi[i] += weight * (value[S | 1 << i] - value[S])
    return phi
''', "1.2", {"test_exact_shapley_calls_f_once_per_coalition"},
        "one call of f on all the background rows"),
    "product model: the whole product for every feature": ("product_model_shap", '''
def product_model_shap(x):
    return np.full(len(x), np.prod(x))
''', "1.2", PRODUCT, "which players share f(x)"),
    "saliency: the raw gradient, without ⊙ x": ("visualize_saliency_map", '''
def visualize_saliency_map(model, x, k=5, show=True):
    wrapper = _wrap(model)
    batch = _batch(x)
    classes = np.argsort(-_scores(model, batch)[0], kind="stable")[:k]
    attributions = np.concatenate([
        InputAttribution(wrapper, qoi=ClassQoI(int(c)), multiply_activation=False)
        .attributions(batch) for c in classes])
    return classes, attributions
''', "2.1", SALIENCY, "plain gradient"),
    "saliency whose k defaults to 3": ("visualize_saliency_map", '''
def visualize_saliency_map(model, x, k=3, show=True):
    wrapper = _wrap(model)
    batch = _batch(x)
    classes = np.argsort(-_scores(model, batch)[0], kind="stable")[:k]
    attributions = np.concatenate([
        InputAttribution(wrapper, qoi=ClassQoI(int(c))).attributions(batch) for c in classes])
    return classes, attributions
''', "2.1", {"test_saliency_matches_captum"},
        "default is 5"),
    "IG multiplied by x instead of (x - baseline)": ("visualize_integrated_gradients", '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    wrapper = _wrap(model)
    batch = _batch(x)
    if c is None:
        c = int(_scores(model, batch)[0].argmax())
    path = LinearDoi(baseline=_batch(baseline), resolution=int(resolution))
    gradient = InternalInfluence(wrapper, (InputCut(), OutputCut()), ClassQoI(int(c)), path,
                                 multiply_activation=False).attributions(batch)
    return (gradient * batch)[0]
''', "2.2", IG, "(x - baseline)"),
    # (`c = c or top`, which turns an explicit c = 0 into the top class, already fails the
    # completeness and captum checks: they pass c = 0 where the top class is not 0.)
    "IG whose default class is 0": (
        "visualize_integrated_gradients", _IG_DEFAULT.format(choose="c = 0 if c is None else c"),
        "2.2", {IG_DEFAULT}, "highest score"),
    "IG that crashes when c is None": (
        "visualize_integrated_gradients", _IG_DEFAULT.format(choose="pass"), "2.2", {IG_DEFAULT},
        "TypeError"),
    "internal influence in attribution space (multiply_activation=True)":
        ("get_internal_influences", '''
def get_internal_influences(model, x_pp, x, layer_name, doi, qoi):
    wrapper = _wrap(model)
    quantity = ComparativeQoI(*qoi) if isinstance(qoi, (tuple, list)) else ClassQoI(int(qoi))
    influence = InternalInfluence(wrapper, Cut(layer_name), quantity, doi).attributions(
        _batch(x_pp))[0]
    per_neuron = influence.reshape(influence.shape[0], -1).sum(axis=1)
    return per_neuron, int(per_neuron.argmax())
''', "2.3", INFLUENCE, "mean layer gradient"),
    "Average Drop on softmax probabilities with a soft mask (not the original definition)":
        ("average_drop", '''
def average_drop(model, X, pixel_attrs):
    X = np.asarray(X, dtype=np.float64)
    masks = np.stack([np.maximum(a, 0) / a.max() if a.max() > 0 else np.zeros_like(a)
                      for a in np.asarray(pixel_attrs, dtype=np.float64)])[:, None]
    full = torch.softmax(torch.as_tensor(class_scores(model, X)), 1).numpy()
    masked = torch.softmax(torch.as_tensor(class_scores(model, X * masks)), 1).numpy()
    c = full.argmax(axis=1)
    Y, O = full[np.arange(len(X)), c], masked[np.arange(len(X)), c]
    return float(100 * np.mean(np.maximum(0, Y - O) / Y))
''', "2.4", METRICS_CNN_AND_HIDDEN | {AVERAGE_DROP_LINEAR}, "and a hard mask"),
    "Average Drop with the class predicted on the masked image": ("average_drop", '''
def average_drop(model, X, pixel_attrs):
    X = np.asarray(X, dtype=np.float64)
    full = class_scores(model, X)
    masked = class_scores(model, X * (np.asarray(pixel_attrs) > 0)[:, None])
    rows = np.arange(len(X))
    c, k = full.argmax(axis=1), masked.argmax(axis=1)
    return float(100 * np.mean(np.maximum(full[rows, c] - masked[rows, k], 0) / full[rows, c]))
''', "2.4", {AVERAGE_DROP_LINEAR, "test_metrics_hidden"},
        "same class on the masked image"),
    "Necessity Ordering removing the least attributed pixels first": ("necessity_ordering", '''
def necessity_ordering(model, x, pixel_attr):
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    order = np.argsort(np.asarray(pixel_attr, dtype=np.float64).ravel(), kind="stable")
    images = [x.copy()]
    for p in order:
        image = images[-1].copy()
        image.reshape(x.shape[0], -1)[:, p] = 0
        images.append(image)
    scores = class_scores(model, np.stack(images))
    c = scores[0].argmax()
    return float(np.mean(np.maximum(scores[:, c] - scores[-1, c], 0)))
''', "2.4", METRICS_CNN_AND_HIDDEN | {NECESSITY_LINEAR}, "least* attributed"),
    "Necessity Ordering without the blank image's score f_c(0)": ("necessity_ordering", '''
def necessity_ordering(model, x, pixel_attr):
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    order = np.argsort(-np.asarray(pixel_attr, dtype=np.float64).ravel(), kind="stable")
    images = [x.copy()]
    for p in order:
        image = images[-1].copy()
        image.reshape(x.shape[0], -1)[:, p] = 0
        images.append(image)
    scores = class_scores(model, np.stack(images))
    return float(np.mean(np.maximum(scores[:, scores[0].argmax()], 0)))
''', "2.4", METRICS_CNN_AND_HIDDEN | {NECESSITY_LINEAR}, "Subtract f_c(0)"),
    "pixel attribution summed over channels": ("pixel_attribution", '''
def pixel_attribution(attr):
    return np.asarray(attr, dtype=np.float64).sum(axis=-3)
''', "2.4", {"test_pixel_attribution"},
        "sum over channels"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_plausible_mistakes_lose_exactly_their_points(mutant, solution_result, tmp_path):
    function, source, part, should_fail, hint = MUTANTS[mutant]
    submission = replace_function(HW2.solution, function, source, tmp_path / "mutant.ipynb")
    result = grade("hw2", submission, parts=[part])
    assert_loses_exactly(result, solution_result, should_fail)
    assert_selfcheck_agrees("hw2", submission, result)
    public = [t for t in result.tests if t.id in should_fail and t.visibility == "visible"]
    assert any(hint in t.output for t in public), [t.output for t in public]


@pytest.mark.parametrize("name", list(ALTERNATIVES["hw2"]))
def test_alternative_correct_code_keeps_full_marks(name, tmp_path):
    """Other correct ways (tests/alternatives.py): Shapley values by permutations, the influence
    from a hand-made Slice and DoIs, IG by the trapezoid rule, metrics with vectorised masks."""
    parts, functions = ALTERNATIVES["hw2"][name]
    submission = HW2.solution
    for function, source in functions.items():
        submission = replace_function(submission, function, source, tmp_path / f"{function}.ipynb")
    result = grade("hw2", submission, parts=parts)
    assert [(t.name, t.output) for t in result.tests if t.status != "passed"] == []
    assert_selfcheck_agrees("hw2", submission, result)


def test_references_agree_with_what_they_stand_for():
    rng = np.random.default_rng(0)
    # the local line: closed form equals weighted lstsq
    X, Y = rng.uniform(-3, 3, 50), rng.normal(size=50)
    w = np.sqrt(np.exp(-(X - 0.5) ** 2 / 2.0))
    A = np.stack([X, np.ones_like(X)], axis=1)
    assert np.allclose(ref.reference_local_line(0.5, X, Y, 2.0),
                       np.linalg.lstsq(w[:, None] * A, w * Y, rcond=None)[0], atol=1e-10)
    # brute-force Shapley of a linear model: w_i (x_i - mean background_i)
    weights, x, background = rng.normal(size=4), rng.normal(size=4), rng.normal(size=(7, 4))
    assert np.allclose(ref.brute_force_shapley(lambda r: r @ weights, x, background),
                       weights * (x - background.mean(axis=0)), atol=1e-12)
    # the linear image model's torch outputs are the numpy closed form
    import torch
    model = ref.linear_image_model(3, 2, 4, 5)
    W, b = ref.linear_image_weights(3, 2, 4, 5)
    images = rng.uniform(size=(6, 2, 4, 4))
    with torch.no_grad():
        torch_logits = model(torch.as_tensor(images)).numpy()
    assert np.allclose(torch_logits, ref.linear_predict(W, b)(images), rtol=0, atol=1e-12)
    # Average Drop of the all-ones attribution is 0 (the mask keeps the image)
    W, b = ref.linear_image_weights(3, 2, 4, 5, bias_shift=4.0)
    assert ref.reference_average_drop(ref.linear_predict(W, b), images,
                                      np.ones((6, 4, 4))) == 0.0
    # the point influence at the last layer of a linear model is W_c, summed per channel
    from tmlkit.models import small_cnn
    cnn = small_cnn(1, 3, 16, 5)
    point = ref.reference_layer_influence(cnn, "classifier", rng.uniform(size=(3, 16, 16)), 2,
                                          "point")
    assert np.allclose(point, np.eye(5)[2])     # ∂ logit_2 / ∂ logits = e_2


def test_solution_notebook_runs_top_to_bottom(tmp_path):
    outputs = run_quick(HW2.solution, tmp_path)
    assert "✗" not in outputs, "a self-check cell failed in the solution notebook"
    assert_every_selfcheck_ran(outputs, "hw2")
    assert "max |exact_shapley - TreeSHAP interventional|" in outputs
