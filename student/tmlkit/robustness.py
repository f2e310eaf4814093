"""Trusted models for Homework 5 (robustness, privacy, fairness), built in the student's process.

Models cross into the student's process as ``Build(robustness.standard_mlp, args)``: the child
trains them itself, deterministically (one torch thread, fixed seeds, float64 unless asked
otherwise), in about a second, from data that ``source`` names explicitly ("mnist" for a fixed
MNIST subset read from $TML_DATA_DIR, "digits" for scikit-learn's 8x8 digits), so the grader's copy
built the same way is the same model. Trained weights are kept per process (never on disk), and
every call returns a fresh model loaded from them, so a student's function that trains or modifies
its model cannot change the next check's. The notebook uses the same models and helpers.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tmlkit import data

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


@cache
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


@cache
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


@cache
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


def traced_softmax_regression(source: str, record):
    """``softmax_regression(source)`` that reports each forward pass taken with a gradient to
    the input: ``record("input", x)`` with the input as an array, and, once the gradient of the
    caller's objective with respect to that input *through the model* is known,
    ``record("grad", g)``. ``record`` is the grader's (a callback): the model-inversion checks
    see each gradient step, not only the image it ends at."""
    import torch

    class TracedRegression(torch.nn.Sequential):
        def forward(self, x):
            if x.requires_grad and torch.is_grad_enabled():
                record("input", x.detach().cpu().numpy())
                # A fresh alias per pass: its hook fires once, with this pass's gradient, even
                # when the caller passes the same leaf tensor on every step.
                x = x.view_as(x)
                x.register_hook(lambda g: _report(record, g))
            return super().forward(x)

    model = softmax_regression(source)
    return TracedRegression(*model).eval()


def _report(record, gradient) -> None:
    record("grad", gradient.detach().cpu().numpy())


MIA_MEMBERS = 100


def mia_split(source: str):
    """(members, nonmembers): MIA_MEMBERS (x, y) pairs each; members are the first training
    images (all the overfit model saw; part of the regularized model's training pool),
    non-members the first test images, which neither model saw."""
    x_train, y_train, x_test, y_test = images(source)
    n = MIA_MEMBERS
    return (x_train[:n].astype(np.float64), y_train[:n]), (x_test[:n].astype(np.float64),
                                                             y_test[:n])


@cache
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


def collision_objective(features, p, target, base, beta: float) -> tuple[float, float, float]:
    """Poison Frogs' objective of a poison p: (J, feature distance ‖f(p) - f(t)‖₂, input
    distance ‖p - b‖₂) with J = ‖f(p) - f(t)‖² + β‖p - b‖²."""
    import torch
    with torch.no_grad():
        fp, ft = (features(_tensor(np.asarray(a)[None], features)) for a in (p, target))
    feature_distance = float((fp - ft).norm())
    input_distance = float(np.linalg.norm(np.asarray(p, dtype=np.float64) - base))
    return feature_distance ** 2 + beta * input_distance ** 2, feature_distance, input_distance


def _tensor(x, model):
    import torch
    return torch.as_tensor(np.asarray(x)).to(next(model.parameters()).dtype)


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
    starting point), and the input of its train-mode call ("adv", the examples trained on).
    ``state_dict()`` carries the record under "trace." keys, so the notebook's
    ``weights_after`` returns it along with the weights; ``split_trace`` takes it apart.
    """
    model = _traced_class()(*mlp(source, seed), snapshots=snapshots)
    return model.eval()


@cache
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
