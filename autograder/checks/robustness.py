"""The grader's reference computations for Homework 5: attacks, Poison Frogs, membership
inference, fairness. Never shipped to students: these solve graded functions.

The trusted models and data they run on are in ``tmlkit.robustness``, which the students have
too; this module holds only what solves a graded function. The reference attacks (FGSM, PGD in
L∞ and L2, targeted, cross-entropy or CW margin, and FAT's early-stopped PGD) are tested once
against torchattacks in tests/test_robustness_references.py.
"""
from __future__ import annotations

import math

import numpy as np

from tmlkit.robustness import _one_thread, _tensor

# ---------------------------------------------------------------------------------------------
# Reference attacks (the grader's own; checked against torchattacks in the tests)
# ---------------------------------------------------------------------------------------------

def margin(logits, y):
    """CW margin max_{j≠y} z_j - z_y per example, (N,): positive iff the example is misclassified."""
    import torch
    logits = torch.as_tensor(logits)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    true = logits.gather(1, y[:, None])[:, 0]
    others = logits.clone()
    others.scatter_(1, y[:, None], -math.inf)
    return others.max(dim=1).values - true


def _loss(model, x, y, loss: str):
    import torch
    logits = model(x)
    if loss == "ce":
        return torch.nn.functional.cross_entropy(logits, y, reduction="sum")
    return margin(logits, y).sum()


def reference_fgsm(model, x, y, eps: float) -> np.ndarray:
    """clip(x + ε sign(∇_x CE), 0, 1)."""
    import torch
    x = _tensor(x, model)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    x_var = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_loss(model, x_var, y, "ce"), x_var)
    return torch.clamp(x + eps * grad.sign(), 0, 1).detach().numpy()


def _l2_norms(t):
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def reference_pgd(model, x, y, eps: float, alpha: float, steps: int, random_start: bool = True,
                  norm: str = "linf", targeted: bool = False, loss: str = "ce",
                  seed: int = 0) -> np.ndarray:
    """Projected gradient ascent on the loss (descent on the target's loss when targeted).

    L∞: step α·sign(g), project onto |δ|∞ ≤ ε; L2: step α·g/‖g‖₂, project onto ‖δ‖₂ ≤ ε; both
    then clip x + δ to [0, 1]. Random start: uniform in the L∞ box, or uniform direction and
    radius ε·U^(1/d) in the L2 ball (torch generator seeded with ``seed``).
    """
    import torch
    x = _tensor(x, model)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    delta = torch.zeros_like(x)
    if random_start:
        if norm == "linf":
            delta = (torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1) * eps
        else:
            direction = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            d = x[0].numel()
            radius = eps * torch.rand(len(x), generator=generator, dtype=x.dtype) ** (1 / d)
            delta = direction / _l2_norms(direction) * radius.view(-1, *([1] * (x.dim() - 1)))
    x_adv = torch.clamp(x + delta, 0, 1).detach()
    sign = -1.0 if targeted else 1.0
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(_loss(model, x_adv, y, loss), x_adv)
        with torch.no_grad():
            if norm == "linf":
                x_adv = x_adv + sign * alpha * grad.sign()
                x_adv = torch.min(torch.max(x_adv, x - eps), x + eps)
            else:
                x_adv = x_adv + sign * alpha * grad / _l2_norms(grad)
                delta = x_adv - x
                delta = delta * torch.clamp(eps / _l2_norms(delta), max=1.0)
                x_adv = x + delta
            x_adv = torch.clamp(x_adv, 0, 1)
    return x_adv.detach().numpy()


def reference_early_stopped_pgd(model, x, y, eps: float, alpha: float, steps: int, tau: int,
                                start=None):
    """FAT's early-stopped PGD (Zhang et al. 2020, `earlystop` in their code): at iteration
    k = 0..steps-1 an example whose current iterate is misclassified stops (keeping that
    iterate) if its budget is 0, else spends one unit of its budget (initially tau) and steps
    on; a correctly classified one steps on. The first iterate is ``start`` (the random start
    the caller drew, or x when None): a check cannot draw the student's random numbers, so it
    replays the student's own start. Returns (x_adv, steps_taken)."""
    import torch
    x = _tensor(x, model)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    x_adv = x.clone() if start is None else _tensor(start, model).clone()
    budget = torch.full((len(x),), int(tau))
    active = torch.ones(len(x), dtype=torch.bool)
    taken = torch.zeros(len(x), dtype=torch.long)
    for _ in range(steps):
        x_var = x_adv.clone().requires_grad_(True)
        logits = model(x_var)
        wrong = logits.argmax(1) != y
        stop = active & wrong & (budget == 0)
        budget = torch.where(active & wrong & (budget > 0), budget - 1, budget)
        active = active & ~stop
        if not active.any():
            break
        (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y, reduction="sum"),
                                      x_var)
        with torch.no_grad():
            moved = torch.clamp(torch.min(torch.max(x_adv + alpha * grad.sign(), x - eps), x + eps),
                                0, 1)
            mask = active.view(-1, *([1] * (x.dim() - 1)))
            x_adv = torch.where(mask, moved, x_adv)
        taken += active.long()
    return x_adv.detach().numpy(), taken.numpy()


def reference_adversarial_training(model, x, y, eps: float, alpha: float, steps: int, epochs: int,
                                   batch_size: int, lr: float, seed: int = 0):
    """Madry's adversarial training: per minibatch (torch.randperm with a generator seeded with
    ``seed``), L∞ PGD from a random start with the model in eval mode, then one SGD step
    (momentum 0.9) on the cross-entropy of the adversarial batch in train mode."""
    import torch
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(x)).to(dtype)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed)
    with _one_thread():
        for epoch in range(epochs):
            for number, batch in enumerate(torch.randperm(len(x), generator=generator)
                                           .split(batch_size)):
                model.eval()
                x_adv = torch.as_tensor(reference_pgd(model, x[batch], y[batch], eps, alpha,
                                                      steps, seed=seed + 1000 * epoch + number))
                model.train()
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x_adv), y[batch]).backward()
                optimizer.step()
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Poison Frogs, membership inference, fairness
# ---------------------------------------------------------------------------------------------

def reference_collision(features, target, base, beta: float, steps: int, lr: float) -> np.ndarray:
    """Poison Frogs' forward-backward splitting: a gradient step on ‖f(p) - f(t)‖², then the
    proximal step of β‖p - b‖², p ← (p + lr β b) / (1 + lr β), then clip to [0, 1]."""
    import torch
    t = _tensor(np.asarray(target)[None], features)
    b = _tensor(np.asarray(base)[None], features)
    with torch.no_grad():
        ft = features(t)
    p = b.clone()
    for _ in range(steps):
        p.requires_grad_(True)
        (grad,) = torch.autograd.grad(((features(p) - ft) ** 2).sum(), p)
        with torch.no_grad():
            p = (p - lr * grad + lr * beta * b) / (1 + lr * beta)
            p = p.clamp(0, 1)
    return p.detach().numpy()[0]


def reference_mia(losses_members, losses_nonmembers) -> tuple[float, float]:
    """(AUC, advantage) of the score -loss for 'member': the Mann-Whitney AUC (ties count one
    half), and max_t TPR(t) - FPR(t) over every threshold, (0, 0) included. Plain numpy, as
    sklearn would add about 45 MB to the grader (tests/test_robustness_references.py checks
    both against sklearn and a brute force)."""
    members, nonmembers = np.asarray(losses_members, float), np.asarray(losses_nonmembers, float)
    below = np.searchsorted(np.sort(nonmembers), members, side="right")   # nonmembers ≤ m
    strictly = np.searchsorted(np.sort(nonmembers), members, side="left")  # nonmembers < m
    wins = (len(nonmembers) - below) + 0.5 * (below - strictly)           # nonmember loss > m
    auc = float(wins.sum() / (len(members) * len(nonmembers)))
    thresholds = np.unique(np.r_[members, nonmembers])      # flag "member" when loss ≤ t
    tpr = np.searchsorted(np.sort(members), thresholds, side="right") / len(members)
    fpr = np.searchsorted(np.sort(nonmembers), thresholds, side="right") / len(nonmembers)
    return auc, float(max(np.max(tpr - fpr), 0.0))


def group_rates(y_true, y_pred, group) -> dict:
    """Per group: selection rate P(ŷ=1), TPR P(ŷ=1 | y=1), FPR P(ŷ=1 | y=0) (NaN when undefined)."""
    y_true, y_pred, group = (np.asarray(a) for a in (y_true, y_pred, group))
    rates = {}
    for g in np.unique(group):
        inside = group == g
        positives, negatives = inside & (y_true == 1), inside & (y_true == 0)
        rates[g.item() if hasattr(g, "item") else g] = (
            float(np.mean(y_pred[inside] == 1)),
            float(np.mean(y_pred[positives] == 1)) if positives.any() else math.nan,
            float(np.mean(y_pred[negatives] == 1)) if negatives.any() else math.nan)
    return rates


def reference_fairness(y_true, y_pred, group) -> dict[str, float]:
    """Differences max - min over groups: demographic parity (selection rates), equal
    opportunity (TPR) and equalized odds (the larger of the TPR and FPR differences); NaN
    where a group has no positives (or, for equalized odds, no negatives)."""
    rates = np.array(list(group_rates(y_true, y_pred, group).values()))

    def spread(column):
        values = rates[:, column]
        return math.nan if np.isnan(values).any() else float(values.max() - values.min())
    tpr, fpr = spread(1), spread(2)
    return {"demographic_parity_difference": spread(0), "equal_opportunity_difference": tpr,
            "equalized_odds_difference": math.nan if math.isnan(tpr) or math.isnan(fpr)
            else max(tpr, fpr)}


def rr_epsilon(p_truth: float) -> float:
    """ε of randomized response that answers truthfully with probability p_truth and otherwise
    with a fair coin, by brute force over its 2×2 table of output probabilities."""
    table = np.array([[p_truth + (1 - p_truth) / 2, (1 - p_truth) / 2],     # truth yes: (yes, no)
                      [(1 - p_truth) / 2, p_truth + (1 - p_truth) / 2]])    # truth no
    return float(np.max(np.abs(np.log(table[0] / table[1]))))
