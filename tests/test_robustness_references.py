"""The grader's own references for HW5 against the field's libraries, once: PGD against
torchattacks, the fairness metrics against fairlearn, the MIA metrics against brute force; and
the trusted models' properties that the checks rely on."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.checks import robustness as R
from tmlkit import robustness as trusted

SOURCE = trusted.grading_source()


@pytest.fixture(scope="module")
def model():
    return trusted.standard_mlp(SOURCE, double=True)


@pytest.fixture(scope="module")
def batch():
    x, y = trusted.images(SOURCE)[2:]
    return x[:64].astype(np.float64), y[:64]


def test_reference_pgd_linf_matches_torchattacks(model, batch):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch
    ours = R.reference_pgd(model, x, y, 0.2, 0.02, 10, random_start=False)
    attack = torchattacks.PGD(model, eps=0.2, alpha=0.02, steps=10, random_start=False)
    theirs = attack(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    assert np.abs(ours - theirs).max() < 1e-12


def test_reference_pgd_l2_matches_torchattacks(model, batch):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch
    ours = R.reference_pgd(model, x, y, 1.0, 0.2, 10, random_start=False, norm="l2")
    attack = torchattacks.PGDL2(model, eps=1.0, alpha=0.2, steps=10, random_start=False)
    theirs = attack(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    # torchattacks adds 1e-10 to the gradient norm and uses eps / (norm + 1e-10)... same steps.
    assert np.abs(ours - theirs).max() < 1e-6


def test_reference_targeted_pgd_matches_torchattacks(model, batch):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch
    target = (y + 1) % 10
    ours = R.reference_pgd(model, x, target, 0.3, 0.01, 20, random_start=False, targeted=True)
    attack = torchattacks.PGD(model, eps=0.3, alpha=0.01, steps=20, random_start=False)
    attack.set_mode_targeted_by_function(lambda images, labels: torch.as_tensor(target))
    theirs = attack(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    assert np.abs(ours - theirs).max() < 1e-12


def test_reference_fgsm_matches_torchattacks(model, batch):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = batch
    theirs = torchattacks.FGSM(model, eps=0.1)(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    assert np.abs(R.reference_fgsm(model, x, y, 0.1) - theirs).max() < 1e-12


def test_early_stop_reference_follows_the_rule_example_by_example(model, batch):
    """Replays each example alone with plain PGD and applies FAT's rule step by step."""
    x, y = batch
    eps, alpha, steps = 0.3, 0.03, 10
    for tau in (0, 1, 3):
        x_adv, taken = R.reference_early_stopped_pgd(model, x, y, eps, alpha, steps, tau)
        for i in range(0, len(x), 8):
            current, budget, expected = x[i:i + 1], tau, steps
            for k in range(steps):
                if trusted.predictions(model, current)[0] != y[i]:
                    if budget == 0:
                        expected = k
                        break
                    budget -= 1
                current = R.reference_pgd(model, current, y[i:i + 1], eps, alpha, 1,
                                          random_start=False) if k == 0 else \
                    _one_step(model, x[i:i + 1], current, y[i:i + 1], eps, alpha)
            assert taken[i] == expected
            assert np.abs(x_adv[i] - current[0]).max() < 1e-12
        assert taken.sum() < len(x) * steps


def _one_step(model, x, current, y, eps, alpha):
    start = torch.as_tensor(current).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(start), torch.as_tensor(y), reduction="sum")
    (grad,) = torch.autograd.grad(loss, start)
    moved = torch.min(torch.max(start + alpha * grad.sign(), torch.as_tensor(x) - eps),
                      torch.as_tensor(x) + eps)
    return moved.clamp(0, 1).detach().numpy()


def test_reference_fairness_matches_fairlearn():
    from fairlearn.metrics import (MetricFrame, demographic_parity_difference,
                                   equalized_odds_difference, true_positive_rate)
    rng = np.random.default_rng(0)
    for _ in range(20):
        n, groups = 100, int(rng.integers(2, 5))
        group = np.r_[np.arange(groups).repeat(2), rng.integers(0, groups, n)]
        y_true = np.r_[np.tile([1, 0], groups), rng.integers(0, 2, n)]
        y_pred = rng.integers(0, 2, len(y_true))
        ours = R.reference_fairness(y_true, y_pred, group)
        assert ours["demographic_parity_difference"] == pytest.approx(
            demographic_parity_difference(y_true, y_pred, sensitive_features=group), abs=1e-12)
        assert ours["equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(y_true, y_pred, sensitive_features=group), abs=1e-12)
        assert ours["equal_opportunity_difference"] == pytest.approx(MetricFrame(
            metrics=true_positive_rate, y_true=y_true, y_pred=y_pred,
            sensitive_features=group).difference(), abs=1e-12)


def test_reference_mia_matches_brute_force():
    rng = np.random.default_rng(1)
    members, nonmembers = rng.exponential(1.0, 40).round(1), rng.exponential(1.5, 50).round(1)
    auc, advantage = R.reference_mia(members, nonmembers)
    pairs = [(1.0 if m < n else 0.5 if m == n else 0.0) for m in members for n in nonmembers]
    assert auc == pytest.approx(np.mean(pairs), abs=1e-12)
    thresholds = np.unique(np.r_[members, nonmembers])
    best = max(np.mean(members <= t) - np.mean(nonmembers <= t) for t in thresholds)
    assert advantage == pytest.approx(max(best, 0.0), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_reference_mia_matches_sklearn(seed):
    from sklearn.metrics import roc_auc_score, roc_curve
    rng = np.random.default_rng(seed)
    members = rng.exponential(1.0, rng.integers(5, 80)).round(rng.integers(1, 4))
    nonmembers = rng.exponential(1.5, rng.integers(5, 80)).round(rng.integers(1, 4))
    labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    scores = -np.r_[members, nonmembers]
    fpr, tpr, _ = roc_curve(labels, scores)
    assert R.reference_mia(members, nonmembers) == pytest.approx(
        (roc_auc_score(labels, scores), np.max(tpr - fpr)), abs=1e-12)


def test_trusted_models_have_the_properties_the_checks_rely_on():
    x, y = trusted.images(SOURCE)[2:]
    standard = trusted.standard_mlp(SOURCE)
    assert trusted.accuracy(standard, x, y) > 0.85
    attacked = R.reference_pgd(standard, x[:300], y[:300], 0.3, 0.01, 40)
    assert trusted.accuracy(standard, attacked, y[:300]) <= 0.03
    members, nonmembers = trusted.mia_split(SOURCE)
    aucs = {}
    for kind in ("overfit", "regularized"):
        model = trusted.mia_model(SOURCE, kind)
        aucs[kind] = R.reference_mia(trusted.per_example_loss(model, *members),
                                     trusted.per_example_loss(model, *nonmembers))[0]
    assert aucs["overfit"] > 0.65 and abs(aucs["regularized"] - 0.5) < 0.05
    # Built twice, the same weights (the child and the grader must agree).
    trusted._standard_state.cache_clear()
    again = trusted.standard_mlp(SOURCE)
    for a, b in zip(standard.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_rr_epsilon_is_ln3_for_fair_coins():
    assert R.rr_epsilon(0.5) == pytest.approx(np.log(3), abs=1e-15)
    assert R.rr_epsilon(0.0) == 0.0
