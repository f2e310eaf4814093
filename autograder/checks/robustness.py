"""Trusted models and reference computations for Homework 5 (robustness, privacy, fairness).

Models cross into the student's process as ``Build("autograder.checks.robustness:name", args)``:
the child trains them itself, deterministically (one torch thread, fixed seeds, float64 unless
asked otherwise), in about a second, from data that ``source`` names explicitly ("mnist" for a
fixed MNIST subset read from $TML_DATA_DIR, "digits" for scikit-learn's 8x8 digits), so the
grader's copy built here is the same model. Trained weights are kept per process (never on disk),
and every call returns a fresh model loaded from them, so a student's function that trains or
modifies its model cannot change the next check's.

The reference attacks (FGSM, PGD in L∞ and L2, targeted, cross-entropy or CW margin, and FAT's
early-stopped PGD) are tested once against torchattacks in tests/test_robustness_references.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from autograder import data

SOURCES = ("mnist", "digits")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def grading_source() -> str:
    """'mnist' when an offline MNIST copy is at hand, else 'digits' (scikit-learn, ships with it)."""
    return "mnist" if data.mnist_available() else "digits"


def source_name(source: str) -> str:
    return ("a fixed MNIST subset (28×28)" if source == "mnist" else
            "scikit-learn's 8×8 digits (no MNIST copy was available to this grader)")


@lru_cache(maxsize=None)
def images(source: str, n_train: int = 5000, n_test: int = 1000):
    """(x_train, y_train, x_test, y_test): float32 images (N, 1, H, W) in [0, 1], int64 labels.

    "mnist": a fixed random subset of MNIST; "digits": scikit-learn's digits (1797 images,
    pixel values 0..16 scaled to [0, 1]), split 1297 / 500 with a fixed permutation.
    """
    if source == "mnist":
        split = data.load_mnist(download=False)
        rng = np.random.default_rng(0)
        train = rng.choice(len(split.x_train), n_train, replace=False)
        test = rng.choice(len(split.x_test), n_test, replace=False)

        def scale(x):
            return (x[:, None].astype(np.float32) / np.float32(255.0))
        return scale(split.x_train[train]), split.y_train[train], scale(split.x_test[test]), \
            split.y_test[test]
    if source != "digits":
        raise ValueError(f"unknown source {source!r}")
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:1297], y[:1297], x[1297:], y[1297:]


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def mlp(source: str, seed: int = 0, hidden: int = 100, double: bool = False):
    """An untrained Flatten-Linear-ReLU-Linear classifier for ``source``'s images (eval mode)."""
    import torch
    side = 28 if source == "mnist" else 8
    with _one_thread():
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, hidden),
                                    torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    model.eval()
    return model.double() if double else model


class _one_thread:
    """Train with one torch thread, so that the grader and the child get the same weights."""

    def __enter__(self):
        import torch
        self.saved = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.saved)


def sgd_train(model, x, y, epochs: int, lr: float = 0.1, batch_size: int = 100, seed: int = 0,
              weight_decay: float = 0.0):
    """Plain (clean) minibatch SGD with momentum 0.9 on cross-entropy: the standard baseline."""
    import torch
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(x)).to(dtype)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    with _one_thread():
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(x), generator=generator).split(batch_size):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                optimizer.step()
        model.eval()
    return model


@lru_cache(maxsize=None)
def _standard_state(source: str, double: bool, n_train: int, epochs: int):
    model = mlp(source, 0, double=double)
    x, y = images(source)[:2]
    sgd_train(model, x[:n_train], y[:n_train], epochs)
    return {key: value.clone() for key, value in model.state_dict().items()}


def standard_mlp(source: str, double: bool = False, n_train: int = 5000, epochs: int = 3):
    """A standard (non-robust) MLP trained on clean images: about 95% test accuracy on MNIST,
    about 95% on digits; PGD at ε = 0.3 takes it to 0%."""
    model = mlp(source, 0, double=double)
    model.load_state_dict(_standard_state(source, double, n_train, epochs))
    return model.eval()


def standard_features(source: str):
    """The hidden layer (Flatten-Linear-ReLU) of ``standard_mlp(source, double=True)``: the
    feature extractor of the Poison Frogs checks, in float64."""
    return standard_mlp(source, double=True)[:3]


@lru_cache(maxsize=None)
def _softmax_state(source: str):
    import torch
    side = 28 if source == "mnist" else 8
    with _one_thread():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, 10)).double()
    x, y = images(source)[:2]
    sgd_train(model, x, y, epochs=5, lr=0.05)
    return {key: value.clone() for key, value in model.state_dict().items()}


def softmax_regression(source: str):
    """Multinomial logistic regression (Flatten-Linear, float64) trained on ``source``: the
    model-inversion target."""
    import torch
    side = 28 if source == "mnist" else 8
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, 10)).double()
    model.load_state_dict(_softmax_state(source))
    return model.eval()


MIA_MEMBERS = 100


def mia_split(source: str):
    """(members, nonmembers): MIA_MEMBERS (x, y) pairs each; members are the first training
    images (all the overfit model saw; part of the regularized model's training pool),
    non-members the first test images, which neither model saw."""
    x_train, y_train, x_test, y_test = images(source)
    n = MIA_MEMBERS
    return (x_train[:n].astype(np.float64), y_train[:n]), (x_test[:n].astype(np.float64),
                                                             y_test[:n])


@lru_cache(maxsize=None)
def _mia_state(source: str, kind: str):
    import torch
    (x, y), _ = mia_split(source)
    if kind == "overfit":
        # Wide, no regularisation, 200 epochs on 100 examples: training loss near 0.
        model = mlp(source, 1, hidden=256, double=True)
        sgd_train(model, x, y, epochs=200, lr=0.05, batch_size=25)
    elif kind == "regularized":
        # Weight decay, three epochs, and the whole training pool (the members among it): the
        # model generalises, so members and non-members have about the same losses.
        x_pool, y_pool = images(source)[:2]
        model = mlp(source, 1, hidden=256, double=True)
        sgd_train(model, x_pool.astype(np.float64), y_pool, epochs=3, lr=0.05, batch_size=50,
                  weight_decay=1e-3)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    del torch
    return {key: value.clone() for key, value in model.state_dict().items()}


def mia_model(source: str, kind: str):
    """The membership-inference targets, float64: 'overfit' or 'regularized' (see _mia_state)."""
    model = mlp(source, 1, hidden=256, double=True)
    model.load_state_dict(_mia_state(source, kind))
    return model.eval()


def predicate(kind: str, value: float):
    """A trusted predicate for laplace_count, built in the child: 'greater', 'less' or 'equal'."""
    def greater(x):
        return x > value

    def less(x):
        return x < value

    def equal(x):
        return x == value
    return {"greater": greater, "less": less, "equal": equal}[kind]


# ---------------------------------------------------------------------------------------------
# Reference attacks (the grader's own; checked against torchattacks in the tests)
# ---------------------------------------------------------------------------------------------

def _tensor(x, model):
    import torch
    return torch.as_tensor(np.asarray(x)).to(next(model.parameters()).dtype)


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


def reference_early_stopped_pgd(model, x, y, eps: float, alpha: float, steps: int, tau: int):
    """FAT's early-stopped PGD (Zhang et al. 2020, `earlystop` in their code), without random
    start: at iteration k = 0..steps-1 an example whose current iterate is misclassified stops
    (keeping that iterate) if its budget is 0, else spends one unit of its budget (initially
    tau) and steps on; a correctly classified one steps on. Returns (x_adv, steps_taken)."""
    import torch
    x = _tensor(x, model)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    x_adv = x.clone()
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


def predictions(model, x, batch: int = 2000) -> np.ndarray:
    import torch
    with torch.no_grad():
        x = _tensor(x, model)
        return np.concatenate([model(x[i:i + batch]).argmax(1).numpy()
                               for i in range(0, len(x), batch)])


def accuracy(model, x, y) -> float:
    return float(np.mean(predictions(model, x) == np.asarray(y)))


def per_example_loss(model, x, y) -> np.ndarray:
    """Cross-entropy of each example, (N,), with the model's dtype."""
    import torch
    with torch.no_grad():
        logits = model(_tensor(x, model))
        return torch.nn.functional.cross_entropy(
            logits, torch.as_tensor(np.asarray(y), dtype=torch.long), reduction="none").numpy()


def load_weights(model, weights: dict):
    """Load a {name: array} state (e.g. what a student's training returned) into ``model``."""
    import torch
    state = model.state_dict()
    missing = sorted(set(state) - set(weights))
    extra = sorted(set(weights) - set(state))
    if missing or extra:
        raise KeyError(f"missing {missing}, unexpected {extra}")
    model.load_state_dict({key: torch.as_tensor(np.asarray(weights[key])).to(state[key].dtype)
                           .reshape(state[key].shape) for key in state})
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Watching a training function: a model that records its forward calls
# ---------------------------------------------------------------------------------------------

TRACE_PREFIX = "trace."


def traced_mlp(source: str, seed: int = 0, snapshots: tuple = ()):
    """``mlp(source, seed)`` that records each forward call: the batch size, ``model.training``,
    whether the input requires grad (with grad enabled), and one fingerprint per input row
    (equal rows, equal fingerprints; Python's hash of the row's bytes).

    Minibatches are counted by train-mode calls. For each minibatch whose index is in
    ``snapshots``, it also keeps the weights and the input ("clean") at the minibatch's first
    eval-mode call, the input of its first eval-mode call with grad ("start", the attack's
    starting point), and the input of its train-mode call ("adv", the examples trained on). ``state_dict()`` carries the record under "trace." keys, so the notebook's
    ``weights_after`` returns it along with the weights; ``split_trace`` takes it apart.
    """
    model = _traced_class()(*mlp(source, seed), snapshots=snapshots)
    return model.eval()


@lru_cache(maxsize=None)
def _traced_class():
    import torch

    class TracedSequential(torch.nn.Sequential):
        def __init__(self, *modules, snapshots=()):
            super().__init__(*modules)
            self.calls: list[tuple[int, bool, bool]] = []
            self.rows: list[list[int]] = []
            self.snapshot_at = frozenset(int(i) for i in snapshots)
            self.snapshots: dict[int, dict] = {}
            self.updates = 0

        def forward(self, x):
            self._observe(x)
            return super().forward(x)

        def _observe(self, x) -> None:
            attack = bool(x.requires_grad and torch.is_grad_enabled())
            self.calls.append((len(x), bool(self.training), attack))
            flat = x.detach().cpu().numpy().reshape(len(x), -1)
            self.rows.append([hash(row.tobytes()) for row in flat])
            if not self.training and self.updates in self.snapshot_at:
                snapshot = self.snapshots.setdefault(self.updates, {})
                if not snapshot:
                    weights = torch.nn.Sequential.state_dict(self)
                    snapshot.update({"weights." + k: v.detach().cpu().clone()
                                     for k, v in weights.items()})
                    snapshot["clean"] = x.detach().cpu().clone()
                if attack and "start" not in snapshot:
                    snapshot["start"] = x.detach().cpu().clone()
            if self.training:
                snapshot = self.snapshots.get(self.updates)
                if snapshot is not None and "adv" not in snapshot:
                    snapshot["adv"] = x.detach().cpu().clone()
                self.updates += 1

        def state_dict(self, *args, **kwargs):
            state = super().state_dict(*args, **kwargs)
            if not args and not kwargs.get("prefix"):     # the top-level call, not a parent's
                state.update(self._trace())
            return state

        def load_state_dict(self, state_dict, *args, **kwargs):
            return super().load_state_dict({k: v for k, v in state_dict.items()
                                            if not k.startswith(TRACE_PREFIX)}, *args, **kwargs)

        def _trace(self) -> dict:
            calls = torch.tensor(self.calls, dtype=torch.long).reshape(-1, 3)
            trace = {"calls": calls,
                     "rows": torch.tensor([h for row in self.rows for h in row], dtype=torch.long)}
            for index, snapshot in self.snapshots.items():
                trace.update({f"snapshot.{index}.{k}": v for k, v in snapshot.items()})
            return {TRACE_PREFIX + k: v for k, v in trace.items()}

    return TracedSequential


@dataclass
class Trace:
    """What ``traced_mlp`` saw. P forward calls: ``batch`` (P,) sizes, ``training`` (P,) the
    model's mode, ``attack`` (P,) whether the input required grad; ``rows[i]`` (batch[i],) the
    row fingerprints of call i; ``snapshots[k]`` for minibatch k: "clean" (B, ...) the input of
    its first eval-mode call, "start" of its first attack call, "adv" of its train-mode call,
    and "weights" {name: array} at its first eval-mode call."""
    batch: np.ndarray
    training: np.ndarray
    attack: np.ndarray
    rows: list
    snapshots: dict


def split_trace(state: dict) -> tuple[dict, Trace | None]:
    """(weights, trace) from what ``weights_after`` returned for a ``traced_mlp``: trace is None
    when the state has no "trace." keys (the model trained was not the one given)."""
    weights = {k: v for k, v in state.items() if not k.startswith(TRACE_PREFIX)}
    record = {k[len(TRACE_PREFIX):]: np.asarray(v) for k, v in state.items()
              if k.startswith(TRACE_PREFIX)}
    if "calls" not in record:
        return weights, None
    calls = record["calls"].reshape(-1, 3).astype(np.int64)
    rows = np.split(record["rows"].astype(np.int64), np.cumsum(calls[:, 0])[:-1]) \
        if len(calls) else []
    snapshots: dict[int, dict] = {}
    for key, value in record.items():
        if key.startswith("snapshot."):
            _, index, name = key.split(".", 2)
            entry = snapshots.setdefault(int(index), {"weights": {}})
            if name.startswith("weights."):
                entry["weights"][name[len("weights."):]] = value
            else:
                entry[name] = value
    return weights, Trace(calls[:, 0], calls[:, 1].astype(bool), calls[:, 2].astype(bool), rows,
                          snapshots)


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

def collision_objective(features, p, target, base, beta: float) -> tuple[float, float, float]:
    """(J, feature distance ‖f(p) - f(t)‖₂, input distance ‖p - b‖₂) with
    J = ‖f(p) - f(t)‖² + β‖p - b‖²."""
    import torch
    with torch.no_grad():
        fp, ft = (features(_tensor(np.asarray(a)[None], features)) for a in (p, target))
    feature_distance = float((fp - ft).norm())
    input_distance = float(np.linalg.norm(np.asarray(p, dtype=np.float64) - base))
    return feature_distance ** 2 + beta * input_distance ** 2, feature_distance, input_distance


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
