"""Visible checks of hw1: written once, run by the grader (its spec, autograder/homeworks/hw1.py,
imports them) and by the notebook's self-check (tmlkit.selfcheck). Where a check compares with the
grader's reference, it asks its ``expected`` fixture (see tmlkit.recorded)."""
from __future__ import annotations

import time
from functools import cache

import numpy as np
from scipy.special import softmax as reference_softmax

from tmlkit import datasets
from tmlkit.attribution import completeness_error
from tmlkit.numeric import (accuracy, as_array, as_float, as_pair, assert_close,
                            check_documented_defaults, lp_sizes, rel_error)
from tmlkit.spec import CheckFailed, PartialCredit, check, leaderboard, note

ACCURACY_BAR = 0.80


def random_problem(rng, N=7, D=5, C=4):
    X = rng.normal(size=(N, D))
    y = rng.integers(0, C, N)
    Y = np.eye(C)[y]
    return X, y, Y, rng.normal(size=(D, C)), rng.normal(size=C)


# ---------------------------------------------------------------------------------------------
# 1.1 Softmax regression in numpy
# ---------------------------------------------------------------------------------------------

@check("1.1", points=1)
def test_softmax_matches_scipy(hw):
    """softmax: rows match scipy.special.softmax"""
    Z = np.random.default_rng(0).normal(scale=3, size=(6, 5))
    assert_close(hw.softmax(Z), reference_softmax(Z, axis=1), "softmax(Z)", tol=1e-9,
                 hint="Normalise each row (axis=1) so that it sums to 1.")


@check("1.1", points=1)
def test_softmax_is_stable_for_large_logits(hw):
    """softmax: finite and correct for logits of ±1e3"""
    Z = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -999.0, -1001.0]])
    try:
        assert_close(hw.softmax(Z), reference_softmax(Z, axis=1), "softmax of logits ±1e3", tol=1e-9)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure} Subtract each row's maximum before exp(): softmax is "
                          "unchanged by a constant shift and exp() no longer overflows.") from None


@check("1.1", points=1)
def test_scores_forward_onehot(hw):
    """scores, forward and onehot: values and shapes"""
    X, y, Y, W, b = random_problem(np.random.default_rng(1))
    assert_close(hw.scores(X, W, b), X @ W + b, "scores(X, W, b)", tol=1e-12,
                 hint="scores are X @ W + b, shape (N, C).")
    assert_close(hw.forward(X, W, b), reference_softmax(X @ W + b, axis=1), "forward(X, W, b)",
                 tol=1e-9, hint="forward is softmax(scores(X, W, b)).")
    assert_close(hw.onehot(y, 4), Y, "onehot(y, 4)", tol=0,
                 hint="Row i is all zeros except a 1 in column y[i].")


@check("1.1", points=1)
def test_loss_matches_torch_cross_entropy(hw):
    """loss: mean cross-entropy, checked against torch"""
    import torch
    X, y, Y, W, b = random_problem(np.random.default_rng(2), N=9)
    expected = torch.nn.functional.cross_entropy(torch.tensor(X @ W + b), torch.tensor(y)).item()
    measured = as_float(hw.loss(X, Y, W, b), "loss(X, Y, W, b)")
    if rel_error(measured, expected) > 1e-9:
        hint = (" It is N times too large: take the mean over examples, not the sum."
                if rel_error(measured, expected * len(X)) < 1e-9 else
                " Cross-entropy is -mean_i log softmax(scores)_i[y_i].")
        raise CheckFailed(f"loss is {measured:.6g}, expected {expected:.6g}.{hint}")


def _check_gradients(hw, rng, N, D, C, against: str, expected=None):
    X, y, Y, W, b = random_problem(rng, N, D, C)
    dW, db = as_pair(hw.backward(X, Y, W, b), "backward(X, Y, W, b)")
    dW, db = as_array(dW, "dW", shape=W.shape), as_array(db, "db", shape=b.shape)
    if against == "finite differences":
        true_dW, true_db = expected("loss_finite_differences", X, Y, W, b)
    else:
        import torch
        tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
        torch.nn.functional.cross_entropy(torch.tensor(X) @ tW + tb, torch.tensor(y)).backward()
        true_dW, true_db = tW.grad.numpy(), tb.grad.numpy()
    for name, got, want in (("dW", dW, true_dW), ("db", db, true_db)):
        error = rel_error(got, want)
        if error > 1e-6:
            if rel_error(got, want * N) < 1e-6:
                hint = "It is N times too large: did you average over the batch (divide by N)?"
            elif rel_error(got, -want) < 1e-6:
                hint = "It has the wrong sign: compare with your derivation in Exercise 1."
            else:
                hint = ("Start from ∂L/∂Z (the hint of Exercise 1) and apply the chain rule "
                        "through Z = XW + b; check each shape.")
            raise CheckFailed(f"{name} relative error {error:.2g} against {against} "
                              f"(expected ≤ 1e-6). {hint}")


@check("1.1", points=2)
def test_backward_matches_finite_differences(hw, expected):
    """backward: gradients match centred finite differences"""
    _check_gradients(hw, np.random.default_rng(3), N=8, D=5, C=3, against="finite differences",
                     expected=expected)


@cache
def grading_digits() -> datasets.Flat:
    return datasets.digits()


def _accuracy_of(pair, what: str) -> float:
    data = grading_digits()
    W, b = as_pair(pair, what)
    D, C = data.x_train.shape[1], 10
    W, b = as_array(W, f"W from {what}", shape=(D, C)), as_array(b, f"b from {what}", shape=(C,))
    return accuracy(np.argmax(data.x_test @ W + b, axis=1), data.y_test)


def _require_accuracy(measured: float, what: str, hint: str):
    data = grading_digits()
    if measured < ACCURACY_BAR:
        raise CheckFailed(f"{what} reaches {measured:.1%} test accuracy on {data.name}; the bar is "
                          f"{ACCURACY_BAR:.0%}. {hint}")


@check("1.1", points=2, timeout=60)
def test_sgd_reaches_accuracy_bar(hw):
    """sgd: trained weights reach the accuracy bar"""
    data = grading_digits()
    pair = hw.sgd(data.x_train, data.y_train, epochs=5, lr=0.1, batch_size=64, seed=0)
    _require_accuracy(_accuracy_of(pair, "sgd"), "sgd(..., epochs=5, lr=0.1, batch_size=64)",
                      "Check that each step uses backward on the mini-batch and moves against "
                      "the gradient, and that batches cover the shuffled data.")


@check("1.1", points=1)
def test_evaluate_counts_correct_predictions(hw):
    """evaluate: accuracy of argmax predictions"""
    rng = np.random.default_rng(4)
    X, y, _, W, b = random_problem(rng, N=50, D=6, C=5)
    expected = float(np.mean(np.argmax(X @ W + b, axis=1) == y))
    measured = as_float(hw.evaluate(X, y, W, b), "evaluate(X, y, W, b)")
    if abs(measured - expected) > 1e-12:
        raise CheckFailed(f"evaluate returned {measured:g}, expected {expected:g}: the fraction "
                          "of rows whose highest score is the true class.")


@check("1.1", points=1, timeout=90)
def test_sklearn_reaches_accuracy_bar(hw):
    """train_sklearn: weights reach the accuracy bar"""
    data = grading_digits()
    _require_accuracy(_accuracy_of(hw.train_sklearn(data.x_train, data.y_train), "train_sklearn"),
                      "train_sklearn", "Return (coef_.T, intercept_) of a fitted LogisticRegression.")


@check("1.1", points=1, timeout=90)
def test_torch_reaches_accuracy_bar(hw):
    """train_torch: weights reach the accuracy bar"""
    data = grading_digits()
    _require_accuracy(_accuracy_of(hw.train_torch(data.x_train, data.y_train), "train_torch"),
                      "train_torch", "Return W of shape (D, C): nn.Linear stores its weight as "
                      "(C, D), so transpose it.")


# The documented defaults, observed from outside: with the same seed a trainer is deterministic,
# so f(X, y) must return what f(X, y, <documented values>) returns, and changing one argument
# must change the weights. 300 examples make two full mini-batches of 128 and one of 44, so any
# other batch size splits the data differently. `history` (sgd) is the solution's own optional
# extra, not part of the contract ("you may add optional keyword arguments"), so it is not
# graded; the default call checks that an implementation that has one works without it.
DEFAULTS_N, DEFAULTS_D = 300, 16


def _trained_pair(name: str, answer) -> tuple:
    W, b = as_pair(answer, f"{name}(X, y, ...)")
    return as_array(W, f"W from {name}"), as_array(b, f"b from {name}")


def _defaults_problem():
    rng = np.random.default_rng(10)
    return rng.uniform(size=(DEFAULTS_N, DEFAULTS_D)), rng.integers(0, 10, DEFAULTS_N)


@check("1.1", points=1)
def test_sgd_documented_defaults(hw):
    """sgd: documented defaults apply; each argument takes effect"""
    X, y = _defaults_problem()
    check_documented_defaults(lambda **keywords: _trained_pair("sgd", hw.sgd(X, y, **keywords)),
                              "sgd(X, y", dict(epochs=5, lr=0.5, batch_size=128, seed=0),
                              dict(epochs=4, lr=0.25, batch_size=100, seed=1), tol=1e-9,
                              hint="Shuffle every epoch with one np.random.default_rng(seed).")


@check("1.1", points=1)
def test_torch_documented_defaults(hw):
    """train_torch: documented defaults apply; each argument takes effect"""
    X, y = _defaults_problem()
    check_documented_defaults(
        lambda **keywords: _trained_pair("train_torch", hw.train_torch(X, y, **keywords)),
        "train_torch(X, y", dict(epochs=5, lr=0.1, batch_size=128, seed=0),
        dict(epochs=4, lr=0.05, batch_size=100, seed=1), tol=1e-6,
        hint="Seed torch with `seed` (torch.manual_seed) before creating the model, and shuffle "
             "with a generator seeded with it.")


# ---------------------------------------------------------------------------------------------
# 2.1 Complete attributions
# ---------------------------------------------------------------------------------------------

def _check_completeness(hw, rng, D=12, C=5, pairs=20):
    W, b = rng.normal(size=(D, C)), rng.normal(size=C)
    x = rng.uniform(size=D)
    worst = 0.0
    for _ in range(pairs):
        baseline, c = rng.uniform(size=D), int(rng.integers(C))
        a = as_array(hw.attribution(W, b, x, c), "attribution(W, b, x, c)", shape=(D,))
        worst = max(worst, completeness_error(a, x, baseline, x @ W[:, c] + b[c],
                                              baseline @ W[:, c] + b[c]))
    if worst > 1e-7:
        raise CheckFailed(f"Completeness fails: sum_i a_i (x_i - x'_i) differs from f_c(x) - f_c(x') "
                          f"by a relative {worst:.2g} for some baseline x' (expected ≤ 1e-7). For a "
                          "linear score, which attribution is complete for every baseline?")


@check("2.1", points=2)
def test_attribution_is_complete(hw):
    """attribution: complete for 20 random (baseline, class) pairs"""
    _check_completeness(hw, np.random.default_rng(5))


@check("2.1", points=1)
def test_explain_is_input_times_attribution(hw):
    """explain: input times attribution"""
    rng = np.random.default_rng(6)
    W, b = rng.normal(size=(9, 3)), rng.normal(size=3)
    # Invariants, not the expected array (which would give away Exercise 3's attribution): for
    # every x the contributions are x times one fixed vector, and they add up to f_c(x) - f_c(0).
    X = rng.uniform(0.1, 1.0, size=(12, 9))
    contributions = np.array([as_array(hw.explain(W, b, x, 2), "explain(W, b, x, 2)", shape=(9,))
                              for x in X])
    assert_close(contributions.sum(axis=1), (X @ W + b)[:, 2] - b[2],
                 "the sums of explain(W, b, x, 2) over the pixels", tol=1e-10,
                 hint="Gradient × input adds up to f_c(x) − f_c(0), the score's change from the "
                      "black image.")
    per_unit = contributions / X
    if rel_error(per_unit, np.broadcast_to(per_unit[0], per_unit.shape)) > 1e-10:
        raise CheckFailed("explain(W, b, x, 2) is not x times one attribution, elementwise: "
                          "divided by x, it changes from input to input.")


# ---------------------------------------------------------------------------------------------
# 2.2 Model stealing
# ---------------------------------------------------------------------------------------------

class Oracle:
    """The hidden model's pre-softmax scores; it counts the rows the student asks for."""

    def __init__(self, W, b):
        self.W, self.b, self.rows = W, b, 0

    def __call__(self, inputs):
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim != 2 or inputs.shape[1] != self.W.shape[0]:
            raise ValueError(f"query takes an (n, {self.W.shape[0]}) array, got shape {inputs.shape}")
        self.rows += len(inputs)
        return inputs @ self.W + self.b


def _check_inversion(hw, rng, D, C, post: bool = False):
    W, b = rng.normal(size=(D, C)), rng.normal(size=C)
    oracle = Oracle(W, b)
    W_hat, b_hat = as_pair(hw.invert(oracle, D), "invert(query, D)")
    assert_close(W_hat, W, "stolen W", tol=1e-8,
                 hint="Check which inputs you query and how W follows from their scores.")
    assert_close(b_hat, b, "stolen b", tol=1e-8,
                 hint="Check which input's scores give b exactly.")
    if post:
        leaderboard(f"invert: query rows (D = {D})", oracle.rows, order="asc")
    if oracle.rows > D + 1:
        raise PartialCredit(max(0.5, (D + 1) / oracle.rows),
                            f"W and b are exact, but you used {oracle.rows} query rows; D + 1 = "
                            f"{D + 1} suffice (and are the minimum).")


@check("2.2", points=3)
def test_invert_recovers_model_exactly(hw):
    """invert: recovers W and b exactly with at most D + 1 query rows"""
    _check_inversion(hw, np.random.default_rng(7), D=10, C=4, post=True)


# ---------------------------------------------------------------------------------------------
# 2.3 Targeted adversarial examples
# ---------------------------------------------------------------------------------------------

@cache
def attack_model() -> tuple[np.ndarray, np.ndarray]:
    """A softmax regression the grader trains itself, by full-batch gradient descent (torch
    autograd in float64: the gradient's formula is an exercise of this homework)."""
    import torch
    data = grading_digits()
    X, y = torch.as_tensor(data.x_train, dtype=torch.float64), torch.as_tensor(data.y_train)
    W = torch.zeros((X.shape[1], 10), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(X @ W + b, y)
        grad_W, grad_b = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= 1.0 * grad_W
            b -= 1.0 * grad_b
    return W.detach().numpy(), b.detach().numpy()


def _check_attack(hw, rng, instances: int, expected):
    W, b = attack_model()
    data = grading_digits()
    chosen = rng.choice(len(data.x_test), instances, replace=False)
    successes, ratios, outside = 0, [], 0
    for index in chosen:
        x = data.x_test[index]
        order = rng.permutation([c for c in range(W.shape[1]) if c != np.argmax(x @ W + b)])
        target, optimal = expected("reachable_target", W, b, x, order)
        x_adv = as_array(hw.attack(W, b, x, target), "attack(W, b, x, target)", shape=x.shape)
        if x_adv.min() < 0 or x_adv.max() > 1:
            outside += 1
            continue
        scores = x_adv @ W + b
        successes += scores[target] >= scores.max()
        ratios.append(lp_sizes(x_adv - x)["L2"] / max(optimal, 1e-12))
    if outside:
        raise CheckFailed(f"{outside} of {instances} adversarial examples leave [0, 1]^D: clip "
                          "x_adv to the valid pixel range.")
    rate = successes / instances
    if rate < 0.95:
        raise CheckFailed(f"The target class wins on {rate:.0%} of {instances} (x, target) pairs; "
                          "at least 95% is required. Check the direction: increase f_target and "
                          "decrease the strongest competing class.")
    return float(np.mean(ratios))


@check("2.3", points=2)
def test_attack_succeeds_within_box(hw, expected):
    """attack: targeted success ≥ 95% with x_adv inside [0, 1]"""
    _check_attack(hw, np.random.default_rng(8), instances=50, expected=expected)


@check("2.3", points=2)
def test_attack_perturbation_is_near_minimal(hw, expected):
    """attack: mean L2 at most 2× the exact minimal perturbation"""
    ratio = _check_attack(hw, np.random.default_rng(9), instances=50, expected=expected)
    leaderboard("attack: mean L2 / exact minimum", ratio, order="asc")
    if ratio > 2.0:
        raise CheckFailed(f"Your perturbations are on average {ratio:.2f}× the exact minimal L2 "
                          "perturbation (at most 2× is allowed). Step to the decision boundary "
                          "rather than taking a large fixed step.")


# ---------------------------------------------------------------------------------------------
# 3 CIFAR-10 under a time budget
# ---------------------------------------------------------------------------------------------

GPU_BUDGET_S, GPU_BAR = 1000.0, 0.70

CPU_BUDGET_S, CPU_BAR, CPU_TRAIN, CPU_TEST = 30.0, 0.30, 2000, 1000


def cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def _notebook_gpu_run(notebook: dict | None) -> dict | None:
    """The full-data GPU run that the notebook's part-3 cell recorded in ``cifar_run``, if any.

    Only a self-check passes ``notebook`` (the grader trains afresh): on a GPU it judges that run
    rather than training for up to 1000 s a second time."""
    run = (notebook or {}).get("cifar_run")
    if not isinstance(run, dict) or run.get("device") != "cuda" or run.get("quick", True):
        return None
    return run


@check("3", points=4, timeout=GPU_BUDGET_S + 120, fresh_process=True, gpu=True)
def test_cifar_accuracy_within_budget(hw, notebook=None):
    """train_cifar_model: test accuracy within the time budget"""
    run = _notebook_gpu_run(notebook) if cuda_available() else None
    if run is not None:
        _ = hw.train_cifar_model        # MissingFunction if the grader would not find it
        from tmlkit import data
        y_test = data.load_cifar10(download=False).y_test
        predictions = as_array(run.get("predictions"), "cifar_run['predictions']",
                               shape=y_test.shape)
        measured, seconds = accuracy(predictions, y_test), float(run.get("wall_s", float("inf")))
        budget, bar = float(run.get("budget_s", 0.0)), GPU_BAR
        note(f"Judged the GPU run of the cell above (not trained again; the grader trains afresh). "
             f"Accuracy {measured:.1%} (bar {bar:.0%}) in {seconds:.1f} s (budget {GPU_BUDGET_S:g} s).")
        if budget > GPU_BUDGET_S:
            raise CheckFailed(f"That run had a budget of {budget:g} s; the grader allows "
                              f"{GPU_BUDGET_S:g} s. Run the cell above with the budget it sets.")
        if seconds > GPU_BUDGET_S * 1.05 + 5:
            raise CheckFailed("Over the time budget: stop training when time runs out.")
        if measured < bar:
            raise CheckFailed("Accuracy is below the bar.")
        return
    if cuda_available():
        from tmlkit import data
        split = data.load_cifar10(download=False)
        x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test
        budget, bar, label, device = GPU_BUDGET_S, GPU_BAR, "GPU run on the full CIFAR-10", "GPU"
    else:
        x_train, y_train, x_test, y_test, name = datasets.small_cifar(CPU_TRAIN, CPU_TEST)
        bar = CPU_BAR if name.startswith("a CIFAR") else 0.80
        budget, label = CPU_BUDGET_S, f"CPU run on {name}: the GPU criterion was not evaluated"
        device = "CPU"
    began = time.monotonic()
    predictions = hw.train_cifar_model(x_train, y_train, x_test, time_budget_s=budget)
    seconds = time.monotonic() - began
    measured = accuracy(as_array(predictions, "train_cifar_model's predictions",
                                 shape=y_test.shape), y_test)
    note(f"{label}. Accuracy {measured:.1%} (bar {bar:.0%}) in {seconds:.1f} s (budget {budget:g} s).")
    leaderboard(f"CIFAR-10 accuracy ({device} run)", measured)
    leaderboard(f"CIFAR-10 training time, s ({device} run)", seconds, order="asc")
    if seconds > budget * 1.05 + 5:
        raise CheckFailed("Over the time budget: stop training when time runs out.")
    if measured < bar:
        raise CheckFailed("Accuracy is below the bar.")
