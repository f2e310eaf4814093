"""HW4 end to end: plausible mistakes lose exactly the points of the checks they should fail."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest
from conftest import (assert_every_selfcheck_ran, assert_loses_exactly, assert_selfcheck_agrees,
                      replace_function, run_quick)

from autograder import homeworks
from autograder.grade import grade

HW4 = homeworks.get("hw4")


def test_solution_has_public_checks_in_every_part_and_hidden_ones(solution_result):
    visibility = {(t.number, t.visibility) for t in solution_result.tests}
    for part in ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4"):
        assert (part, "visible") in visibility
    for part in ("1.1", "1.2", "2.2", "2.3", "2.4"):
        assert (part, "after_published") in visibility


GRADCAM = {"test_gradcam_matches_captum",
           "test_gradcam_on_hidden_models"}

# Grad-CAM mutants share the forward and backward pass: {output} is what is differentiated,
# {weights} turns the gradient dA (1, K, h, w) into α (1, K, 1, 1), {relu} wraps the map.
_GRADCAM_TEMPLATE = '''
def gradcam(model, layer, x, c, normalize={default}):
    x = torch.as_tensor(np.asarray(x)).to(next(model.parameters()).dtype).reshape(1, *np.shape(x)[-3:])
    kept = {{}}
    handle = layer.register_forward_hook(lambda m, i, o: kept.update(A=o))
    try:
        scores = model(x)
    finally:
        handle.remove()
    (dA,) = torch.autograd.grad({output}[0, int(c)], kept["A"])
    summed = dA.sum(dim=(2, 3), keepdim=True)
    {weights}
    cam = {relu}((alpha * kept["A"]).sum(dim=1))[0].detach().numpy()
    return cam / cam.max() if normalize and cam.max() > 0 else cam
'''

_NORMALISED = """if summed.sum() == 0:
        return np.zeros(kept["A"].shape[2:])
    alpha = summed / summed.sum()"""


def _gradcam(output="torch.softmax(scores, dim=1)", weights=_NORMALISED, relu="torch.relu",
             default="True"):
    return _GRADCAM_TEMPLATE.format(output=output, weights=weights, relu=relu, default=default)


GRADCAM_MUTANTS = {
    # The kit's former definition, the Grad-CAM paper's: the logit, Z = h·w.
    "gradcam of the logit with the spatial mean (the paper's variant)": (
        "gradcam", _gradcam(output="scores", weights="alpha = dA.mean(dim=(2, 3), keepdim=True)"),
        GRADCAM | {"test_gradcam_normalized"}),
    # The softmax output, but Z = h·w: a positive rescaling of the map where Σ_k g_k > 0,
    # a different map where it is negative.
    "gradcam of the softmax with the spatial mean": (
        "gradcam", _gradcam(weights="alpha = dA.mean(dim=(2, 3), keepdim=True)"),
        GRADCAM | {"test_gradcam_normalized"}),
    "gradcam normalised by the sum of absolute weights": (
        "gradcam", _gradcam(weights="""if summed.abs().sum() == 0:
        return np.zeros(kept["A"].shape[2:])
    alpha = summed / summed.abs().sum()"""),
        GRADCAM | {"test_gradcam_normalized"}),
    # Dividing by Z = 0 gives NaN where the softmax is saturated.
    "gradcam that divides by Z = 0": (
        "gradcam", _gradcam(weights="alpha = summed / summed.sum()"),
        {"test_gradcam_matches_captum"}),
    "gradcam without the ReLU": (
        "gradcam", _gradcam(relu=""), GRADCAM | {"test_gradcam_normalized"}),
    "gradcam whose normalize defaults to False": (
        "gradcam", _gradcam(default="False"), {"test_gradcam_normalized"}),
}

MUTANTS = {
    **GRADCAM_MUTANTS,
    "lime_samples whose seed defaults to None": ("lime_samples", '''
def lime_samples(x0, m, sigma, seed=None):
    x0 = np.asarray(x0, dtype=float)
    return x0 + sigma * np.random.default_rng(seed).standard_normal((m, x0.size))
''', {"test_lime_samples"}),
    "weighted least squares ignoring the weights": ("weighted_least_squares", '''
def weighted_least_squares(X, y, w):
    return np.linalg.lstsq(np.asarray(X, dtype=float), np.asarray(y, dtype=float), rcond=None)[0]
''', {"test_weighted_least_squares",
      "test_weighted_least_squares_ill_conditioned",
      "test_weighted_least_squares_hidden"}),
    "lasso thresholding at lam * sum(w)": ("lasso_lime", '''
def lasso_lime(X, y, w, lam, tol=1e-10, max_sweeps=10_000):
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    beta, residual = np.zeros(X.shape[1]), y.copy()
    curvature = (w[:, None] * X ** 2).sum(axis=0)
    for _ in range(max_sweeps):
        largest = 0.0
        for j in range(X.shape[1]):
            rho = np.dot(w * X[:, j], residual) + curvature[j] * beta[j]
            new = np.sign(rho) * max(abs(rho) - lam, 0.0) / curvature[j]
            residual -= (new - beta[j]) * X[:, j]
            largest, beta[j] = max(largest, abs(new - beta[j])), new
        if largest <= tol:
            break
    return beta
''', {"test_lasso_matches_sklearn",
      "test_lasso_hidden"}),
    "sparse_lime ranking features by marginal fit, refitting once": ("sparse_lime", '''
def sparse_lime(X, y, w, k):
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    root = np.sqrt(w)
    score = np.abs(X.T @ (w * y))
    support = np.argsort(-score)[:k]
    beta = np.zeros(X.shape[1])
    beta[support] = np.linalg.lstsq(root[:, None] * X[:, support], root * y, rcond=None)[0]
    return beta
''', {"test_sparse_lime_recovers_planted_support",
      "test_sparse_lime_hidden",
      "test_sparse_lime_is_greedy"}),
    # Best-subset search is what greedy forward selection approximates; it passes every
    # outcome check, and only the instance where greedy and best subset differ tells.
    "sparse_lime by best-subset search": ("sparse_lime", '''
def sparse_lime(X, y, w, k):
    from itertools import combinations
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    root, d = np.sqrt(w), X.shape[1]
    best = None
    for subset in combinations(range(d), min(int(k), d)):
        subset = list(subset)
        coef = np.linalg.lstsq(root[:, None] * X[:, subset], root * y, rcond=None)[0]
        rss = float(np.sum(w * (y - X[:, subset] @ coef) ** 2))
        if best is None or rss < best[0]:
            best = (rss, subset, coef)
    beta = np.zeros(d)
    if best is not None:
        beta[best[1]] = best[2]
    return beta
''', {"test_sparse_lime_is_greedy"}),
    "gradcam_video whose normalize defaults to False": ("gradcam_video", '''
def gradcam_video(model, layer, frames, c, normalize=False):
    return np.stack([gradcam(model, layer, frame, c, normalize=normalize)
                     for frame in np.asarray(frames)])
''', {"test_gradcam_video_is_per_frame"}),
}

PARTS = {"gradcam": ["1.2", "1.3"], "gradcam_video": ["1.3"]}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_plausible_mistakes_lose_exactly_their_points(mutant, solution_result, tmp_path):
    function, source, should_fail = MUTANTS[mutant]
    submission = replace_function(HW4.solution, function, source, tmp_path / "mutant.ipynb")
    parts = PARTS.get(function, ["2"])
    result = grade("hw4", submission, parts=parts)
    assert_loses_exactly(result, solution_result, should_fail)
    assert_selfcheck_agrees("hw4", submission, result)


def test_mistake_messages_point_at_the_cause(tmp_path):
    for mutant, expected in (("gradcam of the logit with the spatial mean (the paper's variant)",
                              "gradient of the logit"),
                             ("gradcam of the softmax with the spatial mean", "not h·w"),
                             ("gradcam that divides by Z = 0", "all-zero map"),
                             ("gradcam without the ReLU", "apply the ReLU")):
        submission = replace_function(HW4.solution, "gradcam", MUTANTS[mutant][1],
                                      tmp_path / "m.ipynb")
        result = grade("hw4", submission, parts=["1.2"])
        (public,) = [t for t in result.tests if t.id == "test_gradcam_matches_captum"]
        assert expected in public.output, (mutant, public.output)
    submission = replace_function(HW4.solution, "lasso_lime",
                                  MUTANTS["lasso thresholding at lam * sum(w)"][1],
                                  tmp_path / "lasso.ipynb")
    result = grade("hw4", submission, parts=["2.3"])
    assert all("off by a factor sum(w)" in t.output for t in result.tests), \
        [t.output for t in result.tests]


def test_normal_equations_fail_only_the_conditioning_checks(tmp_path):
    submission = replace_function(HW4.solution, "weighted_least_squares", '''
def weighted_least_squares(X, y, w):
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    return np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * y))
''', tmp_path / "normal.ipynb")
    result = grade("hw4", submission, parts=["2.2"])
    by_name = {t.id: t for t in result.tests}
    assert by_name["test_weighted_least_squares"].status == "passed"
    ill = by_name["test_weighted_least_squares_ill_conditioned"]
    assert ill.status == "failed" and "np.linalg.lstsq" in ill.output
    assert_selfcheck_agrees("hw4", submission, result)


def test_greedy_selection_matches_best_subset_on_the_planted_family():
    from autograder.homeworks.hw4 import best_subset_rss
    from tmlkit.public.hw4 import decoy_problem, planted_problem, weighted_rss
    namespace: dict = {"np": np}
    nb = nbformat.read(HW4.solution, as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == "sparse_lime"]
    exec(cell.source, namespace)
    rng = np.random.default_rng(2024)
    problems = [planted_problem(rng) for _ in range(200)] + [decoy_problem(rng) for _ in range(50)]
    for X, y, w, support in problems:
        beta = namespace["sparse_lime"](X, y, w, len(support))
        assert weighted_rss(X, y, w, beta) <= 1.01 * best_subset_rss(X, y, w, len(support))


# Greedy forward selection written differently from the solution: the residual of each trial
# support from a QR factorisation of the weighted columns.
ALTERNATIVE_GREEDY = '''
def sparse_lime(X, y, w, k):
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    Xw, yw = np.sqrt(w)[:, None] * X, np.sqrt(w) * y
    support = []
    for _ in range(min(int(k), X.shape[1])):
        def residual(j):
            q, _ = np.linalg.qr(Xw[:, support + [j]])
            return float(np.sum((yw - q @ (q.T @ yw)) ** 2))
        support.append(min((j for j in range(X.shape[1]) if j not in support), key=residual))
    beta = np.zeros(X.shape[1])
    if support:
        beta[support] = np.linalg.lstsq(Xw[:, support], yw, rcond=None)[0]
    return beta
'''


def test_correct_alternative_greedy_keeps_full_marks(tmp_path):
    submission = replace_function(HW4.solution, "sparse_lime", ALTERNATIVE_GREEDY,
                                  tmp_path / "greedy.ipynb")
    result = grade("hw4", submission, parts=["2.4"])
    assert [t.output for t in result.tests if t.status != "passed"] == []
    assert result.score == sum(t.max_score for t in result.tests) == 6
    assert_selfcheck_agrees("hw4", submission, result)


# The original's Grad-CAM written differently from the solution: the gradient of log ŷ_c (it is
# ∂ŷ_c/∂A divided by ŷ_c > 0, a factor the normalisation Σ α = 1 cancels), the activations kept
# by a hook that returns nothing, and the weights and map by einsum.
ALTERNATIVE_GRADCAM = '''
def gradcam(model, layer, x, c, normalize=True):
    x = torch.as_tensor(np.asarray(x)).to(next(model.parameters()).dtype)
    x = x.unsqueeze(0) if x.dim() == 3 else x
    saved = []
    handle = layer.register_forward_hook(lambda module, inputs, output: saved.append(output))
    try:
        log_p = torch.log_softmax(model(x), dim=1)[0, c]
    finally:
        handle.remove()
    activations = saved[0][0]
    gradients = torch.autograd.grad(log_p, saved[0])[0][0]
    g = torch.einsum("khw->k", gradients)
    total = g.sum()
    if total.abs() == 0:
        return np.zeros(tuple(activations.shape[1:]))
    cam = torch.einsum("k,khw->hw", g / total, activations).clamp(min=0).detach().numpy()
    if normalize and cam.max() > 0:
        cam = cam / cam.max()
    return cam
'''


def test_correct_alternative_gradcam_keeps_full_marks(tmp_path):
    submission = replace_function(HW4.solution, "gradcam", ALTERNATIVE_GRADCAM,
                                  tmp_path / "gradcam.ipynb")
    result = grade("hw4", submission, parts=["1.2", "1.3"])
    assert [t.output for t in result.tests if t.status != "passed"] == []
    assert result.score == sum(t.max_score for t in result.tests) == 8


def test_gradcam_reference_is_captum_rescaled_and_the_instances_cover_its_cases():
    """The reference equals a plain float64 computation of the original's definition from
    reverse-mode gradients; the public instances include a negative Z (the ReLU keeps the other
    sign) and a saturated softmax (Z = 0, all-zero map)."""
    import torch
    from autograder.homeworks.hw4 import _layer, gradient_sum, reference_gradcam
    from tmlkit.public.hw4 import saturated_image
    from tmlkit.models import small_cnn
    rng = np.random.default_rng(42)
    totals = []
    for args, path, c, shape in (((0,), "features.6", 1, (1, 3, 16, 16)),
                                 ((1,), "features.3", 4, (3, 16, 16)),
                                 ((2, 1, 12, 3, 5), "features.7", 0, (1, 1, 12, 12))):
        x = rng.normal(size=shape)
        model = small_cnn(*args)
        kept = []
        handle = _layer(model, path).register_forward_hook(lambda m, i, o, kept=kept: kept.append(o))
        p = torch.softmax(model(torch.as_tensor(x).reshape(1, *shape[-3:])), dim=1)
        handle.remove()
        (dA,) = torch.autograd.grad(p[0, c], kept[0])
        g = dA.sum(dim=(2, 3))[0]
        by_hand = torch.relu(torch.einsum("k,khw->hw", g / g.sum(), kept[0][0])).detach().numpy()
        assert np.abs(reference_gradcam(args, path, x, c) - by_hand).max() < 1e-12 * by_hand.max()
        totals.append(gradient_sum(model, _layer(model, path),
                                   torch.as_tensor(x).reshape(1, *shape[-3:]), c))
    assert min(totals) < 0 < max(totals)
    saturated = reference_gradcam((1,), "features.7", saturated_image(1), 2)
    assert not saturated.any()
    model = small_cnn(1)
    with torch.no_grad():
        p = torch.softmax(model(torch.as_tensor(saturated_image(1))), dim=1)[0]
    assert p[2] == 1 and (p == 0).sum() == len(p) - 1


def test_greedy_trap_separates_greedy_from_best_subset():
    """On the instances of test_sparse_lime_is_greedy, greedy forward selection and the best
    subset differ, and greedy's second pick wins by more than 2% of the residual (no near-tie
    that rounding could turn)."""
    from autograder.homeworks.hw4 import best_subset_rss, reference_forward_selection, reference_wls
    from tmlkit.public.hw4 import greedy_trap, weighted_rss
    rng = np.random.default_rng(81)
    for _ in range(3):
        X, y, w = greedy_trap(rng)
        first, second = reference_forward_selection(X, y, w, 2)
        rss = []
        for j in set(range(X.shape[1])) - {first}:
            beta = np.zeros(X.shape[1])
            beta[[first, j]] = reference_wls(X[:, [first, j]], y, w)
            rss.append(weighted_rss(X, y, w, beta))
        rss.sort()
        assert rss[1] > 1.02 * rss[0]
        assert rss[0] > 10 * best_subset_rss(X, y, w, 2)


def test_solution_notebook_runs_top_to_bottom(tmp_path):
    outputs = run_quick(HW4.solution, tmp_path)
    assert "✗" not in outputs, "a self-check cell failed in the solution notebook"
    assert_every_selfcheck_ran(outputs, "hw4")
