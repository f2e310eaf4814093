"""Homework 3 spec: Bayesian inference (Beta-Binomial), backpropagation and forward-mode autodiff
by hand, and an MLP for MNIST in PyTorch without torch.nn.

The visible checks, with fixed seeds, are written in the student package
(``tmlkit/public/hw3.py``), where the notebook's self-check cells run them too; this spec imports
them. Hidden checks draw fresh instances on every grading run (seed from $TML_GRADER_SEED when
reproducibility is wanted), so no answer can be tailored to them.

Functions that build Python objects the grader cannot send (``Dual`` numbers, tensors with
``.grad``) are exercised through small *given* helpers in the notebook (``evaluate_expression``,
``sgd_step``, ``accuracy_of``) that call the student's code inside the student's process and
return plain numbers.
"""
from __future__ import annotations

import math

import numpy as np

from tmlkit.numeric import assert_close, numerical_gradient
from tmlkit.spec import check, hidden_rng

# The visible checks are written once, in the student package, where the notebook's
# self-check runs them too; imported here, they are this spec's checks.
from tmlkit.public.hw3 import (  # noqa: F401
    TensorsAsArrays, _check_expression, _check_gradients, _check_map_loss, _check_posterior,
    random_beta_problem, torch_expression, test_mle_and_posterior_params,
    test_posterior_mean_and_var_match_scipy, test_posterior_map_is_the_mode, test_edge_cases,
    test_invalid_input_raises_value_error, test_map_loss_is_minimised_at_map, test_shapes,
    test_forward_intermediates, test_gradients_match_finite_differences,
    test_dual_numbers_on_the_example, test_dual_numbers_mix_with_plain_numbers, test_trace_example,
    test_no_torch_nn, test_relu_softmax_match_torch, test_softmax_is_stable,
    test_cross_entropy_matches_torch, test_init_params, test_net_forward, test_sgd_step,
    test_evaluate_accuracy, test_mnist_accuracy, test_fit_mnist_mlp_documented_defaults,
    test_fit_one_vs_six_documented_defaults, test_one_vs_six)


# ---------------------------------------------------------------------------------------------
# 1 Beta-Binomial: Bayesian versus frequentist estimates
# ---------------------------------------------------------------------------------------------

@check("1", points=1, hidden=True)
def test_posterior_on_hidden_parameters(hw):
    """posterior_mean, posterior_var, posterior_map: hidden random parameters"""
    rng = hidden_rng()
    for _ in range(8):
        _check_posterior(hw, *random_beta_problem(rng), what_fails={"mean", "var", "map"})


@check("1", points=1, hidden=True)
def test_map_loss_on_hidden_parameters(hw):
    """map_loss: minimised at θ_MAP for hidden parameters"""
    rng = hidden_rng()
    for _ in range(3):
        _check_map_loss(hw, *random_beta_problem(rng))


# ---------------------------------------------------------------------------------------------
# 2.1 Backpropagation in a one-hidden-layer sigmoid network
# ---------------------------------------------------------------------------------------------

def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference_forward(x, W1, b1, W2, b2) -> dict:
    a1 = W1 @ x + b1
    z1 = _sigmoid(a1)
    a2 = W2 @ z1 + b2
    return {"a1": a1, "z1": z1, "a2": a2, "y_hat": _sigmoid(a2)}


def reference_bce(x, y, W1, b1, W2, b2) -> float:
    y_hat = float(reference_forward(x, W1, b1, W2, b2)["y_hat"][0])
    return -(y * math.log(y_hat) + (1 - y) * math.log(1 - y_hat))


def bce_finite_differences(x, y, W1, b1, W2, b2) -> dict:
    """The loss's gradient with respect to each parameter, by centred finite differences."""
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    want = {}
    for name, value in params.items():
        def f(v, name=name):
            return reference_bce(x, y, **{**params, name: v})
        want["d" + name] = numerical_gradient(f, value)
    return want


@check("2.1", points=1, hidden=True)
def test_gradients_match_autograd_on_random_shapes(hw):
    """gradients: match torch autograd on hidden random shapes"""
    hw = TensorsAsArrays(hw)
    rng = hidden_rng()
    for _ in range(3):
        _check_gradients(hw, rng, int(rng.integers(1, 30)), int(rng.integers(1, 20)),
                         against="torch autograd")


# ---------------------------------------------------------------------------------------------
# 2.2 Forward-mode automatic differentiation with dual numbers
# ---------------------------------------------------------------------------------------------

def random_expression(rng, n_inputs: int, depth: int):
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.75:
            return ("x", int(rng.integers(n_inputs)))
        return ("const", float(np.round(rng.uniform(-2, 2), 3)))
    op = str(rng.choice(["add", "mul", "sin", "log", "exp"], p=[0.3, 0.3, 0.15, 0.1, 0.15]))
    if op in ("add", "mul"):
        return (op, random_expression(rng, n_inputs, depth - 1),
                random_expression(rng, n_inputs, depth - 1))
    if op == "log":     # keep the argument positive: log(exp(.)) or log(c + x*x)
        inner = random_expression(rng, n_inputs, depth - 1)
        if rng.random() < 0.5:
            return ("log", ("exp", inner))
        return ("log", ("add", ("const", 1.5), ("mul", inner, inner)))
    return (op, random_expression(rng, n_inputs, depth - 1))


def _depends(expr, wrt: int) -> bool:
    if expr[0] in ("x", "const"):
        return expr == ("x", wrt)
    return any(_depends(argument, wrt) for argument in expr[1:])


def tangent_rules(expr, wrt: int) -> set[str]:
    """The operations whose tangent rule the derivative w.r.t. x_wrt exercises whole: those whose
    every argument depends on x_wrt (for a product, both factors: else code that drops one term
    of the product rule is still right)."""
    if expr[0] in ("x", "const"):
        return set()
    found = set().union(*(tangent_rules(argument, wrt) for argument in expr[1:]))
    return found | {expr[0]} if all(_depends(a, wrt) for a in expr[1:]) else found


HIDDEN_RULES = {"mul", "sin", "log", "exp"}


@check("2.2", points=1, hidden=True)
def test_dual_numbers_on_hidden_expressions(hw):
    """Dual: value and derivative of hidden random expressions"""
    hw = TensorsAsArrays(hw)
    rng = hidden_rng()
    checked, exercised = 0, set()
    # At least 8 expressions, and more until each tangent rule has been exercised (a bound on
    # the draws, though the rules come within a few dozen).
    for _ in range(500):
        if checked >= 8 and HIDDEN_RULES <= exercised:
            break
        n_inputs = int(rng.integers(1, 4))
        expr = random_expression(rng, n_inputs, int(rng.integers(2, 5)))
        x = [float(v) for v in rng.uniform(-1.5, 1.5, n_inputs)]
        wrt = int(rng.integers(n_inputs))
        value, derivative = torch_expression(expr, x, wrt)
        if not (math.isfinite(value) and math.isfinite(derivative)) or abs(value) > 1e6:
            continue
        _check_expression(hw, expr, x, wrt, f"hidden expression {expr}")
        checked += 1
        exercised |= tangent_rules(expr, wrt)


# ---------------------------------------------------------------------------------------------
# 3 An MLP for MNIST without torch.nn
# ---------------------------------------------------------------------------------------------

def _reference_softmax(Z):
    Z = np.asarray(Z, dtype=np.float64)
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@check("3", points=1, hidden=True)
def test_softmax_and_cross_entropy_on_hidden_shapes(hw):
    """softmax and cross_entropy: hidden random shapes"""
    hw = TensorsAsArrays(hw)
    rng = hidden_rng()
    for _ in range(3):
        N, C = int(rng.integers(1, 50)), int(rng.integers(2, 15))
        Z = rng.normal(scale=rng.uniform(0.5, 5), size=(N, C))
        P = _reference_softmax(Z)
        assert_close(hw.softmax(Z), P, f"softmax of a ({N}, {C}) matrix", tol=1e-6)
        y = rng.integers(0, C, N)
        want = -np.log(P[np.arange(N), y])
        assert_close(hw.cross_entropy(P, y), want, f"cross_entropy on ({N}, {C})", tol=1e-6)


def reference_net(X, params):
    W1, b1, W2, b2 = params
    return _reference_softmax(np.maximum(X @ W1 + b1, 0) @ W2 + b2)


# What the visible checks compare with (their ``expected`` fixture): computed live here, and
# recorded by ``make notebooks`` for the notebook's self-checks.
REFERENCES = {"forward": reference_forward, "bce_finite_differences": bce_finite_differences,
              "softmax": _reference_softmax, "net": reference_net}
