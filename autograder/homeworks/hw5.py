"""Homework 5 spec: evasion attacks and adversarial training, poisoning, differential privacy,
membership inference, model inversion and fairness metrics.

Models cross into the student's process as ``Build``s of the trusted factories in
``autograder.checks.robustness``: the child trains them itself in about a second, on a fixed
MNIST subset when $TML_DATA_DIR holds MNIST, else on scikit-learn's 8×8 digits (each check's
note says which), and the grader builds the same model here for its reference computations.
The visible checks, with fixed seeds, are written in the student package
(``tmlkit/public/hw5.py``), where the notebook's self-check cells run them too; this spec imports
them. Hidden checks draw fresh instances on every grading run ($TML_GRADER_SEED fixes them for
a regrade).
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np

from autograder.checks import robustness as R     # the grader's references
from autograder.plugin import on_submission
from tmlkit import robustness as trusted          # models and data, built alike in both processes
from tmlkit.spec import CheckFailed, check, hidden_rng

# The visible checks are written once, in the student package, where the notebook's
# self-check runs them too; imported here, they are this spec's checks.
from tmlkit.public.hw5 import (  # noqa: F401
    METRICS, _check_collision, _check_early_stop, _check_early_stop_start, _check_flips,
    _check_laplace, _check_metric, _check_mia, _check_rr, _source, _strength, _test_set,
    at_setting, collision_setting,
    test_fgsm_matches_reference, test_pgd_stays_in_ball_and_box, test_pgd_breaks_a_standard_model,
    test_pgd_defaults, test_pgd_l2_and_targeted, test_cw_loss_and_pgd_with_it,
    test_early_stopped_pgd_matches_fat, test_adversarial_training_is_robust,
    test_friendly_adversarial_training_is_robust, test_adversarial_training_method,
    test_training_defaults, test_friendly_adversarial_training_method, test_flip_labels_exact_rate,
    test_feature_collision_poison, test_estimate_proportion,
    test_randomized_response_unbiased_with_closed_form_variance, test_randomized_response_epsilon,
    test_laplace_count, test_loss_threshold_mia, test_invert_class, test_invert_class_method,
    test_fairness_metrics_on_hand_computed_tables, test_fairness_metrics_edge_cases)


# ---------------------------------------------------------------------------------------------
# 1.2 PGD
# ---------------------------------------------------------------------------------------------

@check("1.2", points=2, hidden=True, timeout=60)
def test_pgd_hidden(hw, expected):
    """pgd_attack: in the ball and as strong as the grader's PGD on hidden ε, α and images"""
    rng = hidden_rng()
    source = _source()
    eps = float(rng.uniform(0.25, 0.35))
    _strength(hw, expected, source, 300, eps, eps / 20, 40, rng=rng, bar=0.05)
    eps = float(rng.uniform(1.5, 2.5)) if source == "mnist" else float(rng.uniform(0.8, 1.2))
    _strength(hw, expected, source, 200, eps, eps / 8, 40, norm="l2", rng=rng)


# ---------------------------------------------------------------------------------------------
# 1.3 FAT's early-stopped PGD
# ---------------------------------------------------------------------------------------------

@check("1.3", points=1, hidden=True)
def test_early_stopped_pgd_hidden(hw, expected):
    """early_stopped_pgd: FAT's stopping rule and random start on hidden images, ε, α and τ"""
    rng = hidden_rng()
    source = _source()
    eps = float(rng.uniform(0.15, 0.35))
    # τ ≥ 1: at τ = 0 code that ignores τ is right (the visible check has that case).
    alpha, steps, tau = eps / float(rng.uniform(3, 8)), int(rng.integers(5, 15)), \
        int(rng.integers(1, 4))
    _check_early_stop(hw, source, 150, eps, alpha, steps, tau, rng=rng, reference=expected)
    _check_early_stop_start(hw, source, 150, eps, tau, rng=rng)


# ---------------------------------------------------------------------------------------------
# 1.4 Adversarial training and FAT
# ---------------------------------------------------------------------------------------------


@cache
def _reference_at_accuracy(source: str) -> float:
    """Natural test accuracy (500 images) of the grader's AT at the budget of ``at_setting``."""
    s = at_setting(source)
    x, y = (a[:s["n"]] for a in trusted.images(source)[:2])
    model = R.reference_adversarial_training(trusted.mlp(source, 0), x, y, s["eps"], s["alpha"],
                                             s["steps"], s["epochs"], s["batch_size"], s["lr"],
                                             s["seed"])
    return trusted.accuracy(model, *_test_set(source, 500))


# ---------------------------------------------------------------------------------------------
# 2.1 Label flipping
# ---------------------------------------------------------------------------------------------

@check("2.1", points=1, hidden=True)
def test_flip_labels_hidden(hw):
    """flip_labels: exact rate on hidden labels; positions and new labels spread uniformly"""
    rng = hidden_rng()
    classes, n = int(rng.integers(2, 12)), 20 * int(rng.integers(5, 40))
    rate = int(rng.integers(1, 20)) / 20
    y = rng.integers(0, classes, n)
    seeds = rng.integers(1 << 30, size=200)
    counts = np.zeros(n)
    for seed in seeds:
        counts += _check_flips(hw, y, rate, int(seed), classes)
    # Each position is flipped in Binomial(200, rate) of the runs: 6 standard deviations.
    spread = 6 * math.sqrt(200 * rate * (1 - rate)) + 1
    if np.abs(counts - 200 * rate).max() > spread:
        raise CheckFailed(f"flip_labels over 200 seeds: some positions were flipped far more or "
                          f"less often than rate = {rate:g} of the time (worst "
                          f"{counts.max():.0f} / 200). Choose the positions uniformly at random.")


# ---------------------------------------------------------------------------------------------
# 2.2 Poison Frogs feature collision
# ---------------------------------------------------------------------------------------------

@check("2.2", points=1, hidden=True, timeout=60)
def test_feature_collision_poison_hidden(hw, expected):
    """feature_collision_poison: on hidden target and base images"""
    rng = hidden_rng()
    source = _source()
    _, y = trusted.images(source)[2:]
    target = int(rng.integers(len(y)))
    base = int(rng.choice(np.flatnonzero(y != y[target])))
    _check_collision(hw, source, target, base, **collision_setting(source), expected=expected)


# ---------------------------------------------------------------------------------------------
# 3.1 Randomized response
# ---------------------------------------------------------------------------------------------

@check("3.1", points=1, hidden=True, timeout=60)
def test_randomized_response_hidden(hw):
    """randomized_response: unbiased with variance 3/(4n) for a hidden proportion and seeds"""
    rng = hidden_rng()
    _check_rr(hw, float(rng.integers(1, 20)) / 20, 200, 150, 10, int(rng.integers(1 << 30)))


# ---------------------------------------------------------------------------------------------
# 3.2 The Laplace mechanism
# ---------------------------------------------------------------------------------------------

@check("3.2", points=1, hidden=True, timeout=120)
def test_laplace_count_hidden(hw):
    """laplace_count: Laplace(0, 1/ε) noise for a hidden ε, data and seeds (α = 1e-5)"""
    rng = hidden_rng()
    data = rng.normal(size=int(rng.integers(10, 60)))
    # Fresh seeds on every run: α = 1e-5 per test makes a false alarm on a correct answer rare.
    _check_laplace(hw, data, "greater", float(rng.normal()), float(10 ** rng.uniform(-1, 0.7)),
                   rng.integers(1 << 30, size=3000), 1e-5)


# ---------------------------------------------------------------------------------------------
# 3.3 Membership inference
# ---------------------------------------------------------------------------------------------

@check("3.3", points=1, hidden=True, timeout=60)
def test_loss_threshold_mia_hidden(hw, expected):
    """loss_threshold_mia: matches the grader's on hidden subsets of members and non-members"""
    rng = hidden_rng()
    source = _source()
    (xm, ym), (xn, yn) = trusted.mia_split(source)
    for kind in ("overfit", "regularized"):
        a = np.sort(rng.choice(len(xm), int(rng.integers(30, len(xm))), replace=False))
        b = np.sort(rng.choice(len(xn), int(rng.integers(30, len(xn))), replace=False))
        _check_mia(hw, source, kind, (xm[a], ym[a]), (xn[b], yn[b]),
                   f"loss_threshold_mia({kind} model, {len(a)} members, {len(b)} non-members)",
                   expected)
    shift = int(rng.integers(1, 10))
    _check_mia(hw, source, "overfit", (xn[b], yn[b]), (xn[b], (yn[b] + shift) % 10),
               "loss_threshold_mia(overfit model, (x, y), (x, wrong labels))", expected)


# ---------------------------------------------------------------------------------------------
# 4 Fairness metrics
# ---------------------------------------------------------------------------------------------

@check("4", points=2, hidden=True)
def test_fairness_metrics_on_hidden_tables(hw):
    """fairness metrics: match the reference on hidden random tables with 2 to 4 groups"""
    # The reference, not fairlearn itself: fairlearn brings pandas and sklearn, about 50 MB, into
    # the grader. tests/test_robustness_references.py holds the reference to fairlearn.
    rng = hidden_rng()
    for _ in range(4):
        n, groups = int(rng.integers(40, 200)), int(rng.integers(2, 5))
        group = np.r_[np.arange(groups).repeat(4), rng.integers(0, groups, n)]
        y_true = np.r_[np.tile([1, 1, 0, 0], groups), rng.integers(0, 2, n)]
        y_pred = (rng.random(len(y_true)) < 0.3 + 0.4 * y_true * rng.random()).astype(int)
        table = dict(y_true=y_true, y_pred=y_pred, group=group)
        expected = R.reference_fairness(y_true, y_pred, group)
        for name in METRICS:
            _check_metric(hw, name, table, float(expected[name]),
                          f"{name} on a hidden table of {len(y_true)} rows and {groups} groups "
                          f"(expected {float(expected[name]):.6g})")


# What the checks compare with (their ``expected`` fixture): computed live here, and recorded
# for the visible checks by ``make notebooks``, for the notebook's self-checks. Attacks return
# their step x_adv - x, which the recording holds compressed far better than x_adv itself.

def pgd_hits(model, x, labels, eps, alpha, steps, norm, loss, targeted) -> float:
    """The share of the grader's PGD examples classified as ``labels``: its targeted success,
    or (untargeted) the accuracy it leaves."""
    attacked = R.reference_pgd(model, x, labels, eps, alpha, steps, norm=norm, loss=loss,
                               targeted=targeted)
    return float(np.mean(trusted.predictions(model, attacked) == labels))


def _early_stopped_step(model, x, y, eps, alpha, steps, tau):
    adversarial, taken = R.reference_early_stopped_pgd(model, x, y, eps, alpha, steps, tau)
    return adversarial - x, taken


def _collision(features, target, base, beta, steps, lr):
    poison = R.reference_collision(features, target, base, beta, steps, lr)
    return trusted.collision_objective(features, poison, target, base, beta)


REFERENCES = {
    "fgsm_step": lambda model, x, y, eps: R.reference_fgsm(model, x, y, eps) - x,
    "pgd_hits": pgd_hits,
    "pgd_step_no_random_start": lambda model, x, y, eps, alpha, steps:
        R.reference_pgd(model, x, y, eps, alpha, steps, random_start=False) - x,
    "margin": lambda logits, y: R.margin(logits, y).numpy(),
    "early_stopped_pgd_step": _early_stopped_step,
    "at_accuracy": _reference_at_accuracy,
    "collision": _collision,
    "rr_epsilon": R.rr_epsilon,
    "mia": R.reference_mia,
    "pgd_accuracy_of_trained": on_submission(
        lambda model, x, y, eps: trusted.accuracy(model, R.reference_pgd(model, x, y, eps, eps / 8, 20), y),
        "it attacks the model your training returned with the grader's PGD, whose code is the "
        "answer to 1.2 and does not ship"),
    "early_stopped_pgd_of_trained": on_submission(
        lambda model, x, y, eps, alpha, steps, tau, start:
            R.reference_early_stopped_pgd(model, x, y, eps, alpha, steps, tau, start=start),
        "it runs the grader's early-stopped PGD, whose code is the answer to 1.3, on the weights "
        "your training reached"),
}
