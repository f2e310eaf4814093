"""Homework 1 spec: linear models, attribution, model stealing, adversarial examples, CIFAR-10.

The visible checks, with fixed seeds, are written in the student package
(``tmlkit/public/hw1.py``), where the notebook's self-check cells run them too; this spec imports
them. Hidden checks draw fresh instances on every grading run (seed from $TML_GRADER_SEED when
reproducibility is wanted), so no answer can be tailored to them.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax as reference_log_softmax

from autograder.checks.adversarial import min_l2_targeted_linear
from tmlkit.numeric import numerical_gradient
from tmlkit.spec import CheckFailed, check, hidden_rng

# The visible checks are written once, in the student package, where the notebook's
# self-check runs them too; imported here, they are this spec's checks.
from tmlkit.public.hw1 import (  # noqa: F401
    _check_attack, _check_completeness, _check_gradients, _check_inversion,
    test_softmax_matches_scipy, test_softmax_is_stable_for_large_logits,
    test_scores_forward_onehot, test_loss_matches_torch_cross_entropy,
    test_backward_matches_finite_differences, test_sgd_reaches_accuracy_bar,
    test_evaluate_counts_correct_predictions, test_sklearn_reaches_accuracy_bar,
    test_torch_reaches_accuracy_bar, test_sgd_documented_defaults, test_torch_documented_defaults,
    test_attribution_is_complete, test_explain_is_input_times_attribution,
    test_invert_recovers_model_exactly, test_attack_succeeds_within_box,
    test_attack_perturbation_is_near_minimal, test_cifar_accuracy_within_budget)


def reference_loss(X, Y, W, b) -> float:
    return float(-np.mean(np.sum(Y * reference_log_softmax(X @ W + b, axis=1), axis=1)))


def loss_finite_differences(X, Y, W, b) -> tuple[np.ndarray, np.ndarray]:
    """The loss's gradients with respect to W and b, by centred finite differences."""
    return (numerical_gradient(lambda V: reference_loss(X, Y, V, b), W),
            numerical_gradient(lambda c: reference_loss(X, Y, W, c), b))


# ---------------------------------------------------------------------------------------------
# 1.1 Softmax regression in numpy
# ---------------------------------------------------------------------------------------------

@check("1.1", points=2, hidden=True)
def test_backward_matches_autograd_on_random_shapes(hw):
    """backward: gradients match torch autograd on random shapes"""
    rng = hidden_rng()
    for _ in range(3):
        N, D, C = rng.integers(1, 40), rng.integers(1, 30), rng.integers(2, 12)
        _check_gradients(hw, rng, int(N), int(D), int(C), against="torch autograd")


# ---------------------------------------------------------------------------------------------
# 2.1 Complete attributions
# ---------------------------------------------------------------------------------------------

@check("2.1", points=2, hidden=True)
def test_attribution_is_complete_hidden(hw):
    """attribution: complete on a hidden model"""
    rng = hidden_rng()
    _check_completeness(hw, rng, D=int(rng.integers(20, 60)), C=int(rng.integers(3, 11)), pairs=25)


# ---------------------------------------------------------------------------------------------
# 2.2 Model stealing
# ---------------------------------------------------------------------------------------------

@check("2.2", points=3, hidden=True)
def test_invert_recovers_hidden_model(hw):
    """invert: recovers a hidden model of another size"""
    rng = hidden_rng()
    _check_inversion(hw, rng, D=int(rng.integers(30, 200)), C=int(rng.integers(2, 12)))


# ---------------------------------------------------------------------------------------------
# 2.3 Targeted adversarial examples
# ---------------------------------------------------------------------------------------------

def reachable_target(W, b, x, order) -> tuple[int, float]:
    """The first class of ``order`` that some x' in [0, 1]^D makes win, with the L2 norm of the
    exact minimal perturbation to it."""
    for target in order:
        solved = min_l2_targeted_linear(W, b, x, int(target))
        if solved is not None:
            return int(target), float(np.linalg.norm(solved[0]))
    raise RuntimeError("no class is reachable inside the box")


@check("2.3", points=2, hidden=True)
def test_attack_on_hidden_instances(hw, expected):
    """attack: success and size on hidden (x, target) pairs"""
    ratio = _check_attack(hw, hidden_rng(), instances=50, expected=expected)
    if ratio > 2.0:
        raise CheckFailed(f"Mean L2 is {ratio:.2f}× the minimal perturbation on hidden pairs "
                          "(at most 2×).")


# What the checks compare with (their ``expected`` fixture): computed live here, and recorded
# for the visible checks by ``make notebooks``, for the notebook's self-checks.
REFERENCES = {"loss_finite_differences": loss_finite_differences,
              "reachable_target": reachable_target}
