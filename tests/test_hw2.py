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
IG_SUM = {"test_integrated_gradients_right_riemann_sum",
          "test_integrated_gradients_hidden"}
IG = IG_SUM | {IG_DEFAULT}
# Eq. 3 with TruLens: a LinearDoi from x down to the last of the right sum's points
_IG_RIGHT_SUM = '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    wrapper = _wrap(model)
    batch = _batch(x)
    {choose}
    start, steps = _batch(baseline), int(resolution)
    gradients = InternalInfluence(wrapper, (InputCut(), OutputCut()), ClassQoI(int(c)),
                                  LinearDoi(start + (batch - start) / steps, steps,
                                            cut=InputCut()), multiply_activation=False)
    return ({factor} * gradients.attributions(batch))[0]
'''
_IG_DEFAULT = _IG_RIGHT_SUM.replace("{factor}", "(batch - start)")
# Riemann sums other than Eq. 3's, with torch autograd: alphas of the N points, in [0, 1]
_IG_RULE = '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])).to(dtype)
    base = torch.as_tensor(np.asarray(baseline, dtype=np.float64).reshape(x.shape)).to(dtype)
    if c is None:
        c = int(model(x[None])[0].argmax())
    N = int(resolution)
    alphas, weights = {rule}
    path = (base + alphas.reshape(-1, 1, 1, 1) * (x - base)).requires_grad_(True)
    model(path)[:, int(c)].sum().backward()
    mean = (weights.reshape(-1, 1, 1, 1) * path.grad).sum(dim=0)
    return ((x - base) * mean).detach().numpy().astype(np.float64)
'''
INFLUENCE_POINT = "test_internal_influence_point"
INFLUENCE_LINEAR = {"test_internal_influence_linear_from_input",
                    "test_internal_influence_hidden"}
INFLUENCE = INFLUENCE_LINEAR | {INFLUENCE_POINT, "test_internal_influence_comparative"}
_INFLUENCE = '''
def get_internal_influences(model, x_pp, x, layer_name, doi, qoi, baseline=None):
    wrapper = _wrap(model)
    quantity = ComparativeQoI(*qoi) if isinstance(qoi, (tuple, list)) else ClassQoI(int(qoi))
    batch = _batch(x_pp)
    {distribution}
    influence = InternalInfluence(wrapper, Cut(layer_name), quantity, distribution,
                                  multiply_activation={multiply}).attributions(batch)[0]
    per_neuron = influence.reshape(influence.shape[0], -1).sum(axis=1)
    return per_neuron, int(per_neuron.argmax())
'''
EXPERT = {"test_expert_attribution", "test_expert_attribution_hidden"}
EVALUATION = {"test_evaluation_attributions", "test_evaluation_attributions_hidden"}
_EVALUATION = '''
def evaluation_attributions(model, X, resolution):
    saliency, ig = [], []
    for x in np.asarray(X):
        _, maps = visualize_saliency_map(model, x, k=1, show=False)
        saliency.append(pixel_attribution(maps[0]))
        ig.append(pixel_attribution(visualize_integrated_gradients(
            model, x, {baseline}, resolution, show=False)))
    return np.stack(saliency), np.stack(ig)
'''
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
    "IG multiplied by x instead of (x - baseline)": (
        "visualize_integrated_gradients",
        _IG_RIGHT_SUM.format(choose="c = int(_scores(model, batch)[0].argmax()) if c is None "
                                    "else c", factor="batch"),
        "2.2", IG, "multiplies by (x - x_b)"),
    # Eq. 3 is the right Riemann sum: the kit's former definition (TruLens's IntegratedGradients,
    # a mean over both ends of the path) and other rules lose exactly the sum's checks
    "IG as TruLens's IntegratedGradients (the mean over both ends, not Eq. 3)": (
        "visualize_integrated_gradients", '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    wrapper = _wrap(model)
    batch = _batch(x)
    if c is None:
        c = int(_scores(model, batch)[0].argmax())
    ig = IntegratedGradients(wrapper, baseline=_batch(baseline), resolution=int(resolution),
                             qoi=ClassQoI(int(c)), rebatch_size=25)
    return ig.attributions(batch)[0]
''', "2.2", IG_SUM, "TruLens's LinearDoi"),
    "IG by the left Riemann sum": (
        "visualize_integrated_gradients",
        _IG_RULE.format(rule="torch.arange(N, dtype=dtype) / N, torch.full((N,), 1 / N, "
                             "dtype=dtype)"),
        "2.2", IG_SUM, "left Riemann sum"),
    "IG by the trapezoid rule": (
        "visualize_integrated_gradients",
        _IG_RULE.format(rule="torch.linspace(0, 1, N + 1, dtype=dtype), torch.cat([torch.full("
                             "(1,), 0.5 / N), torch.full((N - 1,), 1 / N), torch.full((1,), "
                             "0.5 / N)]).to(dtype)"),
        "2.2", IG_SUM, "trapezoid rule"),
    # (`c = c or top`, which turns an explicit c = 0 into the top class, already fails the
    # right-sum check: it passes c = 0 where the top class is not 0.)
    "IG whose default class is 0": (
        "visualize_integrated_gradients", _IG_DEFAULT.format(choose="c = 0 if c is None else c"),
        "2.2", {IG_DEFAULT}, "highest score"),
    "IG that crashes when c is None": (
        "visualize_integrated_gradients", _IG_DEFAULT.format(choose="pass"), "2.2", {IG_DEFAULT},
        "TypeError"),
    "internal influence in attribution space (multiply_activation=True)": (
        "get_internal_influences", _INFLUENCE.format(
            distribution="distribution = PointDoi(cut=InputCut()) if doi == 'point' else "
                         "LinearDoi(_batch(baseline) if baseline is not None else None, "
                         "cut=InputCut())", multiply="True"),
        "2.3", INFLUENCE, "the layer's output at x"),
    # The original's linear DoI runs in input space, from the baseline image: the kit's former
    # definition (the DoI at the layer's cut) and a path from the zero input lose exactly it
    "influence with the linear DoI at the layer (in activation space)": (
        "get_internal_influences", _INFLUENCE.format(distribution="distribution = doi",
                                                     multiply="False"),
        "2.3", INFLUENCE_LINEAR, "applied at the layer"),
    "influence with the linear DoI from the zero input, whatever the baseline": (
        "get_internal_influences", _INFLUENCE.format(
            distribution="distribution = PointDoi(cut=InputCut()) if doi == 'point' else "
                         "LinearDoi(cut=InputCut())", multiply="False"),
        "2.3", INFLUENCE_LINEAR, "starts at the all-zero input"),
    # Def. 4 is x ⊙ ∇_x h_k: the kit's former map (IG of the channel) and the raw gradient
    "expert map as integrated gradients of the channel": ("expert_attribution", '''
def expert_attribution(model, x_pp, layer_name, expert):
    attribution = InternalInfluence(_wrap(model), Slice(InputCut(), Cut(layer_name)),
                                    InternalChannelQoI(int(expert)), LinearDoi(resolution=20),
                                    multiply_activation=True)
    return attribution.attributions(_batch(x_pp))[0]
''', "2.3", EXPERT, "integrated gradients of the channel"),
    "expert map without ⊙ x": ("expert_attribution", '''
def expert_attribution(model, x_pp, layer_name, expert):
    attribution = InputAttribution(_wrap(model), qoi_cut=Cut(layer_name),
                                   qoi=InternalChannelQoI(int(expert)), multiply_activation=False)
    return attribution.attributions(_batch(x_pp))[0]
''', "2.3", EXPERT, "plain gradient"),
    # Exercise 22 asks for IG from the all-zero baseline; the kit's former choice was the black
    # image, -0.5 in the small CNN's input
    "Exercise 22's IG from the black image (-0.5)": (
        "evaluation_attributions", _EVALUATION.format(baseline="np.full_like(x, -0.5)"),
        "2.4", EVALUATION, "-0.5"),
    "Exercise 22's IG from the image's darkest value": (
        "evaluation_attributions", _EVALUATION.format(baseline="np.full_like(x, x.min())"),
        "2.4", EVALUATION, "minimum"),
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


def test_the_masked_image_class_loses_the_hidden_point_at_a_seed_it_once_kept(
        solution_result, tmp_path, monkeypatch):
    """Seed 233 drew a hidden linear model that predicts one class on every image and masked
    image, so taking the masked image's class kept the point (at about 1 seed in 30, CI saw it
    once); the check now redraws such models."""
    monkeypatch.setenv("TML_GRADER_SEED", "233")
    function, source, part, should_fail, _ = MUTANTS[
        "Average Drop with the class predicted on the masked image"]
    result = grade("hw2", replace_function(HW2.solution, function, source,
                                           tmp_path / "mutant.ipynb"), parts=[part])
    assert_loses_exactly(result, solution_result, should_fail)


@pytest.mark.parametrize("name", list(ALTERNATIVES["hw2"]))
def test_alternative_correct_code_keeps_full_marks(name, tmp_path):
    """Other correct ways (tests/alternatives.py): Shapley values by permutations, the influence
    from a hand-made Slice and DoIs, the expert map, IG and Exercise 22's attributions with torch
    autograd, metrics with vectorised masks."""
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
    # after the last ReLU the gradient is the classifier's weights, the same at every input,
    # so the linear DoI gives the point DoI's influence
    x, baseline = rng.uniform(size=(3, 16, 16)), rng.uniform(size=(3, 16, 16))
    assert np.allclose(ref.reference_layer_influence(cnn, "features.7", x, 1, "linear", baseline),
                       ref.reference_layer_influence(cnn, "features.7", x, 1, "point"))
    # the linear DoI's points: x first, the baseline last, equally spaced
    points = ref.linear_doi_points(x, baseline)
    assert np.allclose(points[0], x) and np.allclose(points[-1], baseline)
    assert np.allclose(np.diff(points, axis=0), (baseline - x) / 9)
    # Eq. 3 on a linear model is exact: IG = (x - x_b) ⊙ W_c at any N
    model = ref.linear_image_model(3, 3, 4, 5)
    W, _ = ref.linear_image_weights(3, 3, 4, 5)
    x, baseline = rng.uniform(size=(3, 4, 4)), rng.uniform(size=(3, 4, 4))
    assert np.allclose(ref.reference_integrated_gradients(model, x, baseline, 2, 3,
                                                          "riemann_right"),
                       (x - baseline) * W[2].reshape(x.shape))
    # Eq. 3 by brute force on a ReLU net: N gradients at k/N, k = 1..N, with torch autograd
    import torch
    cnn, N = small_cnn(4, 3, 16, 5), 7
    x, baseline = rng.uniform(size=(3, 16, 16)), rng.uniform(size=(3, 16, 16))
    path = torch.as_tensor(np.stack([baseline + k / N * (x - baseline) for k in range(1, N + 1)]))
    path.requires_grad_(True)
    cnn(path)[:, 3].sum().backward()
    by_hand = (x - baseline) * path.grad.numpy().mean(axis=0)
    assert np.allclose(ref.reference_integrated_gradients(cnn, x, baseline, 3, N, "riemann_right"),
                       by_hand, rtol=1e-6, atol=1e-12)
    # Def. 4 by hand: x ⊙ the gradient of channel 2's total output at features.4
    kept = {}
    handle = cnn.features[4].register_forward_hook(lambda m, i, o: kept.update(a=o))
    image = torch.as_tensor(x[None]).requires_grad_(True)
    cnn(image)
    handle.remove()
    kept["a"][0, 2].sum().backward()
    assert np.allclose(ref.reference_expert_attribution(cnn, "features.4", x, 2),
                       (image * image.grad).detach().numpy()[0])


def test_solution_notebook_runs_top_to_bottom(tmp_path):
    outputs = run_quick(HW2.solution, tmp_path)
    assert "✗" not in outputs, "a self-check cell failed in the solution notebook"
    assert_every_selfcheck_ran(outputs, "hw2")
    assert "max |exact_shapley - TreeSHAP interventional|" in outputs
