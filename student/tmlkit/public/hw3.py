"""Visible checks of hw3: written once, run by the grader (its spec, autograder/homeworks/hw3.py,
imports them) and by the notebook's self-check (tmlkit.selfcheck). Where a check compares with the
grader's reference, it asks its ``expected`` fixture (see tmlkit.recorded)."""
from __future__ import annotations

import math
import time
from functools import cache

import numpy as np
from scipy import integrate, optimize, stats

from tmlkit import datasets
from tmlkit.numeric import (accuracy, as_array, as_float, as_pair, assert_close,
                            check_documented_defaults, rel_error)
from tmlkit.syntax import forbidden_uses, unimplemented
from tmlkit.errors import StudentException, SubmissionError
from tmlkit.wire import Build
from tmlkit.spec import CheckFailed, check, note


def norm_rel_error(actual, expected) -> float:
    """||a - e|| / max(1e-12, ||a|| + ||e||): the whole-array error, for finite differences,
    whose per-entry error on tiny entries says nothing about the gradient."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(actual - expected) /
                 max(1e-12, np.linalg.norm(actual) + np.linalg.norm(expected)))


class TensorsAsArrays:
    """The student's functions, with torch tensors in their results turned into numpy arrays.

    The grader's sandbox already does this on the wire; the notebook's self-check calls the
    functions directly, where a tensor that requires grad would not convert by itself."""

    def __init__(self, hw):
        self._hw = hw

    def __getattr__(self, name: str):
        function = getattr(self._hw, name)

        def call(*args, **kwargs):
            return _plain(function(*args, **kwargs))
        return call


def _plain(value):
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if type(value) in (list, tuple):
        return type(value)(_plain(v) for v in value)
    if type(value) is dict:
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# 1 Beta-Binomial: Bayesian versus frequentist estimates
# ---------------------------------------------------------------------------------------------

def random_beta_problem(rng) -> tuple[float, float, int, int]:
    """α, β ≥ 1 (so the posterior mode is interior or at an edge, never bimodal), 1 ≤ N."""
    alpha, beta = float(rng.uniform(1.0, 20.0)), float(rng.uniform(1.0, 20.0))
    N = int(rng.integers(1, 200))
    return alpha, beta, int(rng.integers(0, N + 1)), N


def _log_prior_times_likelihood(alpha, beta, y, N):
    return lambda t: stats.binom.logpmf(y, N, t) + stats.beta.logpdf(t, alpha, beta)


def posterior_mode(alpha, beta, y, N) -> float:
    """The argmax of prior × likelihood, found numerically (to about 1e-8): Bayes' rule without
    the conjugate closed form that exercise 2b derives."""
    log_density = _log_prior_times_likelihood(alpha, beta, y, N)
    return float(optimize.minimize_scalar(lambda t: -log_density(t), bounds=(0.0, 1.0),
                                          method="bounded", options={"xatol": 1e-12}).x)


def posterior_moments(alpha, beta, y, N) -> tuple[float, float]:
    """Mean and variance of the posterior by quadrature of prior × likelihood (to about 1e-14)."""
    log_density = _log_prior_times_likelihood(alpha, beta, y, N)
    mode = posterior_mode(alpha, beta, y, N)
    peak = log_density(mode)

    def integral(g) -> float:
        inside = [mode] if 1e-9 < mode < 1 - 1e-9 else None
        return integrate.quad(lambda t: g(t) * math.exp(log_density(t) - peak), 0.0, 1.0,
                              points=inside, epsabs=0.0, epsrel=1e-13, limit=200)[0]
    mass = integral(lambda t: 1.0)
    mean = integral(lambda t: t) / mass
    return mean, integral(lambda t: (t - mean) ** 2) / mass


def _check_posterior(hw, alpha, beta, y, N, what_fails: set[str]):
    label = f"(alpha={alpha:.4g}, beta={beta:.4g}, y={y}, N={N})"
    mean, var = posterior_moments(alpha, beta, y, N) if what_fails & {"mean", "var"} else (0, 0)
    if "mean" in what_fails:
        got = as_float(hw.posterior_mean(alpha, beta, y, N), f"posterior_mean{label}")
        if rel_error(got, mean) > 1e-9:
            raise CheckFailed(f"posterior_mean{label} = {got:.10g}, but the posterior mean is "
                              f"{mean:.10g} (numerical integration of prior × likelihood). The "
                              "mean of Beta(a, b) is a / (a + b), with a, b the posterior's "
                              "parameters.")
    if "var" in what_fails:
        got = as_float(hw.posterior_var(alpha, beta, y, N), f"posterior_var{label}")
        if rel_error(got, var) > 1e-9:
            raise CheckFailed(f"posterior_var{label} = {got:.10g}, but the posterior variance is "
                              f"{var:.10g} (numerical integration of prior × likelihood). The "
                              "variance of Beta(a, b) is ab / ((a + b)^2 (a + b + 1)), with a, b "
                              "the posterior parameters: a + b + 1 = alpha + beta + N + 1, not N.")
    if "map" in what_fails:
        got = as_float(hw.posterior_map(alpha, beta, y, N), f"posterior_map{label}")
        numeric = posterior_mode(alpha, beta, y, N)
        if abs(got - numeric) > 1e-6:
            raise CheckFailed(f"posterior_map{label} = {got:.10g}, but prior × likelihood peaks "
                              f"at {numeric:.10g} (numerical argmax). The mode of Beta(a, b) for "
                              "a, b ≥ 1 is (a - 1) / (a + b - 2).")


def _is_posterior(alpha, beta, y, N, pair) -> bool:
    """Bayes' rule: Beta(pair)'s density over prior × likelihood is the same at every θ."""
    thetas = np.linspace(0.05, 0.95, 7)
    log_ratio = (stats.beta.logpdf(thetas, *pair)
                 - _log_prior_times_likelihood(alpha, beta, y, N)(thetas))
    return bool(np.ptp(log_ratio) < 1e-9)


@check("1", points=1)
def test_mle_and_posterior_params(hw):
    """mle and posterior_params: the fraction of heads, and a posterior proportional to prior ×
    likelihood"""
    for y, N in ((3, 10), (0, 7), (12, 12)):
        got = as_float(hw.mle(y, N), f"mle({y}, {N})")
        if abs(got - y / N) > 1e-12:
            raise CheckFailed(f"mle({y}, {N}) = {got:g}, expected {y / N:g}: the fraction of heads.")
    for alpha, beta, y, N in ((2.0, 3.0, 4, 10), (1.0, 1.0, 0, 5), (0.5, 7.5, 9, 9)):
        pair = as_pair(hw.posterior_params(alpha, beta, y, N),
                       f"posterior_params({alpha}, {beta}, {y}, {N})")
        pair = tuple(as_float(v, f"posterior_params({alpha}, {beta}, {y}, {N})") for v in pair)
        if not _is_posterior(alpha, beta, y, N, pair):
            raise CheckFailed(f"posterior_params({alpha}, {beta}, {y}, {N}) = "
                              f"({pair[0]:.6g}, {pair[1]:.6g}), but Beta{pair} is not "
                              "proportional to prior × likelihood (their ratio changes with θ). "
                              "Apply Bayes' rule and collect the powers of θ and of 1 − θ "
                              "(exercise 2b).")


@check("1", points=1)
def test_posterior_mean_and_var_match_scipy(hw):
    """posterior_mean and posterior_var: match scipy.stats.beta on random parameters"""
    rng = np.random.default_rng(301)
    for _ in range(6):
        _check_posterior(hw, *random_beta_problem(rng), what_fails={"mean", "var"})


@check("1", points=1)
def test_posterior_map_is_the_mode(hw):
    """posterior_map: the numerical argmax of the posterior density"""
    rng = np.random.default_rng(302)
    for _ in range(6):
        _check_posterior(hw, *random_beta_problem(rng), what_fails={"map"})


@check("1", points=1)
def test_edge_cases(hw):
    """edge cases: y = 0, y = N, and the flat prior Beta(1, 1) where MAP = MLE"""
    for alpha, beta, y, N in ((1.0, 1.0, 0, 8), (1.0, 1.0, 8, 8), (1.0, 1.0, 3, 8),
                              (2.0, 5.0, 0, 6), (4.0, 1.0, 6, 6)):
        _check_posterior(hw, alpha, beta, y, N, what_fails={"mean", "var", "map"})
    for y, N in ((0, 5), (5, 5), (2, 9)):
        got = as_float(hw.posterior_map(1.0, 1.0, y, N), f"posterior_map(1, 1, {y}, {N})")
        if abs(got - y / N) > 1e-12:
            raise CheckFailed(f"With the flat prior Beta(1, 1) the MAP must equal the MLE y/N = "
                              f"{y / N:g}, but posterior_map(1, 1, {y}, {N}) = {got:g}.")


def _expect_value_error(hw, name: str, args: tuple, why: str):
    try:
        getattr(hw, name)(*args)
    except StudentException as raised:
        if raised.type_name == "NotImplementedError":
            raise
        if raised.type_name != "ValueError":
            raise CheckFailed(f"{name}{args} ({why}) raised {raised.type_name}; raise ValueError "
                              "with a message instead.") from None
        if not raised.student_message.strip():
            raise CheckFailed(f"{name}{args} ({why}) raised ValueError without a message: say "
                              "what is wrong, e.g. ValueError('y must be between 0 and N').") from None
        return
    except ValueError as raised:        # the notebook's self-check calls the function directly
        if not str(raised).strip():
            raise CheckFailed(f"{name}{args} ({why}) raised ValueError without a message: say "
                              "what is wrong, e.g. ValueError('y must be between 0 and N').") from None
        return
    except SubmissionError:
        raise
    except Exception as raised:         # any other exception, raised in the notebook itself
        raise CheckFailed(f"{name}{args} ({why}) raised {type(raised).__name__}; raise "
                          "ValueError with a message instead.") from None
    raise CheckFailed(f"{name}{args} ({why}) returned a value; it should raise ValueError with a "
                      "message saying what is wrong.")


@check("1", points=1)
def test_invalid_input_raises_value_error(hw):
    """invalid input (y > N, y < 0, α ≤ 0, β ≤ 0) raises ValueError with a message"""
    _expect_value_error(hw, "mle", (5, 3), "y > N")
    _expect_value_error(hw, "mle", (1, 0), "N = 0")
    for name in ("posterior_params", "posterior_mean", "posterior_var", "posterior_map"):
        _expect_value_error(hw, name, (2.0, 2.0, 5, 3), "y > N")
        _expect_value_error(hw, name, (2.0, 2.0, -1, 3), "y < 0")
        _expect_value_error(hw, name, (0.0, 2.0, 1, 3), "alpha ≤ 0")
        _expect_value_error(hw, name, (2.0, -1.0, 1, 3), "beta ≤ 0")


def _check_map_loss(hw, alpha, beta, y, N):
    calls = {"n": 0}

    def loss(theta):
        calls["n"] += 1
        return as_float(hw.map_loss(float(theta), y, N, alpha, beta),
                        f"map_loss(theta, y={y}, N={N}, alpha={alpha:.4g}, beta={beta:.4g})")

    found = optimize.minimize_scalar(loss, bounds=(0.0, 1.0), method="bounded",
                                     options={"xatol": 1e-10})
    exact = (alpha + y - 1) / (alpha + beta + N - 2)
    if abs(found.x - exact) > 1e-6:
        raise CheckFailed(f"map_loss(theta, y={y}, N={N}, alpha={alpha:.4g}, beta={beta:.4g}) is "
                          f"smallest at theta = {found.x:.8f} (scipy's bounded minimiser), but "
                          f"theta_MAP = {exact:.8f}. Check a and b of g(θ) = −aθ + bθ²: set the "
                          "derivative of the whole L_MAP, with the squared errors summed over "
                          "all N tosses, to zero (exercise 5a).")


@check("1", points=1)
def test_map_loss_is_minimised_at_map(hw):
    """map_loss: its numerical minimiser is θ_MAP (and the MLE for Beta(1, 1))"""
    for problem in ((3.0, 5.0, 4, 10), (1.0, 1.0, 7, 10), (10.0, 2.0, 0, 5), (2.0, 2.0, 30, 40)):
        _check_map_loss(hw, *problem)


# ---------------------------------------------------------------------------------------------
# 2.1 Backpropagation in a one-hidden-layer sigmoid network
# ---------------------------------------------------------------------------------------------

def random_network(rng, M, H, scale=1.0):
    x = rng.normal(size=M)
    return (x, float(rng.integers(0, 2)), rng.normal(scale=scale / np.sqrt(M), size=(H, M)),
            rng.normal(scale=0.5, size=H), rng.normal(scale=scale / np.sqrt(H), size=(1, H)),
            rng.normal(scale=0.5, size=1))


def _as_dict(value, what: str, keys: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        kind = getattr(value, "type_name", type(value).__name__)
        raise CheckFailed(f"{what} should return a dict with keys {', '.join(keys)}, but returned "
                          f"a {kind}.")
    missing = [key for key in keys if key not in value]
    if missing:
        raise CheckFailed(f"{what} is missing the key(s) {', '.join(missing)}; expected exactly "
                          f"{', '.join(keys)}.")
    return value


SHAPE_KEYS = ("x", "W1", "b1", "a1", "z1", "W2", "b2", "a2", "y_hat")


@check("2.1", points=1)
def test_shapes(hw):
    """shapes: the dimensions of every parameter and intermediate"""
    hw = TensorsAsArrays(hw)
    for M, H in ((3, 5), (784, 16)):
        got = _as_dict(hw.shapes(M, H), f"shapes({M}, {H})", SHAPE_KEYS)
        problem = _shapes_problem({key: got[key] for key in SHAPE_KEYS}, M, H)
        if problem:
            raise CheckFailed(f"shapes({M}, {H}): {problem} (exercise 1a).")


def _shapes_problem(got: dict, M: int, H: int) -> str | None:
    """What keeps ``got`` from being the shapes of the forward pass, or None. Run on arrays of
    those shapes, the pass must go through, give the intermediates their shapes, a bias the
    shape of what it is added to, H hidden units from an input of M features, and one output
    from a one-row W2 (the conventions the notebook states)."""
    try:
        shapes = {key: tuple(int(n) for n in value) for key, value in got.items()}
        if any(not 0 < n <= max(M, H) for shape in shapes.values() for n in shape):
            return f"each size is 1, M = {M} or H = {H}, got {got!r:.200}"
        arrays = {key: np.zeros(shapes[key]) for key in ("x", "W1", "b1", "W2", "b2")}
    except (TypeError, ValueError):
        return f"each shape should be a tuple of sizes, got {got!r:.200}"
    if shapes["x"] != (M,):
        return f"x is one input of M = {M} features, a 1-D array, not {shapes['x']}"
    try:
        a1 = arrays["W1"] @ arrays["x"] + arrays["b1"]
        a2 = arrays["W2"] @ a1 + arrays["b2"]
    except ValueError as error:
        return f"the forward pass a1 = W1 x + b1, a2 = W2 z1 + b2 fails for these shapes ({error})"
    made = {"a1": a1.shape, "z1": a1.shape, "a2": a2.shape, "y_hat": a2.shape}
    wrong = [key for key in made if shapes[key] != made[key]]
    if wrong:
        return (f"{', '.join(wrong)} should have the shape that the forward pass gives them "
                "from your parameter shapes")
    if a1.shape != (H,) or shapes["b1"] != a1.shape:
        return f"the hidden layer should hold H = {H} units, each with its own bias"
    if arrays["W2"].ndim != 2 or a2.shape != (1,) or shapes["b2"] != a2.shape:
        return "the output layer is a matrix W2 with one row, giving one output with its own bias"
    return None


@check("2.1", points=1)
def test_forward_intermediates(hw, expected):
    """forward: a1, z1, a2 and y_hat match the definitions"""
    hw = TensorsAsArrays(hw)
    rng = np.random.default_rng(311)
    x, _, W1, b1, W2, b2 = random_network(rng, 4, 6)
    got = _as_dict(hw.forward(x, W1, b1, W2, b2), "forward(x, W1, b1, W2, b2)",
                   ("a1", "z1", "a2", "y_hat"))
    want = expected("forward", x, W1, b1, W2, b2)
    hints = {"a1": "a1 = W1 @ x + b1.", "z1": "z1 = sigmoid(a1).", "a2": "a2 = W2 @ z1 + b2.",
             "y_hat": "y_hat = sigmoid(a2), shape (1,)."}
    for key in ("a1", "z1", "a2", "y_hat"):
        assert_close(got[key], want[key], f"forward(...)[{key!r}]", tol=1e-12, hint=hints[key])


GRAD_KEYS = ("dW1", "db1", "dW2", "db2")


def _check_gradients(hw, rng, M, H, against: str, expected=None):
    x, y, W1, b1, W2, b2 = random_network(rng, M, H)
    got = _as_dict(hw.gradients(x, y, W1, b1, W2, b2), "gradients(x, y, W1, b1, W2, b2)", GRAD_KEYS)
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    if against == "finite differences":
        want = expected("bce_finite_differences", x, y, W1, b1, W2, b2)
        tol, error_of = 1e-7, norm_rel_error
    else:
        import torch
        tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        tx = torch.tensor(x)
        z1 = torch.sigmoid(tensors["W1"] @ tx + tensors["b1"])
        logit = tensors["W2"] @ z1 + tensors["b2"]
        torch.nn.functional.binary_cross_entropy_with_logits(
            logit, torch.tensor([y], dtype=torch.float64)).backward()
        want = {"d" + k: t.grad.numpy() for k, t in tensors.items()}
        tol, error_of = 1e-8, rel_error
    for key in GRAD_KEYS:
        value = as_array(got[key], f"gradients(...)[{key!r}]", shape=want[key].shape)
        error = error_of(value, want[key])
        if error > tol:
            if key in ("dW1", "db1") and all(error_of(as_array(got[k], k), want[k]) <= tol
                                             for k in ("dW2", "db2")):
                hint = ("The output layer is right, so look at the hidden layer: how the error "
                        "signal passes back through W2 and the hidden sigmoid (exercise 1b).")
            elif rel_error(value, -want[key]) < 1e-6:
                hint = "It has the wrong sign: check the sign of ∂L/∂a2 (exercise 1b)."
            else:
                hint = ("Go through your derivation of exercise 1b: ∂L/∂a2 first, then each "
                        "gradient by the chain rule, with the shapes of exercise 1a.")
            raise CheckFailed(f"{key} (M={M}, H={H}): relative error {error:.2g} against {against} "
                              f"(expected ≤ {tol:g}). {hint}")


@check("2.1", points=1)
def test_gradients_match_finite_differences(hw, expected):
    """gradients: match centred finite differences (≤ 1e-7)"""
    hw = TensorsAsArrays(hw)
    rng = np.random.default_rng(312)
    for M, H in ((3, 4), (5, 2)):
        _check_gradients(hw, rng, M, H, against="finite differences", expected=expected)


# ---------------------------------------------------------------------------------------------
# 2.2 Forward-mode automatic differentiation with dual numbers
# ---------------------------------------------------------------------------------------------

EXAMPLE = ("add", ("log", ("sin", ("x", 0))), ("mul", ("x", 0), ("exp", ("x", 1))))

EXAMPLE_POINT = [math.pi / 6, 1.0]


# The trace's steps: (name, operation, arguments) with v1 = x1 and v2 = x2 seeded for ∂/∂x1. A
# check compares each (v_i, dv_i) with torch autograd on the student's own arguments, so it
# holds no value of the trace (the hand trace is written exercise 3).
TRACE_STEPS = (("v3", "sin", ("v1",)), ("v4", "log", ("v3",)), ("v5", "exp", ("v2",)),
               ("v6", "mul", ("v1", "v5")), ("v7", "add", ("v4", "v6")))
TRACE_ORDER = ("The order is v1 = x1, v2 = x2, v3 = sin v1, v4 = ln v3, v5 = exp v2, v6 = v1 v5, "
               "v7 = v4 + v6, with tangents for ∂/∂x1.")


def torch_step(operation: str, arguments: list[tuple[float, float]]) -> tuple[float, float]:
    """Value and tangent of one operation on (value, tangent) arguments, by torch autograd: the
    tangent is the directional derivative along the arguments' tangents."""
    import torch
    values = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v, _ in arguments]
    out = {"sin": lambda a: torch.sin(a), "log": lambda a: torch.log(a),
           "exp": lambda a: torch.exp(a), "mul": lambda a, b: a * b,
           "add": lambda a, b: a + b}[operation](*values)
    grads = torch.autograd.grad(out, values)
    return float(out.detach()), float(sum(g * t for g, (_, t) in zip(grads, arguments)))


def torch_expression(expr, x, wrt) -> tuple[float, float]:
    """Value and derivative of an expression tree, by torch autograd in float64."""
    import torch
    xs = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in x]

    def ev(node):
        op = node[0]
        if op == "x":
            return xs[node[1]]
        if op == "const":
            return torch.tensor(float(node[1]), dtype=torch.float64)
        if op in ("add", "mul"):
            left, right = ev(node[1]), ev(node[2])
            return left + right if op == "add" else left * right
        return {"sin": torch.sin, "log": torch.log, "exp": torch.exp}[op](ev(node[1]))

    out = ev(expr)
    if not out.requires_grad:           # a constant expression
        return float(out), 0.0
    (grad,) = torch.autograd.grad(out, xs[wrt], allow_unused=True)
    return float(out.detach()), 0.0 if grad is None else float(grad)


def given(hw, helper: str, students: str, *args):
    """Call a given (non-graded) helper of the notebook, which calls the student's functions;
    a NotImplementedError inside names the student's functions, not the helper."""
    try:
        return getattr(hw, helper)(*args)
    except StudentException as raised:
        if raised.type_name != "NotImplementedError":
            raise
        raise CheckFailed(f"{students} is not implemented yet (the given helper `{helper}`, "
                          "which calls it, got NotImplementedError).") from None


DUAL = "Dual (with dual_sin, dual_log, dual_exp) or forward_mode_derivative"


def _check_expression(hw, expr, x, wrt, what: str, tol: float = 1e-10, hint: str = ""):
    value, derivative = as_pair(given(hw, "evaluate_expression", DUAL, expr, x, wrt),
                                "evaluate_expression(expr, x, wrt)")
    value = as_float(value, f"the value of {what}")
    derivative = as_float(derivative, f"the derivative of {what}")
    want_value, want_derivative = torch_expression(expr, x, wrt)
    if rel_error(value, want_value) > tol:
        raise CheckFailed(f"{what}: value {value:.12g}, expected {want_value:.12g}. {hint}")
    if rel_error(derivative, want_derivative) > tol:
        raise CheckFailed(f"{what}: derivative w.r.t. x{wrt + 1} is {derivative:.12g}, expected "
                          f"{want_derivative:.12g}. {hint or TANGENT_RULES}")


TANGENT_RULES = ("Check the tangent rules: (uv)` = u`v + uv`, sin(u)` = cos(u) u`, "
                 "log(u)` = u`/u, exp(u)` = exp(u) u`.")


@check("2.2", points=1)
def test_dual_numbers_on_the_example(hw):
    """Dual: f = ln(sin x1) + x1 exp(x2) and both partial derivatives at (π/6, 1)"""
    hw = TensorsAsArrays(hw)
    # The values here are written exercise 3's answers: the messages do not print them.
    value, d1 = as_pair(given(hw, "evaluate_expression", DUAL, EXAMPLE, EXAMPLE_POINT, 0),
                        "evaluate_expression(EXAMPLE, [pi/6, 1], 0)")
    want_value, want_d1 = torch_expression(EXAMPLE, EXAMPLE_POINT, 0)
    if rel_error(as_float(value, "f(π/6, 1)"), want_value) > 1e-12:
        raise CheckFailed("f(π/6, 1) differs from torch's value of ln(sin x1) + x1 exp(x2) (by more "
                          "than 1e-12 relative). Check the values your Dual operations compute.")
    if rel_error(as_float(d1, "∂f/∂x1"), want_d1) > 1e-12:
        raise CheckFailed("∂f/∂x1 at (π/6, 1) differs from torch autograd's (by more than 1e-12 "
                          "relative). Seed the tangent of x1 with 1 and of x2 with 0, and "
                          f"{TANGENT_RULES[0].lower()}{TANGENT_RULES[1:]}")
    want_value, want_d2 = torch_expression(EXAMPLE, EXAMPLE_POINT, 1)
    value, d2 = as_pair(given(hw, "evaluate_expression", DUAL, EXAMPLE, EXAMPLE_POINT, 1),
                        "evaluate_expression(EXAMPLE, [pi/6, 1], 1)")
    if rel_error(as_float(d2, "∂f/∂x2"), want_d2) > 1e-12:
        raise CheckFailed("∂f/∂x2 at (π/6, 1) differs from torch autograd's (by more than 1e-12 "
                          "relative). Seed the tangent of x2 with 1 and of x1 with 0.")


@check("2.2", points=1)
def test_dual_numbers_mix_with_plain_numbers(hw):
    """Dual: sums and products with plain numbers on either side"""
    hw = TensorsAsArrays(hw)
    cases = [(("add", ("const", 2.0), ("x", 0)), "2 + x (needs __radd__)"),
             (("add", ("x", 0), ("const", 2.0)), "x + 2"),
             (("mul", ("const", 3.0), ("x", 0)), "3 * x (needs __rmul__)"),
             (("mul", ("x", 0), ("const", -0.5)), "x * (-0.5)"),
             (("mul", ("x", 0), ("x", 0)), "x * x"),
             (("exp", ("mul", ("const", 2.0), ("sin", ("x", 0)))), "exp(2 sin x)")]
    for expr, what in cases:
        _check_expression(hw, expr, [0.7], 0, what, tol=1e-12,
                          hint="A plain number c acts as the dual number (c, 0).")


@check("2.2", points=1)
def test_trace_example(hw):
    """trace_example: the intermediates v1…v7 and their tangents"""
    hw = TensorsAsArrays(hw)
    got = hw.trace_example()
    if not isinstance(got, (list, tuple)) or len(got) != 7:
        raise CheckFailed("trace_example() should return a list of 7 pairs (v_i, dv_i), "
                          f"v1 = x1 up to v7 = f; got {got!r:.200}.")
    trace = {f"v{i}": (as_float(v, f"v{i}"), as_float(dv, f"dv{i}"))
             for i, (v, dv) in enumerate((as_pair(pair, f"trace_example()[{i}]")
                                          for i, pair in enumerate(got)), start=1)}
    seeds = {"v1": (EXAMPLE_POINT[0], 1.0), "v2": (EXAMPLE_POINT[1], 0.0)}
    for name, want in seeds.items():
        if rel_error(trace[name], want) > 1e-12:
            raise CheckFailed(f"({name}, d{name}) is not the input with its seed tangent. "
                              f"{TRACE_ORDER}")
    for name, operation, arguments in TRACE_STEPS:      # each step from the student's own inputs
        want = torch_step(operation, [trace[a] for a in arguments])
        if rel_error(trace[name][0], want[0]) > 1e-12:
            raise CheckFailed(f"{name} is not {operation} of your {', '.join(arguments)} (torch "
                              f"computes it from them). {TRACE_ORDER}")
        if rel_error(trace[name][1], want[1]) > 1e-12:
            raise CheckFailed(f"d{name} does not follow from your {', '.join(arguments)} and their "
                              f"tangents by the chain rule (torch autograd). {TANGENT_RULES}")


# ---------------------------------------------------------------------------------------------
# 3 An MLP for MNIST without torch.nn
# ---------------------------------------------------------------------------------------------

PART3_FUNCTIONS = ("init_params", "relu", "softmax", "net", "cross_entropy", "sgd", "train",
                   "evaluate_accuracy", "fit_mnist_mlp", "fit_one_vs_six")

FORBIDDEN = ("torch.nn", "torch.optim", "torch.softmax", "torch.log_softmax", "torch.relu",
             "torch.special.softmax", "torch.special.log_softmax")


@check("3", points=2)
def test_no_torch_nn(submission_cells):
    """your code uses no torch.nn, torch.optim or built-in softmax/relu"""
    missing = unimplemented(submission_cells, PART3_FUNCTIONS)
    if missing:
        raise CheckFailed(f"Part 3 is not implemented yet ({', '.join(missing)} still raise "
                          "NotImplementedError): this check reads the code you write there.")
    uses = forbidden_uses(submission_cells, FORBIDDEN)
    if uses:
        listed = "; ".join(str(use) for use in uses[:6]) + (" …" if len(uses) > 6 else "")
        raise CheckFailed(f"Part 3 is about building the network from tensor operations, so "
                          f"torch.nn (including torch.nn.functional), torch.optim and torch's "
                          f"built-in softmax/relu are not allowed. Found: {listed}. Write it with "
                          "tensor arithmetic, torch.exp, torch.log, torch.max/clamp and @.")


@check("3", points=1)
def test_relu_softmax_match_torch(hw):
    """relu and softmax: match torch.relu and torch.softmax"""
    hw = TensorsAsArrays(hw)
    import torch
    rng = np.random.default_rng(321)
    X = rng.normal(scale=3, size=(7, 5))
    assert_close(hw.relu(X), torch.relu(torch.tensor(X)).numpy(), "relu(X)", tol=1e-6,
                 hint="relu is max(x, 0) elementwise, same shape as X.")
    assert_close(hw.softmax(X), torch.softmax(torch.tensor(X), dim=1).numpy(), "softmax(X)",
                 tol=1e-6, hint="Normalise each row (dim=1) so that it sums to 1.")


@check("3", points=1)
def test_softmax_is_stable(hw, expected):
    """softmax: finite and correct for logits of ±1e3"""
    hw = TensorsAsArrays(hw)
    Z = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -999.0, -1001.0]])
    try:
        assert_close(hw.softmax(Z), expected("softmax", Z), "softmax of logits ±1e3", tol=1e-6)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure} Subtract each row's maximum before torch.exp: softmax is "
                          "unchanged by a constant shift, and exp no longer overflows.") from None


@check("3", points=1)
def test_cross_entropy_matches_torch(hw, expected):
    """cross_entropy: per-example losses match torch's negative log-likelihood"""
    hw = TensorsAsArrays(hw)
    import torch
    rng = np.random.default_rng(322)
    P = expected("softmax", rng.normal(size=(8, 4)))
    y = rng.integers(0, 4, 8)
    want = torch.nn.functional.nll_loss(torch.log(torch.tensor(P)), torch.tensor(y),
                                        reduction="none").numpy()
    got = as_array(hw.cross_entropy(P, y), "cross_entropy(y_hat, y)")
    if got.shape != want.shape and got.size == 1 and rel_error(float(got.reshape(())),
                                                               want.mean()) < 1e-6:
        raise CheckFailed("cross_entropy returned the mean; return one loss per example, shape "
                          "(N,), and take .mean() where you train.")
    assert_close(got, want, "cross_entropy(y_hat, y)", tol=1e-6,
                 hint="The loss of example i is -log y_hat[i, y[i]]: index with "
                      "y_hat[torch.arange(len(y)), y].")


@check("3", points=1)
def test_init_params(hw):
    """init_params: shapes, zero biases, small random weights, reproducible by seed"""
    hw = TensorsAsArrays(hw)
    params = hw.init_params(50, 40, 3, seed=0)
    if not isinstance(params, (list, tuple)) or len(params) != 4:
        raise CheckFailed("init_params should return the list [W1, b1, W2, b2].")
    shapes = ((50, 40), (40,), (40, 3), (3,))
    W1, b1, W2, b2 = (as_array(p, name, shape=s) for p, name, s in
                      zip(params, ("W1", "b1", "W2", "b2"), shapes))
    if np.any(b1 != 0) or np.any(b2 != 0):
        raise CheckFailed("The biases b1 and b2 should start at zero.")
    for W, fan_in, name in ((W1, 50, "W1"), (W2, 40, "W2")):
        want = math.sqrt(2.0 / fan_in)
        if not 0.7 * want <= W.std() <= 1.3 * want:
            raise CheckFailed(f"{name} has standard deviation {W.std():.3g}; draw it from "
                              f"N(0, 2 / n_in), std √(2/{fan_in}) = {want:.3g}.")
    again = as_array(hw.init_params(50, 40, 3, seed=0)[0], "W1")
    other = as_array(hw.init_params(50, 40, 3, seed=1)[0], "W1")
    if not np.array_equal(again, W1) or np.array_equal(other, W1):
        raise CheckFailed("init_params must be reproducible: the same seed gives the same "
                          "weights and another seed other weights (use a torch.Generator "
                          "seeded with `seed`).")
    if not np.array_equal(as_array(hw.init_params(50, 40, 3)[0], "W1"), W1):
        raise CheckFailed("init_params(50, 40, 3), with the seed left out, returns other weights "
                          "than init_params(50, 40, 3, seed=0): the seed defaults to 0.")


def _mlp_params(rng, D, H, C):
    return [rng.normal(scale=0.5, size=(D, H)), rng.normal(size=H), rng.normal(scale=0.5, size=(H, C)),
            rng.normal(size=C)]


@check("3", points=1)
def test_net_forward(hw, expected):
    """net: softmax(relu(X W1 + b1) W2 + b2)"""
    hw = TensorsAsArrays(hw)
    rng = np.random.default_rng(323)
    params = _mlp_params(rng, 6, 5, 4)
    X = rng.normal(size=(9, 6))
    want = expected("net", X, params)
    assert_close(hw.net(X, params), want, "net(X, params)", tol=1e-6,
                 hint="net returns probabilities: softmax(relu(X @ W1 + b1) @ W2 + b2), with X "
                      "reshaped to (-1, W1.shape[0]).")


@check("3", points=1)
def test_sgd_step(hw):
    """sgd: params ← params − lr · grad, then the gradients are zeroed"""
    hw = TensorsAsArrays(hw)
    rng = np.random.default_rng(324)
    params = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    grads = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    after, grads_after = as_pair(given(hw, "sgd_step", "sgd", params, grads, 0.1),
                                 "sgd_step(params, grads, lr)")
    for p, g, q, h, name in zip(params, grads, after, grads_after, ("first", "second")):
        assert_close(q, p - 0.1 * g, f"the {name} parameter after sgd", tol=1e-12,
                     hint="Update in place under torch.no_grad(): param -= lr * param.grad (the "
                          "loss is already a mean, so do not divide by the batch size).")
        if np.any(as_array(h, "gradient after sgd") != 0):
            raise CheckFailed("After the step the gradients must be zero (param.grad.zero_()), "
                              "or the next backward() adds to them.")


@check("3", points=1)
def test_evaluate_accuracy(hw):
    """evaluate_accuracy: the fraction of correct argmax predictions"""
    hw = TensorsAsArrays(hw)
    rng = np.random.default_rng(325)
    params = _mlp_params(rng, 6, 5, 4)
    X, y = rng.normal(size=(70, 6)), rng.integers(0, 4, 70)
    W1, b1, W2, b2 = params
    want = float(np.mean(np.argmax(np.maximum(X @ W1 + b1, 0) @ W2 + b2, axis=1) == y))
    got = as_float(given(hw, "accuracy_of", "evaluate_accuracy (or net)", X, y, params),
                   "accuracy_of(X, y, params)")
    if abs(got - want) > 1e-6:
        raise CheckFailed(f"evaluate_accuracy gave {got:.4f}, expected {want:.4f}: the number "
                          "of correct predictions summed over all batches, divided by the number "
                          "of examples (the last batch may be smaller).")


MNIST_TRAIN, MNIST_TEST, MNIST_EPOCHS = 60_000, 10_000, 8   # all of MNIST: ~8 s on one core

MNIST_BAR, DIGITS_BAR = 0.97, 0.90

OOD_BAR, DIGITS_OOD_BAR = 0.99, 0.97   # scikit-learn digits: ~110 test 1s and 6s

# The images are built in the student's process (a trusted factory), so the grader holds only
# the labels: 60,000 float32 MNIST images are 188 MB, and a second copy in the grader did not
# fit Gradescope's 768 MB.
STUDENT_DIGITS = "tmlkit.datasets:digits_for_student"

ONE_OR_SIX, OUT_OF_DISTRIBUTION = (1, 6), (3,)


@cache
def grading_labels() -> datasets.Flat:
    return datasets.digit_labels(MNIST_TRAIN, MNIST_TEST)


def student_digits(**classes) -> Build:
    return Build(STUDENT_DIGITS, (MNIST_TRAIN, MNIST_TEST, "float32", *classes.values()))


@check("3", points=3, timeout=180)
def test_mnist_accuracy(hw):
    """fit_mnist_mlp: test accuracy of your MLP (grader's scaled CPU run)"""
    hw = TensorsAsArrays(hw)
    labels = grading_labels()
    bar = MNIST_BAR if labels.name == "MNIST" else DIGITS_BAR
    images = student_digits()
    began = time.monotonic()
    predictions = hw.fit_mnist_mlp(images.attribute("x_train"), images.attribute("y_train"),
                                   images.attribute("x_test"), epochs=MNIST_EPOCHS, seed=0)
    seconds = time.monotonic() - began
    measured = accuracy(as_array(predictions, "fit_mnist_mlp's predictions",
                                 shape=labels.y_test.shape), labels.y_test)
    where = (f"all {MNIST_TRAIN:,} MNIST training images" if labels.name == "MNIST" else labels.name)
    note(f"Trained on {where} for {MNIST_EPOCHS} epochs in {seconds:.1f} s: test accuracy "
         f"{measured:.2%} on {len(labels.y_test):,} test images (bar {bar:.0%}).")
    if measured < bar:
        raise CheckFailed("Test accuracy is below the bar. Check that train() steps on every "
                          "mini-batch (loss.mean().backward(), then the updater) and that the "
                          "learning rate is not too small (0.1 to 0.5 works).")


# The documented defaults, observed from outside: training is deterministic given the seed
# (init_params and data_iter are seeded with it), so f(X, y, X_test) must return what
# f(X, y, X_test, epochs=<documented>, seed=0) returns, and another epochs or seed must change
# the result. Random images and labels make a model whose predictions on random test images
# move with every step; a few hundred of them train in well under a second.
DEFAULTS_TRAIN, DEFAULTS_TEST = 192, 400


def _defaults_images(rng, labels):
    X = rng.uniform(size=(DEFAULTS_TRAIN, 784)).astype(np.float32)
    return X, rng.choice(labels, DEFAULTS_TRAIN), rng.uniform(size=(DEFAULTS_TEST, 784)).astype(np.float32)


SEED_HINT = "Seed init_params and the shuffling of data_iter with `seed`."


@check("3", points=1)
def test_fit_mnist_mlp_documented_defaults(hw):
    """fit_mnist_mlp: documented defaults apply; each argument takes effect"""
    hw = TensorsAsArrays(hw)
    X, y, X_test = _defaults_images(np.random.default_rng(326), np.arange(10))
    check_documented_defaults(
        lambda **keywords: (as_array(hw.fit_mnist_mlp(X, y, X_test, **keywords),
                                     "fit_mnist_mlp's predictions", shape=(DEFAULTS_TEST,)),),
        "fit_mnist_mlp(X_train, y_train, X_test", dict(epochs=8, seed=0), dict(epochs=7, seed=1),
        tol=0, hint=SEED_HINT)


@check("3", points=1)
def test_fit_one_vs_six_documented_defaults(hw):
    """fit_one_vs_six: documented defaults apply; each argument takes effect"""
    hw = TensorsAsArrays(hw)
    X, y, X_test = _defaults_images(np.random.default_rng(327), np.array([1, 6]))

    def outputs(answer):
        predictions, confidence = as_pair(answer, "fit_one_vs_six(...)")
        return (as_array(predictions, "fit_one_vs_six's predictions", shape=(DEFAULTS_TEST,)),
                as_array(confidence, "fit_one_vs_six's max-probabilities", shape=(DEFAULTS_TEST,)))
    check_documented_defaults(
        lambda **keywords: outputs(hw.fit_one_vs_six(X, y, X_test, **keywords)),
        "fit_one_vs_six(X_train, y_train, X_test", dict(epochs=3, seed=0), dict(epochs=2, seed=1),
        tol=1e-6, hint=SEED_HINT)


def _auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(max-probability of a random in-distribution image > that of a random 3)."""
    return float(stats.mannwhitneyu(inside, outside).statistic / (len(inside) * len(outside)))


@check("3", points=2, timeout=120)
def test_one_vs_six(hw):
    """fit_one_vs_six: ≥ 99% on 1s and 6s; out-of-distribution behaviour on 3s reported"""
    hw = TensorsAsArrays(hw)
    labels = datasets.select_classes(grading_labels(), ONE_OR_SIX,
                                     (ONE_OR_SIX, OUT_OF_DISTRIBUTION))
    y_in = labels.y_test[np.isin(labels.y_test, ONE_OR_SIX)]
    n_in, n = len(y_in), len(labels.y_test)
    bar = OOD_BAR if labels.name == "MNIST" else DIGITS_OOD_BAR
    images = student_digits(train_classes=ONE_OR_SIX,
                            test_groups=(ONE_OR_SIX, OUT_OF_DISTRIBUTION))
    answer = as_pair(hw.fit_one_vs_six(images.attribute("x_train"), images.attribute("y_train"),
                                       images.attribute("x_test"), epochs=3, seed=0),
                     "fit_one_vs_six(...)")
    predictions = as_array(answer[0], "fit_one_vs_six's predictions", shape=(n,))
    confidence = as_array(answer[1], "fit_one_vs_six's max-probabilities", shape=(n,))
    if not set(np.unique(predictions)) <= {1.0, 6.0}:
        raise CheckFailed("Predictions should be digit labels, 1 or 6, not class indices.")
    if confidence.min() < 0.5 - 1e-6 or confidence.max() > 1 + 1e-6:
        raise CheckFailed("The max-probability of a two-class softmax lies in [0.5, 1]; yours "
                          f"ranges over [{confidence.min():.3g}, {confidence.max():.3g}].")
    in_accuracy = accuracy(predictions[:n_in], y_in)
    on_threes = predictions[n_in:]
    note(f"In-distribution accuracy on {n_in} test 1s and 6s: {in_accuracy:.2%} "
         f"(bar {bar:.0%}).")
    note(f"Out of distribution, {n - n_in} test 3s: accuracy 0% by construction; called '1' "
         f"{np.mean(on_threes == 1):.0%}, '6' {np.mean(on_threes == 6):.0%}. Mean max-probability "
         f"{confidence[:n_in].mean():.3f} on 1s/6s vs {confidence[n_in:].mean():.3f} on 3s; "
         f"AUROC of max-probability for telling them apart "
         f"{_auroc(confidence[:n_in], confidence[n_in:]):.3f}.")
    if in_accuracy < bar:
        raise CheckFailed("In-distribution accuracy is below the bar: map the labels 1 and 6 to "
                          "classes 0 and 1 for training and back to 1 and 6 for the predictions.")
