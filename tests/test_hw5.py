"""HW5 end to end: plausible mistakes lose exactly the points of the checks they should fail
(what every homework must satisfy is in test_homeworks.py)."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest
from conftest import (assert_every_selfcheck_ran, assert_loses_exactly, assert_selfcheck_agrees,
                      replace_function, run_quick)

from autograder import homeworks
from autograder.grade import grade

HW5 = homeworks.get("hw5")


def test_solution_has_public_checks_in_every_part_and_hidden_ones(solution_result):
    visibility = {(t.number, t.visibility) for t in solution_result.tests}
    for part in ("1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "3.1", "3.2", "3.3", "3.4", "4"):
        assert (part, "visible") in visibility
    for part in ("1.2", "1.3", "2.1", "2.2", "3.1", "3.2", "3.3", "4"):
        assert (part, "after_published") in visibility


PGD_ALL = {"test_pgd_stays_in_ball_and_box",
           "test_pgd_breaks_a_standard_model",
           "test_pgd_l2_and_targeted",
           "test_cw_loss_and_pgd_with_it",
           "test_pgd_hidden",
           "test_pgd_defaults"}
PGD_DEFAULTS = "test_pgd_defaults"

_PGD_TEMPLATE = '''
def pgd_attack(model, x, y, eps, alpha, steps, random_start=True, norm="linf", targeted=False,
               loss="ce"):
    x, y = to_tensor(x, model), to_labels(y, model)
    x_adv = x.clone()
    if random_start and norm == "linf":
        x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    direction = {direction}
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        logits = model(x_adv)
        objective = F.cross_entropy(logits, y, reduction="sum") if loss == "ce" else \\
            cw_loss(logits, y).sum()
        (grad,) = torch.autograd.grad(objective, x_adv)
        with torch.no_grad():
            if norm == "linf":
                x_adv = x_adv + direction * alpha * grad.sign()
                {linf_projection}
            else:
                x_adv = x_adv + direction * alpha * grad / _per_example_l2(grad)
                delta = x_adv - x
                x_adv = x + delta * torch.clamp(eps / _per_example_l2(delta), max=1.0)
            {box}
    return x_adv.detach()
'''


def _pgd(direction="-1.0 if targeted else 1.0",
         linf_projection="x_adv = torch.min(torch.max(x_adv, x - eps), x + eps)",
         box="x_adv = x_adv.clamp(0, 1)"):
    return _PGD_TEMPLATE.format(direction=direction, linf_projection=linf_projection, box=box)


_AT_HEADER = ("def adversarial_training(model, x, y, eps, alpha, steps, epochs=5, batch_size=128, "
              "lr=0.1, seed=0):")
_FAT_HEADER = ("def friendly_adversarial_training(model, x, y, eps, alpha, steps, tau, epochs=5, "
               "batch_size=128, lr=0.1, seed=0):")
_TRAINING_BODY = '''
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    torch.manual_seed(seed)
    for batch in _batches(len(x), batch_size, seed, epochs):
        xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
        model.{attack_mode}()
        x_adv = {attack}
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x_adv), yb).backward()
        optimizer.step()
    return model.eval()
'''


def _trainer(header: str, attack_mode: str, attack: str) -> str:
    """AT or FAT (by ``header``) whose inner attack runs ``attack`` in ``attack_mode``."""
    return "\n" + header + _TRAINING_BODY.format(attack_mode=attack_mode, attack=attack)


_EARLY_STOP_TEMPLATE = '''
def early_stopped_pgd(model, x, y, eps, alpha, steps, tau, random_start=True):
    x, y = to_tensor(x, model), to_labels(y, model)
    x_adv = x.clone()
    if random_start:
        {start}
    budget = torch.full((len(x),), int(tau))
    running = torch.ones(len(x), dtype=torch.bool)
    taken = torch.zeros(len(x), dtype=torch.long)
    for _ in range(steps):
        x_var = x_adv.clone().requires_grad_(True)
        logits = model(x_var)
        wrong = logits.argmax(dim=1) != y
        {rule}
        if not running.any():
            break
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x_var)
        with torch.no_grad():
            stepped = torch.min(torch.max(x_adv + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
            x_adv[running] = stepped[running]
        taken += running.long()
    return x_adv.detach(), taken.numpy()
'''

_FAT_RULE = """running &= ~(wrong & (budget == 0))
        budget -= (running & wrong).long()"""


def _early_stop(start="x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)",
                rule=_FAT_RULE):
    return _EARLY_STOP_TEMPLATE.format(start=start, rule=rule)


EARLY_STOP = {"test_early_stopped_pgd_matches_fat",
              "test_early_stopped_pgd_hidden"}

_INVERT_TEMPLATE = '''
def invert_class(model, c, steps, lr, shape, weight={weight}):
    x = torch.zeros((1, *shape), dtype=next(model.parameters()).dtype)
    {optimizer}
    for _ in range({loop}):
        x.requires_grad_(True)
        p = torch.softmax(model(x), dim=1)[0, int(c)]
        tv = (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()
        cost = (1 - p) - torch.log(p + 1e-12) + weight * tv
        {step}
    return x.detach()[0]
'''

_PLAIN_STEP = """(grad,) = torch.autograd.grad(cost, x)
        with torch.no_grad():
            x = (x - lr * grad).clamp(0, 1)"""


def _with_default(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, old
    return source.replace(old, new)


def _invert(weight="1e-3", optimizer="", loop="steps", step=_PLAIN_STEP):
    return _INVERT_TEMPLATE.format(weight=weight, optimizer=optimizer, loop=loop, step=step)


INVERT_METHOD = "test_invert_class_method"
TRAINING_DEFAULTS = "test_training_defaults"

LAPLACE_ALL = {"test_laplace_count",
               "test_laplace_count_hidden"}
AT_ROBUST = "test_adversarial_training_is_robust"
AT_METHOD = "test_adversarial_training_method"
FAT_METHOD = "test_friendly_adversarial_training_method"


MUTANTS = {
    "FGSM with the gradient instead of its sign": ("fgsm", '''
def fgsm(model, x, y, eps):
    x, y = to_tensor(x, model), to_labels(y, model)
    x_var = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x_var), y), x_var)
    return (x + eps * grad).clamp(0, 1).detach()
''', ["1.1"], {"test_fgsm_matches_reference"}),
    # Leaving the ball also voids the strength comparisons, which all check the ball first.
    "PGD without the L∞ projection": ("pgd_attack", _pgd(linf_projection="pass"), ["1.2"],
                                      PGD_ALL),
    "PGD that clips to the ball but not to [0, 1]": ("pgd_attack", _pgd(box="pass"), ["1.2"],
                                                     PGD_ALL),
    "targeted PGD that ascends the target's loss": ("pgd_attack", _pgd(direction="1.0"), ["1.2"],
                                                    {"test_pgd_l2_and_targeted"}),
    "pgd_attack whose random_start defaults to False": (
        "pgd_attack", _pgd().replace("random_start=True", "random_start=False"), ["1.2"],
        {PGD_DEFAULTS}),
    "flip_labels whose num_classes defaults to 10": ("flip_labels", '''
def flip_labels(y, rate, rng, num_classes=10):
    rng = np.random.default_rng(rng)
    y = np.asarray(y).copy()
    chosen = rng.choice(len(y), size=round(rate * len(y)), replace=False)
    y[chosen] = (y[chosen] + rng.integers(1, num_classes, size=len(chosen))) % num_classes
    return y
''', ["2.1"], {"test_flip_labels_exact_rate"}),
    "rr_epsilon without a default p_truth": ("rr_epsilon", '''
def rr_epsilon(p_truth):
    yes, no = p_truth + (1 - p_truth) / 2, (1 - p_truth) / 2
    return float(np.log(yes / no))
''', ["3.1"], {"test_randomized_response_epsilon"}),
    "CW loss with the wrong sign": ("cw_loss", '''
def cw_loss(logits, y):
    logits = torch.as_tensor(logits)
    y = torch.as_tensor(y).to(device=logits.device, dtype=torch.long)
    true = logits.gather(1, y[:, None])[:, 0]
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return true - others.max(dim=1).values
''', ["1.2"], {"test_cw_loss_and_pgd_with_it"}),
    "early stop that ignores tau": ("early_stopped_pgd", _early_stop(
        rule="running &= logits.argmax(dim=1) == y"), ["1.3"], EARLY_STOP),
    # The kit's former definition: the search starts at x whatever random_start says.
    "early stop without a random start": ("early_stopped_pgd", _early_stop(start="pass"),
                                          ["1.3"], EARLY_STOP),
    # FAT's code also has a "normal_distribution_randominit": a jitter of 0.001, not its default.
    "early stop from a small Gaussian start": ("early_stopped_pgd", _early_stop(
        start="x_adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)"), ["1.3"], EARLY_STOP),
    "early stop whose random start is not clipped to [0, 1]": ("early_stopped_pgd", _early_stop(
        start="x_adv = x + torch.empty_like(x).uniform_(-eps, eps)"), ["1.3"], EARLY_STOP),
    "adversarial training on clean images": ("adversarial_training", '''
def adversarial_training(model, x, y, eps, alpha, steps, epochs=5, batch_size=128, lr=0.1, seed=0):
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for batch in _batches(len(x), batch_size, seed, epochs):
        xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    return model.eval()
''', ["1.4"], {AT_ROBUST, AT_METHOD}),
    # Three wrong methods that still clear the robustness margin on these small models: only the
    # checks that watch the training (a traced model) catch them.
    "AT on one FGSM step instead of PGD": (
        "adversarial_training", _trainer(_AT_HEADER,
            attack_mode="eval", attack="fgsm(model, xb, yb, eps)"),
        ["1.4"], {AT_METHOD}),
    "AT with the inner attack in train mode": (
        "adversarial_training", _trainer(_AT_HEADER,
            attack_mode="train", attack="pgd_attack(model, xb, yb, eps, alpha, steps)"),
        ["1.4"], {AT_METHOD}),
    "FAT that ignores tau and early stopping (plain AT)": (
        "friendly_adversarial_training", _trainer(_FAT_HEADER,
            attack_mode="eval", attack="pgd_attack(model, xb, yb, eps, alpha, steps)"),
        ["1.4"], {FAT_METHOD}),
    "FAT whose inner attack starts at x": (
        "friendly_adversarial_training", _trainer(_FAT_HEADER,
            attack_mode="eval",
            attack="early_stopped_pgd(model, xb, yb, eps, alpha, steps, tau, random_start=False)[0]"),
        ["1.4"], {FAT_METHOD}),
    "FAT with the inner attack in train mode": (
        "friendly_adversarial_training", _trainer(_FAT_HEADER,
            attack_mode="train",
            attack="early_stopped_pgd(model, xb, yb, eps, alpha, steps, tau)[0]"),
        ["1.4"], {FAT_METHOD}),
    "AT whose batch_size defaults to 64": (
        "adversarial_training", _with_default(_trainer(_AT_HEADER,
            attack_mode="eval", attack="pgd_attack(model, xb, yb, eps, alpha, steps)"),
            "batch_size=128", "batch_size=64"),
        ["1.4"], {TRAINING_DEFAULTS}),
    "FAT whose lr defaults to 0.01": (
        "friendly_adversarial_training", _with_default(_trainer(_FAT_HEADER,
            attack_mode="eval",
            attack="early_stopped_pgd(model, xb, yb, eps, alpha, steps, tau)[0]"),
            "lr=0.1", "lr=0.01"),
        ["1.4"], {TRAINING_DEFAULTS}),
    "AT whose epochs default to 3": (
        "adversarial_training", _with_default(_trainer(_AT_HEADER,
            attack_mode="eval", attack="pgd_attack(model, xb, yb, eps, alpha, steps)"),
            "epochs=5", "epochs=3"),
        ["1.4"], {TRAINING_DEFAULTS}),
    # Model inversion that reaches p ≥ 0.9 by another method: only the traced model sees it.
    "model inversion that ignores steps (always 300)": (
        "invert_class", _invert(loop="300"), ["3.4"], {INVERT_METHOD}),
    "model inversion with Adam": (
        "invert_class", _invert(optimizer="x = x.requires_grad_(True)\n"
                                          "    optimizer = torch.optim.Adam([x], lr=lr)",
                                step="""optimizer.zero_grad()
        cost.backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0, 1)"""), ["3.4"], {INVERT_METHOD}),
    "model inversion whose weight defaults to 0": (
        "invert_class", _invert(weight="0.0"), ["3.4"], {INVERT_METHOD}),
    "label flips that may keep the label": ("flip_labels", '''
def flip_labels(y, rate, rng, num_classes=None):
    rng = np.random.default_rng(rng)
    y = np.asarray(y).copy()
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    chosen = rng.choice(len(y), size=round(rate * len(y)), replace=False)
    y[chosen] = rng.integers(0, num_classes, size=len(chosen))
    return y
''', ["2.1"], {"test_flip_labels_exact_rate",
              "test_flip_labels_hidden"}),
    "Poison Frogs without the proximal step": ("feature_collision_poison", '''
def feature_collision_poison(feature_extractor, x_target, x_base, beta, steps, lr=0.01):
    t = to_tensor(x_target, feature_extractor)[None]
    p = to_tensor(x_base, feature_extractor)[None]
    with torch.no_grad():
        target_features = feature_extractor(t)
    for _ in range(steps):
        p.requires_grad_(True)
        (grad,) = torch.autograd.grad(((feature_extractor(p) - target_features) ** 2).sum(), p)
        with torch.no_grad():
            p = (p - lr * grad).clamp(0, 1)
    return p.detach()[0]
''', ["2.2"], {"test_feature_collision_poison",
              "test_feature_collision_poison_hidden"}),
    "randomized-response estimator without the -1/2": ("estimate_proportion", '''
def estimate_proportion(reports):
    return 2 * float(np.mean(np.asarray(reports, dtype=float)))
''', ["3.1"], {"test_estimate_proportion"}),
    "randomized response that lies on tails": ("randomized_response", '''
def randomized_response(truth, rng):
    rng = np.random.default_rng(rng)
    truth = np.asarray(truth, dtype=bool)
    return np.where(rng.random(truth.shape) < 0.5, truth, ~truth)
''', ["3.1"], {"test_randomized_response_unbiased_with_closed_form_variance",
              "test_randomized_response_hidden"}),
    "Laplace noise of scale eps instead of 1/eps": ("laplace_count", '''
def laplace_count(data, predicate, eps, rng):
    rng = np.random.default_rng(rng)
    return float(sum(bool(predicate(v)) for v in np.asarray(data)) + rng.laplace(0.0, eps))
''', ["3.2"], LAPLACE_ALL),
    "Gaussian noise of the Laplace mechanism's variance": ("laplace_count", '''
def laplace_count(data, predicate, eps, rng):
    rng = np.random.default_rng(rng)
    return float(sum(bool(predicate(v)) for v in np.asarray(data)) + rng.normal(0.0, np.sqrt(2) / eps))
''', ["3.2"], LAPLACE_ALL),
    "MIA scored by the confidence of the predicted class": ("loss_threshold_mia", '''
def loss_threshold_mia(model, members, nonmembers):
    from sklearn.metrics import roc_auc_score, roc_curve
    def confidence(x, y):
        with torch.no_grad():
            return torch.softmax(model(to_tensor(x, model)), 1).max(1).values.numpy()
    scores = np.concatenate([confidence(*members), confidence(*nonmembers)])
    is_member = np.r_[np.ones(len(members[1])), np.zeros(len(nonmembers[1]))]
    fpr, tpr, _ = roc_curve(is_member, scores)
    return float(roc_auc_score(is_member, scores)), float(np.max(tpr - fpr))
''', ["3.3"], {"test_loss_threshold_mia",
              "test_loss_threshold_mia_hidden"}),
    "demographic parity as a ratio": ("demographic_parity_difference", '''
def demographic_parity_difference(y_true, y_pred, group):
    y_pred, group = np.asarray(y_pred), np.asarray(group)
    rates = np.array([np.mean(y_pred[group == g] == 1) for g in np.unique(group)])
    return float(rates.min() / rates.max())
''', ["4"], {"test_fairness_metrics_on_hand_computed_tables",
            "test_fairness_metrics_edge_cases",
            "test_fairness_metrics_on_hidden_tables"}),
    "equal opportunity counting a group without positives as TPR 0": (
        "equal_opportunity_difference", '''
def equal_opportunity_difference(y_true, y_pred, group):
    y_true, y_pred, group = (np.asarray(a) for a in (y_true, y_pred, group))
    rates = [np.mean(y_pred[(group == g) & (y_true == 1)] == 1) if np.any((group == g) & (y_true == 1))
             else 0.0 for g in np.unique(group)]
    return float(max(rates) - min(rates))
''', ["4"], {"test_fairness_metrics_edge_cases"}),
}


# What the public failure messages of some mutants must say (they point at the cause).
HINTS = {"FGSM with the gradient instead of its sign": "*sign*",
         "PGD that clips to the ball but not to [0, 1]": "outside the image range",
         "PGD without the L∞ projection": "project",
         "randomized-response estimator without the -1/2": "subtract 1/2",
         "demographic parity as a ratio": "not ratios",
         "equal opportunity counting a group without positives as TPR 0": "raise ValueError",
         "Poison Frogs without the proximal step": "proximal step",
         "AT on one FGSM step instead of PGD": "FGSM, not PGD",
         "AT with the inner attack in train mode": "eval mode",
         "FAT with the inner attack in train mode": "eval mode",
         "FAT that ignores tau and early stopping (plain AT)": "stop early",
         "FAT whose inner attack starts at x": "uniform random point",
         "early stop without a random start": "random_start defaults to True",
         "early stop from a small Gaussian start": "uniformly",
         "Gaussian noise of the Laplace mechanism's variance": "mean absolute value",
         "AT whose batch_size defaults to 64": "batch_size defaults to 128",
         "FAT whose lr defaults to 0.01": "lr defaults to 0.1",
         "AT whose epochs default to 3": "epochs defaults to 5",
         "model inversion that ignores steps (always 300)": "exactly steps",
         "model inversion with Adam": "plain gradient-descent steps",
         "model inversion whose weight defaults to 0": "weight defaults to 1e-3"}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_plausible_mistakes_lose_exactly_their_points(mutant, solution_result, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("TML_GRADER_SEED", "5")        # hidden instances fixed for the test
    function, source, parts, should_fail = MUTANTS[mutant]
    submission = replace_function(HW5.solution, function, source, tmp_path / "mutant.ipynb")
    result = grade("hw5", submission, parts=parts)
    assert_loses_exactly(result, solution_result, should_fail)
    assert_selfcheck_agrees("hw5", submission, result)
    if mutant in HINTS:
        public = [t.output for t in result.tests if t.status == "failed" and
                  t.visibility == "visible"]
        assert public and all(HINTS[mutant] in output for output in public), public


def test_ignoring_tau_loses_the_hidden_point_at_a_seed_that_once_drew_tau_0(tmp_path,
                                                                           monkeypatch):
    """At τ = 0 ignoring τ is right; the hidden check drew τ from 0..3, and seed 0 gave 0."""
    monkeypatch.setenv("TML_GRADER_SEED", "0")
    function, source, _, _ = MUTANTS["early stop that ignores tau"]
    submission = replace_function(HW5.solution, function, source, tmp_path / "mutant.ipynb")
    result = grade("hw5", submission, parts=["1.3"])
    assert {t.id for t in result.tests if t.status == "failed"} == EARLY_STOP


# Correct adversarial training written differently from the solution: PGD inline on δ with a
# mean loss and the update's input not detached; FAT that draws its random start with
# torch.rand, checks under no_grad and steps only the running examples. Both must keep every 1.4 point.
ALTERNATIVE_AT = '''
def adversarial_training(model, x, y, eps, alpha, steps, epochs=5, batch_size=128, lr=0.1, seed=0):
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
            model.eval()
            delta = ((xb + (torch.rand_like(xb) * 2 - 1) * eps).clamp(0, 1) - xb).requires_grad_()
            for _ in range(steps):
                (grad,) = torch.autograd.grad(F.cross_entropy(model(xb + delta), yb), delta)
                delta = (delta + alpha * grad.sign()).clamp(-eps, eps)
                delta = ((xb + delta).clamp(0, 1) - xb).detach().requires_grad_()
            model.train()
            optimizer.zero_grad()
            F.cross_entropy(model(xb + delta), yb).backward()
            optimizer.step()
    model.eval()
    return model
'''

ALTERNATIVE_FAT = '''
def friendly_adversarial_training(model, x, y, eps, alpha, steps, tau, epochs=5, batch_size=128,
                                  lr=0.1, seed=0):
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for batch in _batches(len(x), batch_size, seed, epochs):
        xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
        model.eval()
        x_adv = torch.clamp(xb + eps * (2 * torch.rand(xb.shape, dtype=xb.dtype) - 1), 0, 1)
        budget = torch.full((len(xb),), tau)
        running = torch.ones(len(xb), dtype=torch.bool)
        for _ in range(steps):
            with torch.no_grad():
                wrong = model(x_adv).argmax(1) != yb
            running &= ~(wrong & (budget == 0))
            budget -= (running & wrong).long()
            index = running.nonzero()[:, 0]
            if len(index) == 0:
                break
            xi = x_adv[index].requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xi), yb[index], reduction="sum"),
                                          xi)
            with torch.no_grad():
                stepped = torch.min(torch.max(xi + alpha * grad.sign(), xb[index] - eps),
                                    xb[index] + eps)
                x_adv[index] = stepped.clamp(0, 1)
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x_adv), yb).backward()
        optimizer.step()
    model.eval()
    return model
'''


def test_correct_alternative_training_keeps_full_marks(tmp_path):
    submission = replace_function(HW5.solution, "adversarial_training", ALTERNATIVE_AT,
                                  tmp_path / "at.ipynb")
    submission = replace_function(submission, "friendly_adversarial_training", ALTERNATIVE_FAT,
                                  tmp_path / "fat.ipynb")
    result = grade("hw5", submission, parts=["1.4"])
    assert [t.output for t in result.tests if t.status != "passed"] == []
    assert result.score == sum(t.max_score for t in result.tests) == 8
    assert_selfcheck_agrees("hw5", submission, result)


# FAT's early-stopped PGD written differently from the solution: one example at a time, the
# random start drawn by numpy as FAT's code draws it, the budget as a Python counter.
ALTERNATIVE_EARLY_STOP = '''
def early_stopped_pgd(model, x, y, eps, alpha, steps, tau, random_start=True):
    x, y = to_tensor(x, model), to_labels(y, model)
    outputs, counts = [], []
    for xi, yi in zip(x, y):
        xi, current = xi[None], xi[None].clone()
        if random_start:
            noise = np.random.uniform(-eps, eps, tuple(xi.shape))
            current = (xi + torch.as_tensor(noise, dtype=xi.dtype)).clamp(0.0, 1.0)
        budget, count = tau, 0
        for _ in range(steps):
            current = current.detach().requires_grad_(True)
            logits = model(current)
            if logits.argmax(dim=1).item() != yi.item():
                if budget == 0:
                    break
                budget -= 1
            (grad,) = torch.autograd.grad(F.cross_entropy(logits, yi[None]), current)
            current = torch.clamp(torch.clamp(current + alpha * grad.sign(), xi - eps, xi + eps),
                                  0.0, 1.0)
            count += 1
        outputs.append(current.detach())
        counts.append(count)
    return torch.cat(outputs), np.array(counts)
'''


def test_correct_alternative_early_stop_keeps_full_marks(tmp_path, monkeypatch):
    monkeypatch.setenv("TML_GRADER_SEED", "5")
    submission = replace_function(HW5.solution, "early_stopped_pgd", ALTERNATIVE_EARLY_STOP,
                                  tmp_path / "early.ipynb")
    result = grade("hw5", submission, parts=["1.3"])
    assert [t.output for t in result.tests if t.status != "passed"] == []
    assert result.score == sum(t.max_score for t in result.tests) == 3


# Correct model inversion written differently: torch.optim.SGD on one leaf image of the given
# shape (the model sees a view of it), -log p only, an L2 prior, and a final check under no_grad.
ALTERNATIVE_INVERSION = '''
def invert_class(model, c, steps, lr, shape, weight=1e-3):
    image = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([image], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        log_p = torch.log_softmax(model(image.unsqueeze(0)), dim=1)[0, c]
        (-log_p + weight * (image ** 2).sum()).backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
    with torch.no_grad():
        model(image.unsqueeze(0))
    return image.detach().numpy()
'''


def test_correct_alternative_inversion_keeps_full_marks(tmp_path):
    submission = replace_function(HW5.solution, "invert_class", ALTERNATIVE_INVERSION,
                                  tmp_path / "inversion.ipynb")
    result = grade("hw5", submission, parts=["3.4"])
    assert [t.output for t in result.tests if t.status != "passed"] == []
    assert_selfcheck_agrees("hw5", submission, result)
    assert result.score == sum(t.max_score for t in result.tests) == 3


def test_laplace_test_separates_laplace_from_gaussian():
    """The statistics of the 3.2 checks (3000 draws at α = 1e-5, public and hidden) over 200
    seeds and ε from 0.1 to 5: Laplace(0, 1/ε) noise never fails, Gaussian noise of the same
    variance always does. (A correct answer fails with probability at most 2e-5 per case, see
    laplace_noise_problem.)"""
    from tmlkit.public.hw5 import laplace_noise_problem
    draws, alpha = 3000, 1e-5
    for seed in range(200):
        rng = np.random.default_rng(seed)
        eps = float(10 ** rng.uniform(-1, 0.7))
        assert laplace_noise_problem(rng.laplace(0, 1 / eps, draws), eps, alpha) is None, seed
        gaussian = rng.normal(0, np.sqrt(2) / eps, draws)
        assert laplace_noise_problem(gaussian, eps, alpha) is not None, seed


def test_student_notebook_keeps_the_given_helpers():
    text = "\n".join(cell.source for cell in nbformat.read(HW5.student, as_version=4).cells)
    assert "def weights_after(" in text and "def to_tensor(" in text


def test_solution_notebook_runs_top_to_bottom(tmp_path):
    outputs = run_quick(HW5.solution, tmp_path)
    assert "✗" not in outputs and "\n~ [" not in outputs, \
        "a self-check cell failed in the solution notebook"
    assert_every_selfcheck_ran(outputs, "hw5")
    assert "PGD-20" in outputs and "surveys of" in outputs
