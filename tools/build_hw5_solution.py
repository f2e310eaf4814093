"""Write solutions/hw5_robustness_privacy.ipynb, the reference solution of Homework 5, from the
cell sources below.

    python tools/build_hw5_solution.py          # (re)write the notebook
    python tools/build_hw5_solution.py --check  # exit 1 if the committed notebook differs

The notebook is saved without outputs. Solution cells carry nbgrader metadata and
``### BEGIN SOLUTION`` / ``<!-- BEGIN SOLUTION -->`` markers; ``python -m autograder release``
turns them into the student notebook. Cell ids are fixed so that the output is reproducible.
"""
from __future__ import annotations

import sys

from notebook_builder import NotebookBuilder

BUILDER = NotebookBuilder("hw5", "hw5_robustness_privacy.ipynb")
md, code, solution = BUILDER.md, BUILDER.code, BUILDER.solution
written, selfcheck = BUILDER.written, BUILDER.selfcheck


# =============================================================================================
# Introduction and set-up
# =============================================================================================

md("intro", r"""
# Homework 5: Security and privacy of machine learning

A model can be attacked at test time, at training time, and through what it reveals about its
data; it can also treat groups of people differently. This homework touches each of these:

* **Part 1: evasion attacks and adversarial training.** FGSM and PGD (L∞ and L2, untargeted and
  targeted, cross-entropy or Carlini–Wagner margin loss); Madry's adversarial training (AT)
  and Friendly Adversarial Training (FAT), which stops the inner attack early.
* **Part 2: poisoning.** Random label flipping, and a clean-label "Poison Frogs" feature
  collision.
* **Part 3: privacy.** Randomized response and the Laplace mechanism (differential privacy),
  a loss-threshold membership-inference attack, and model inversion.
* **Part 4: fairness.** Demographic parity, equal opportunity and equalized odds, measured on
  a small real dataset.
* **Written (e):** an ML application of your choice and its trust issues.

### How grading works

* **Functions are graded one by one** by an autograder that does *not* run your notebook: it
  keeps the imports, function and class definitions and constants (`UPPER_CASE = ...`) of your
  code cells, then calls your functions on its own inputs. Keep every function's **name and
  signature** as given, and never use a variable computed elsewhere in the notebook inside a
  function.
* Models given to your functions by the grader are small PyTorch classifiers that it trains
  itself (on MNIST, or on scikit-learn's 8×8 digits where no MNIST copy is at hand); images
  arrive as numpy arrays of shape `(N, 1, H, W)` in $[0, 1]$. Your functions should accept
  numpy arrays *or* tensors (the helper `to_tensor` below converts) and may return either.
* Replace every `raise NotImplementedError()` with your code. You may add helper functions.
* **Written questions (a) to (e)** go in the cells marked *Your answer*; they are graded by
  hand.
* **Self-checks:** the cells `selfcheck("hw5", ...)` run the autograder's public checks on
  your functions. Hidden checks use fresh images, parameters and seeds.

The notebook runs on a CPU in about 10 to 15 minutes, most of it the adversarial training of
Part 1 (which uses a reduced model, data and number of epochs, said where it happens); with a GPU it trains on CIFAR-10
instead. `TML_QUICK=1` makes everything tiny (the course uses it for automated tests).
""")

BUILDER.setup()

code("imports", """
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm
""")

code("kit_imports", """
from tmlkit import data
from tmlkit import robustness
from tmlkit.selfcheck import selfcheck
""")

code("constants", """
QUICK = os.environ.get("TML_QUICK") == "1"   # tiny data and budgets, for automated runs
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
torch.set_num_threads(min(4, os.cpu_count() or 1))
print("device:", DEVICE, "| quick mode:", QUICK)
""")

md("helpers_intro", r"""
### Given helpers

`to_tensor` turns an array or tensor into a float tensor of the model's dtype, on the model's
device; `to_labels` does the same for integer labels. `weights_after` is how the grader reads
the result of your training functions (a model cannot leave your process, its weights can):
do not change it.
""")

code("helpers", '''
def to_tensor(x, model):
    """x (numpy array or tensor) as a tensor with the dtype and device of model's parameters."""
    parameter = next(model.parameters())
    return torch.as_tensor(x).to(device=parameter.device, dtype=parameter.dtype)


def to_labels(y, model):
    """Integer labels (array or tensor) as a long tensor on the model's device."""
    return torch.as_tensor(y).to(device=next(model.parameters()).device, dtype=torch.long)


def weights_after(training, model, x, y, **kwargs):
    """Train `model` in place with your function named `training` and return its weights as
    numpy arrays (used by the grader)."""
    functions = {"adversarial_training": adversarial_training,
                 "friendly_adversarial_training": friendly_adversarial_training}
    trained = functions[training](model, x, y, **kwargs)
    trained = model if trained is None else trained
    return {name: value.detach().cpu().numpy() for name, value in trained.state_dict().items()}
''')

# =============================================================================================
# Part 1: data and models
# =============================================================================================

md("data_intro", r"""
## Part 1: Evasion attacks and adversarial training

### Data and the SmallCNN

On a CPU we use MNIST (28×28 grey digits, pixel values scaled to $[0, 1]$); with a GPU we use
CIFAR-10 (32×32 colour). Locally the kit reads its offline copies (`$TML_DATA_DIR`); in Colab it
downloads them with torchvision. If neither works, the CPU path falls back to scikit-learn's
8×8 digits, which ship with scikit-learn.

The network is the **SmallCNN** of the FAT paper: three blocks, each two 3×3 convolutions with
batch normalisation and ReLU followed by a 2×2 max-pool, with 64, 128 and 196 channels, then
a hidden layer of 256 units and the 10 class scores. `in_channels=1` gives the MNIST variant;
`width` scales the channel counts (we use an eighth of the width on a CPU).
""")

code("load_data", """
USE_CIFAR = DEVICE == "cuda" and not QUICK
try:
    split = data.load_cifar10() if USE_CIFAR else data.load_mnist()
    DATASET = "CIFAR-10" if USE_CIFAR else "MNIST"
    x_all = split.x_train.astype(np.float32) / 255.0
    x_all_test = split.x_test.astype(np.float32) / 255.0
    if USE_CIFAR:
        x_all, x_all_test = x_all.transpose(0, 3, 1, 2), x_all_test.transpose(0, 3, 1, 2)
    else:
        x_all, x_all_test = x_all[:, None], x_all_test[:, None]
    y_all, y_all_test = split.y_train, split.y_test
except data.DataUnavailable as error:
    print("No MNIST:", error, "-> scikit-learn's 8x8 digits")
    DATASET = "digits"
    x_all, y_all, x_all_test, y_all_test = robustness.images("digits")

# Reduced data on a CPU (see the table below for what this costs).
n_train = 20_000 if USE_CIFAR else (600 if QUICK else 3_000)
n_test = 2_000 if USE_CIFAR else (200 if QUICK else 1_000)
rng = np.random.default_rng(0)
train_index = rng.permutation(len(x_all))[:n_train]
test_index = rng.permutation(len(x_all_test))[:n_test]
x_train, y_train = x_all[train_index], y_all[train_index]
x_test, y_test = x_all_test[test_index], y_all_test[test_index]
print(f"{DATASET}: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")
""")

code("small_cnn", '''
class SmallCNN(nn.Module):
    """FAT's SmallCNN: 3 blocks of (conv-BN-ReLU) x 2 + max-pool with 64, 128, 196 channels
    (times `width`), then Linear(., 256)-ReLU-Linear(256, 10). Input (N, in_channels, side, side)."""

    def __init__(self, in_channels=3, side=32, num_classes=10, width=1.0):
        super().__init__()
        channels = [max(4, round(c * width)) for c in (64, 128, 196)]
        layers, previous = [], in_channels
        for c in channels:
            layers += [nn.Conv2d(previous, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d(2)]
            previous = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(previous * (side // 8) ** 2, 256),
                                        nn.ReLU(), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def make_model(seed=0):
    torch.manual_seed(seed)
    side, channels = x_train.shape[-1], x_train.shape[1]
    width = 1.0 if DEVICE == "cuda" else 0.125
    return SmallCNN(channels, side, 10, width).to(DEVICE)


print(make_model())
''')

# =============================================================================================
# 1.1 FGSM
# =============================================================================================

md("ex_fgsm", r"""
### Exercise 1.1: FGSM

The fast gradient sign method takes one step of size $\varepsilon$ in the direction that
increases the loss fastest under an $L_\infty$ budget:

$$x_{adv} = \operatorname{clip}_{[0,1]}\big(x + \varepsilon\,\operatorname{sign}(\nabla_x
\,\ell(f(x), y))\big),$$

with $\ell$ the cross-entropy of the true labels. Implement `fgsm(model, x, y, eps)` for a
batch `x` of shape `(N, C, H, W)` and labels `y` of shape `(N,)`. The model is in eval mode
(do not change it); only the input is differentiated.
""")

solution("fgsm", '''
def fgsm(model, x, y, eps):
    """One-step L-infinity attack: clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)."""
    ### BEGIN SOLUTION
    x, y = to_tensor(x, model), to_labels(y, model)
    x_var = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x_var), y), x_var)
    return (x + eps * grad.sign()).clamp(0, 1).detach()
    ### END SOLUTION
''')

selfcheck("1.1")

# =============================================================================================
# 1.2 PGD
# =============================================================================================

md("ex_pgd", r"""
### Exercise 1.2: PGD, L∞ and L2, untargeted and targeted, two losses

Projected gradient descent (Madry et al.) repeats small steps and projects back after each:

* start at $x^0 = x$, or with `random_start=True` at a random point of the ε-ball (uniform in
  the L∞ box; for L2 any random point of the ball), clipped to $[0, 1]$;
* step: L∞: $x' = x^k + \alpha\,\operatorname{sign}(g)$; L2: $x' = x^k + \alpha\, g /
  \lVert g\rVert_2$ (per example), where $g = \nabla_x$ of the loss at $x^k$;
* project: L∞: clamp $x'$ into $[x - \varepsilon, x + \varepsilon]$; L2: rescale
  $\delta = x' - x$ by $\min(1, \varepsilon / \lVert\delta\rVert_2)$; then clip to $[0, 1]$.

**Untargeted** (`targeted=False`): `y` holds the true labels and we *ascend* their loss.
**Targeted** (`targeted=True`): `y` holds the labels we want the model to output, and we
*descend* their loss (step with $-g$).

The loss is the cross-entropy (`loss="ce"`) or the Carlini–Wagner **margin**
(`loss="cw"`): `cw_loss(logits, y)` returns, per example, $\max_{j \ne y} z_j - z_y$ (positive
exactly when the example is misclassified); PGD ascends its sum. The margin does not saturate
the way the softmax does, which makes it a stronger loss against some defences.

Implement `cw_loss(logits, y)` (shape `(N,)`) and `pgd_attack(model, x, y, eps, alpha, steps,
random_start=True, norm="linf", targeted=False, loss="ce")`. The checks verify that every
`x_adv` is in the ball and in $[0, 1]$ (exactly: the only tolerance is float rounding of the
projection, 4 units in the last place), and compare the accuracy your attack leaves with
the grader's own PGD.
""")

solution("pgd", '''
def cw_loss(logits, y):
    """Carlini-Wagner margin per example: max_{j != y} z_j - z_y, shape (N,)."""
    ### BEGIN SOLUTION
    logits = torch.as_tensor(logits)
    y = torch.as_tensor(y).to(device=logits.device, dtype=torch.long)
    true = logits.gather(1, y[:, None])[:, 0]
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.max(dim=1).values - true
    ### END SOLUTION


def _per_example_l2(t):
    """The L2 norm of each example of a batch, shaped to broadcast against the batch."""
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def pgd_attack(model, x, y, eps, alpha, steps, random_start=True, norm="linf", targeted=False,
               loss="ce"):
    """Projected gradient ascent (descent if targeted) on the loss within the eps-ball of x, in [0, 1]."""
    ### BEGIN SOLUTION
    x, y = to_tensor(x, model), to_labels(y, model)
    x_adv = x.clone()
    if random_start:
        if norm == "linf":
            x_adv = x + torch.empty_like(x).uniform_(-eps, eps)
        else:
            direction = torch.randn_like(x)
            radius = eps * torch.rand(len(x), device=x.device, dtype=x.dtype)
            x_adv = x + direction / _per_example_l2(direction) * radius.view(-1, *[1] * (x.dim() - 1))
        x_adv = x_adv.clamp(0, 1)
    direction = -1.0 if targeted else 1.0
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        logits = model(x_adv)
        objective = F.cross_entropy(logits, y, reduction="sum") if loss == "ce" else \\
            cw_loss(logits, y).sum()
        (grad,) = torch.autograd.grad(objective, x_adv)
        with torch.no_grad():
            if norm == "linf":
                x_adv = x_adv + direction * alpha * grad.sign()
                x_adv = torch.min(torch.max(x_adv, x - eps), x + eps)
            else:
                x_adv = x_adv + direction * alpha * grad / _per_example_l2(grad)
                delta = x_adv - x
                x_adv = x + delta * torch.clamp(eps / _per_example_l2(delta), max=1.0)
            x_adv = x_adv.clamp(0, 1)
    return x_adv.detach()
    ### END SOLUTION
''')

selfcheck("1.2")

# =============================================================================================
# 1.3 Early-stopped PGD
# =============================================================================================

md("ex_fat_pgd", r"""
### Exercise 1.3: FAT's early-stopped PGD

Friendly Adversarial Training (Zhang et al., 2020) trains on adversarial examples that are
*just* past the decision boundary rather than as far as PGD can push them. Its inner attack
stops each example early. With a budget $\tau$ per example, for iterations $k = 0, 1, \dots,$
`steps` − 1, look at the current iterate $x^k$ of each example that is still running:

* if the model **misclassifies** $x^k$ and the example's remaining budget is 0, it **stops**:
  its result is $x^k$ and it took $k$ steps;
* if it misclassifies $x^k$ with budget left, the budget drops by one and it takes the step;
* if it classifies $x^k$ correctly, it takes the step.

A step is an L∞ PGD step on the cross-entropy (no random start), projected onto the ball
and $[0, 1]$. With $\tau = 0$ an example stops at its first misclassified iterate; with
$\tau > 0$ it goes $\tau$ misclassified steps further. Examples that never stop take all
`steps` steps.

Implement `early_stopped_pgd(model, x, y, eps, alpha, steps, tau)` returning the pair
`(x_adv, steps_taken)`, with `steps_taken` an integer array of shape `(N,)`. (Each example's
gradient must not depend on the others': the model is in eval mode.)
""")

solution("early_stopped_pgd", '''
def early_stopped_pgd(model, x, y, eps, alpha, steps, tau):
    """FAT's early-stopped L-infinity PGD. Returns (x_adv, steps_taken), steps_taken of shape (N,)."""
    ### BEGIN SOLUTION
    x, y = to_tensor(x, model), to_labels(y, model)
    x_adv = x.clone()
    budget = torch.full((len(x),), int(tau), device=x.device)
    running = torch.ones(len(x), dtype=torch.bool, device=x.device)
    taken = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for _ in range(steps):
        x_var = x_adv.clone().requires_grad_(True)
        logits = model(x_var)
        wrong = logits.argmax(dim=1) != y
        running &= ~(wrong & (budget == 0))
        budget -= (running & wrong).long()
        if not running.any():
            break
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x_var)
        with torch.no_grad():
            stepped = torch.min(torch.max(x_adv + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
            x_adv[running] = stepped[running]
        taken += running.long()
    return x_adv.detach(), taken.cpu().numpy()
    ### END SOLUTION
''')

selfcheck("1.3")

# =============================================================================================
# 1.4 Adversarial training and FAT
# =============================================================================================

md("ex_at", r"""
### Exercise 1.4: adversarial training (Madry) and FAT

Madry's adversarial training solves $\min_\theta \mathbb{E}\,\max_{\lVert\delta\rVert_\infty
\le \varepsilon} \ell(f_\theta(x + \delta), y)$: for every minibatch, craft PGD examples
(inner maximisation, the model in **eval** mode), then take an optimiser step on their loss
(outer minimisation, **train** mode). FAT replaces the inner PGD by `early_stopped_pgd` with
budget $\tau$.

Implement

* `adversarial_training(model, x, y, eps, alpha, steps, epochs=5, batch_size=128, lr=0.1, seed=0)`
* `friendly_adversarial_training(model, x, y, eps, alpha, steps, tau, epochs=5, batch_size=128, lr=0.1, seed=0)`

Both train `model` **in place** and return it. Use `torch.optim.SGD(model.parameters(), lr,
momentum=0.9)` and cross-entropy on the adversarial batch with the true labels; shuffle with
`torch.Generator().manual_seed(seed)`; the inner PGD uses `random_start=True` for AT. `x` and
`y` may be numpy arrays (keep them on the CPU and move each batch to the model's device).
The grader trains a small model of its own for a few seconds with each function and attacks
it with its own PGD: the result must be clearly more robust than the same model trained for
the same time on clean images.
""")

solution("adversarial_training", '''
def _batches(n, batch_size, seed, epochs):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        yield from torch.randperm(n, generator=generator).split(batch_size)


def adversarial_training(model, x, y, eps, alpha, steps, epochs=5, batch_size=128, lr=0.1, seed=0):
    """Madry's PGD adversarial training, in place; returns the model."""
    ### BEGIN SOLUTION
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    torch.manual_seed(seed)
    for batch in _batches(len(x), batch_size, seed, epochs):
        xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
        model.eval()
        x_adv = pgd_attack(model, xb, yb, eps, alpha, steps, random_start=True)
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x_adv), yb).backward()
        optimizer.step()
    model.eval()
    return model
    ### END SOLUTION


def friendly_adversarial_training(model, x, y, eps, alpha, steps, tau, epochs=5, batch_size=128,
                                  lr=0.1, seed=0):
    """FAT: adversarial training on early-stopped PGD examples (budget tau), in place."""
    ### BEGIN SOLUTION
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    torch.manual_seed(seed)
    for batch in _batches(len(x), batch_size, seed, epochs):
        xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
        model.eval()
        x_adv, _ = early_stopped_pgd(model, xb, yb, eps, alpha, steps, tau)
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x_adv), yb).backward()
        optimizer.step()
    model.eval()
    return model
    ### END SOLUTION
''')

selfcheck("1.4")

md("table_intro", r"""
### Robust accuracy: standard training, AT and FAT

We train one standard SmallCNN and, for each $\varepsilon$, one AT and one FAT model with
$\varepsilon_{train} = \varepsilon_{test}$, then attack each with FGSM and PGD-20
($\alpha = \varepsilon / 4$, random start).

**What is reduced on a CPU (MNIST).** An eighth of the channels (8/16/24), 3,000 training
images, 3 epochs (batches of 64), and a 3-step inner PGD ($\alpha = \varepsilon / 2$, $\tau = 1$ for FAT)
instead of the papers' full data, tens of epochs and 40 steps; natural accuracy is measured on
1,000 test images and the attacks on 200 of them, so the numbers are far below the
papers' (Madry's MNIST model keeps about 89% at ε = 0.3); the *ordering* is what to look at.
With a GPU: full width, 20,000 CIFAR-10 images, 5 epochs, PGD-10 with $\alpha = 2/255$
(about 25 minutes on a T4 by our estimate, not measured; the papers train for about 100 epochs).
""")

code("train_all", """
def evaluate(model, x, y, attack=None, batch=500):
    \"\"\"Accuracy on (x, y), optionally after attack(model, xb, yb).\"\"\"
    model.eval()
    correct = 0
    for start in range(0, len(x), batch):
        xb, yb = to_tensor(x[start:start + batch], model), to_labels(y[start:start + batch], model)
        if attack is not None:
            xb = attack(model, xb, yb)
        with torch.no_grad():
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / len(x)


def standard_training(model, x, y, epochs, batch_size=128, lr=0.1, seed=0):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for batch in _batches(len(x), batch_size, seed, epochs):
        xb, yb = to_tensor(x[batch], model), to_labels(y[batch], model)
        optimizer.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    return model.eval()


if USE_CIFAR:
    EPSILONS, EPOCHS, TRAIN_STEPS, LR = (2 / 255, 4 / 255, 8 / 255), 5, 10, 0.05
else:
    EPSILONS, EPOCHS, TRAIN_STEPS, LR = ((0.3,) if QUICK else (0.1, 0.2, 0.3)), (1 if QUICK else 3), \
        (2 if QUICK else 3), 0.05
TAU = 1
BATCH = 128 if USE_CIFAR else 64     # small batches: more steps for the CPU budget
x_fit, y_fit = (x_train[:300], y_train[:300]) if QUICK else (x_train, y_train)


def train_alpha(eps):
    return 2 / 255 if USE_CIFAR else eps / 2


models, train_seconds = {}, {}
started = time.perf_counter()
models["standard"] = standard_training(make_model(), x_fit, y_fit, EPOCHS, BATCH, lr=LR)
train_seconds["standard"] = time.perf_counter() - started
for eps in tqdm(EPSILONS, desc="AT and FAT"):
    for name, train in (("AT", lambda m: adversarial_training(m, x_fit, y_fit, eps, train_alpha(eps),
                                                               TRAIN_STEPS, EPOCHS, BATCH, lr=LR)),
                        ("FAT", lambda m: friendly_adversarial_training(
                            m, x_fit, y_fit, eps, train_alpha(eps), TRAIN_STEPS, TAU, EPOCHS, BATCH,
                            lr=LR))):
        started = time.perf_counter()
        models[name, eps] = train(make_model())
        train_seconds[name, eps] = time.perf_counter() - started
print(f"training time on {DEVICE}: {sum(train_seconds.values()):.0f} s in all; " +
      ", ".join(f"{k if isinstance(k, str) else f'{k[0]} ε={k[1]:.3g}'} {v:.0f} s"
                for k, v in train_seconds.items()))
""")

code("robust_table", """
def pgd20(eps):
    return lambda m, xb, yb: pgd_attack(m, xb, yb, eps, eps / 4, 20)


def fgsm_at(eps):
    return lambda m, xb, yb: fgsm(m, xb, yb, eps)


rows = []
x_eval, y_eval = (x_test[:50], y_test[:50]) if QUICK else (x_test[:200], y_test[:200])   # attacks are slow
for eps in EPSILONS:
    for name, model in (("standard", models["standard"]), ("AT", models["AT", eps]),
                        ("FAT", models["FAT", eps])):
        rows.append((eps, name, evaluate(model, x_test, y_test), evaluate(model, x_eval, y_eval, fgsm_at(eps)),
                     evaluate(model, x_eval, y_eval, pgd20(eps))))
print(f"{DATASET}, ε_train = ε_test; natural accuracy on {len(x_test)} test images, "
      f"FGSM and PGD-20 on {len(x_eval)}")
print(f"{'ε':>7} {'model':>9} {'natural':>8} {'FGSM':>7} {'PGD-20':>7}")
for eps, name, natural, under_fgsm, under_pgd in rows:
    print(f"{eps:7.3g} {name:>9} {natural:8.1%} {under_fgsm:7.1%} {under_pgd:7.1%}")
""")

code("adv_figure", """
eps_show = EPSILONS[-1]
model = models["standard"]
xb, yb = to_tensor(x_test[:6], model), to_labels(y_test[:6], model)
shown = {"FGSM": fgsm(model, xb, yb, eps_show), "PGD-20": pgd_attack(model, xb, yb, eps_show, eps_show / 4, 20)}
fig, axes = plt.subplots(5, 6, figsize=(10, 8.5))
with torch.no_grad():
    clean_pred = model(xb).argmax(1).cpu()
    preds = {k: model(v).argmax(1).cpu() for k, v in shown.items()}


def show(ax, image, title, cmap=None):
    image = image.detach().cpu().numpy()
    ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap=cmap)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


for i in range(6):
    show(axes[0, i], xb[i], f"clean: {clean_pred[i].item()}", "gray")
    for row, (name, adv) in enumerate(shown.items()):
        show(axes[1 + 2 * row, i], adv[i], f"{name}: {preds[name][i].item()}", "gray")
        perturbation = ((adv[i] - xb[i]) / (2 * eps_show) + 0.5).clamp(0, 1)   # -ε..ε -> 0..1
        show(axes[2 + 2 * row, i], perturbation, f"{name} δ", "seismic")
fig.suptitle(f"Adversarial examples against the standard model, ε = {eps_show:.3g} (predicted labels)")
plt.tight_layout()
plt.show()
""")

written("written_a", r"""
### Written (a): reading the table

Compare the three models at each $\varepsilon$. What does adversarial training cost in
natural accuracy, and what does FAT change? Why is FGSM accuracy above PGD accuracy, and
what would it mean if it were the other way round for a defended model?
""", r"""
The standard model is accurate on clean images but PGD takes it to (nearly) 0% already at the
smallest $\varepsilon$: its decision boundary is within a few grey levels of most images. AT
buys robust accuracy at the price of natural accuracy, and the price grows with
$\varepsilon$: the model must be constant on a larger ball around every training image, so
it fits the clean data less well (and in our reduced CPU run it is also under-trained, so the
drop is larger than in the papers). FAT trains on examples that are only just misclassified,
so the boundary moves less violently: in the papers (and usually here) it keeps more natural
accuracy than AT for a similar or slightly lower PGD accuracy.

PGD is a stronger attack than FGSM (FGSM is PGD with one step of size $\varepsilon$), so
accuracy under PGD should be at most that under FGSM. If a defended model were *more*
accurate under PGD than under FGSM, or accurate under PGD but not under a random or
black-box attack, its gradients would be misleading the iterative attack: gradient masking or
obfuscation, a sign that the robustness is illusory and would fall to an adaptive attack
(e.g. more random restarts, the CW loss, or a transfer attack).
""")

# =============================================================================================
# Part 2: Poisoning
# =============================================================================================

md("poison_intro", r"""
## Part 2: Poisoning

### Exercise 2.1: label flipping

`flip_labels(y, rate, rng, num_classes=None)` returns a copy of the integer labels `y` in which
exactly `round(rate * len(y))` positions, chosen uniformly without replacement, get a new
label drawn uniformly among the *other* classes (`num_classes` defaults to `max(y) + 1`).
`rng` is a seed or a `numpy.random.Generator`: use `np.random.default_rng(rng)`, which accepts
both, and draw everything from it.
""")

solution("flip_labels", '''
def flip_labels(y, rate, rng, num_classes=None):
    """Copy of y with exactly round(rate * n) labels changed, each to a uniformly drawn other class."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(rng)
    y = np.asarray(y).copy()
    num_classes = int(y.max()) + 1 if num_classes is None else int(num_classes)
    chosen = rng.choice(len(y), size=round(rate * len(y)), replace=False)
    shift = rng.integers(1, num_classes, size=len(chosen))     # never 0: another class
    y[chosen] = (y[chosen] + shift) % num_classes
    return y
    ### END SOLUTION
''')

selfcheck("2.1")

md("flip_curve_intro", r"""
The curve below trains a multinomial logistic regression (scikit-learn) on the training
images with a growing share of flipped labels and measures its accuracy on the **clean**
test set.
""")

code("flip_curve", """
from sklearn.linear_model import LogisticRegression

flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
n_fit = 300 if QUICK else 3000
rates = [0.0, 0.4, 0.8] if QUICK else [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
curve = []
for rate in tqdm(rates, desc="flip rates"):
    noisy = flip_labels(y_train[:n_fit], rate, 0, num_classes=10)
    classifier = LogisticRegression(max_iter=100, C=0.1).fit(flat_train[:n_fit], noisy)
    curve.append(classifier.score(flat_test, y_test))
plt.figure(figsize=(5, 3.4))
plt.plot(rates, curve, "o-")
plt.axhline(0.1, color="grey", ls=":", label="chance")
plt.xlabel("share of flipped training labels")
plt.ylabel("clean test accuracy")
plt.title(f"Label flipping ({DATASET}, logistic regression, {n_fit} images)")
plt.legend()
plt.show()
print(", ".join(f"{r:.0%}: {a:.1%}" for r, a in zip(rates, curve)))
""")

md("ex_collision", r"""
### Exercise 2.2: a clean-label feature collision (Poison Frogs)

Shafahi et al. (2018) poison a model that is fine-tuned on top of a fixed feature extractor
$f$. The attacker picks a *target* test image $t$ (to be misclassified) and a *base* image $b$
of another class, and crafts a poison $p$ that looks like $b$ (so a human labels it with $b$'s
class) but whose features collide with $t$'s:

$$p = \arg\min_{p \in [0,1]^d} \; \lVert f(p) - f(t)\rVert_2^2 + \beta\,\lVert p - b\rVert_2^2 .$$

Use their forward-backward splitting, starting from $p = b$, for `steps` iterations:

1. forward (gradient) step on the feature term: $p \leftarrow p - \text{lr}\,\nabla_p
   \lVert f(p) - f(t)\rVert^2$;
2. backward (proximal) step on the distance term: $p \leftarrow (p + \text{lr}\,\beta\, b) /
   (1 + \text{lr}\,\beta)$;
3. clip $p$ to $[0, 1]$.

Implement `feature_collision_poison(feature_extractor, x_target, x_base, beta, steps, lr=0.01)`
for single images `x_target`, `x_base` of shape `(C, H, W)`; return the poison, same shape.
""")

solution("feature_collision_poison", '''
def feature_collision_poison(feature_extractor, x_target, x_base, beta, steps, lr=0.01):
    """Poison Frogs: argmin_p ||f(p) - f(t)||^2 + beta ||p - b||^2 by forward-backward splitting."""
    ### BEGIN SOLUTION
    t = to_tensor(x_target, feature_extractor)[None]
    b = to_tensor(x_base, feature_extractor)[None]
    with torch.no_grad():
        target_features = feature_extractor(t)
    p = b.clone()
    for _ in range(steps):
        p.requires_grad_(True)
        (grad,) = torch.autograd.grad(((feature_extractor(p) - target_features) ** 2).sum(), p)
        with torch.no_grad():
            p = p - lr * grad
            p = (p + lr * beta * b) / (1 + lr * beta)
            p = p.clamp(0, 1)
    return p.detach()[0]
    ### END SOLUTION
''')

selfcheck("2.2")

md("collision_demo_intro", r"""
**Does it work?** A small transfer-learning demonstration: the feature extractor is the hidden
layer of a fixed MLP (trained by the kit, `robustness.standard_features`); the victim trains
only a logistic-regression head on those features, on 200 clean training images plus **one**
poison labelled with its base's class. The attack succeeds if the head then puts the target
in the base's class. We try several (target, base) pairs, each with a fresh head, and report
the success rate as measured, together with the rate at which the clean head already made
that mistake.
""")

code("collision_demo", """
source = "mnist" if DATASET == "MNIST" else "digits"
extractor = robustness.standard_features(source)
px_train, py_train, px_test, py_test = robustness.images(source)
setting = dict(beta=1.0 if source == "mnist" else 2.0, steps=200, lr=0.01)   # as in the checks


def head_features(x):
    with torch.no_grad():
        return extractor(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


clean_x, clean_y = px_train[:200], py_train[:200]
clean_head = LogisticRegression(max_iter=2000, C=100).fit(head_features(clean_x), clean_y)
pairs = 4 if QUICK else 20
pair_rng = np.random.default_rng(1)
wins, already = 0, 0
for _ in tqdm(range(pairs), desc="poison pairs"):
    t_index = int(pair_rng.integers(len(px_test)))
    b_index = int(pair_rng.choice(np.flatnonzero(py_train[200:] != py_test[t_index]))) + 200
    target, base, base_class = px_test[t_index], px_train[b_index], py_train[b_index]
    poison = np.asarray(feature_collision_poison(extractor, target, base, **setting))
    head = LogisticRegression(max_iter=2000, C=100).fit(
        head_features(np.concatenate([clean_x, poison[None]])), np.r_[clean_y, base_class])
    wins += head.predict(head_features(target[None]))[0] == base_class
    already += clean_head.predict(head_features(target[None]))[0] == base_class
print(f"one poison among 200 clean images: target classified as the base's class in "
      f"{wins}/{pairs} pairs ({wins / pairs:.0%}); without the poison: {already}/{pairs}")
fig, axes = plt.subplots(1, 3, figsize=(6, 2.3))
for ax, image, title in zip(axes, (base, poison, target), ("base", "poison", "target")):
    ax.imshow(np.asarray(image)[0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()
""")

written("written_b", r"""
### Written (b): poisoning

Why is a feature collision called *clean-label*, and why does it threaten transfer learning
more than training from scratch? What does the flip-rate curve say about random label noise
as an attack?
""", r"""
The poison is labelled correctly by anyone who looks at it: it is the base image plus a small
perturbation, carrying the base's true label, so inspecting the labels of the training set
finds nothing. The attack works through the features instead: in feature space the poison
sits on top of the target, so a head trained to call the poison "base class" draws its
boundary around the target too. With a frozen feature extractor, the features are exactly
those the attacker optimised against; when the whole network is trained from scratch, the
features move during training and a single collision rarely survives (Shafahi et al. needed
watermarking and many poisons end to end).

Random label flipping is a weak, untargeted attack: the flipped labels are spread over all
classes, so for each class the correct label stays the plurality until a large share of the
labels is flipped, and the clean test accuracy degrades slowly at first and then collapses
(towards chance as the rate approaches $(C-1)/C = 90\%$). A targeted adversary, flipping
labels near the decision boundary or of one class towards another, does much more damage per
flipped label.
""")

# =============================================================================================
# Part 3: Privacy
# =============================================================================================

md("rr_intro", r"""
## Part 3: Privacy

### Exercise 3.1: randomized response

A survey asks a sensitive yes/no question. Each person flips a fair coin: on heads they answer
truthfully; on tails they flip a second coin and answer "yes" on heads, "no" on tails. So
$P(\text{yes} \mid \text{truth yes}) = 3/4$ and $P(\text{yes} \mid \text{truth no}) = 1/4$,
and if a share $p$ of the population would truly say yes, $P(\text{yes}) = p/2 + 1/4$, which
gives the unbiased estimator

$$\hat P = 2\,\frac{N_{yes}}{N} - \frac12 .$$

For a fixed group of $N$ people, the reports are independent with variance $3/16$ each, so
$\operatorname{Var}(N_{yes}) = 3N/16$ and $\operatorname{Var}(\hat P) = 3/(4N)$, whatever $p$.
(If the $N$ people are themselves a random sample, add the sampling variance: the total is
$4q(1-q)/N$ with $q = p/2 + 1/4$.)

More generally, if the first coin shows heads with probability $p_{truth}$, the mechanism is
$\varepsilon$-differentially private with $\varepsilon = \max \ln \frac{P(\text{output} \mid
\text{yes})}{P(\text{output} \mid \text{no})}$ over both outputs; for two fair coins this is
$\ln 3$.

Implement `randomized_response(truth, rng)` (boolean array in, boolean reports out; `rng` a
seed or a Generator, used through `np.random.default_rng(rng)`), `estimate_proportion(reports)`
and `rr_epsilon(p_truth=0.5)`.
""")

solution("randomized_response", '''
def randomized_response(truth, rng):
    """Two-coin randomized response: each person answers truthfully on heads, else a fair coin."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(rng)
    truth = np.asarray(truth, dtype=bool)
    first_heads = rng.random(truth.shape) < 0.5
    second_heads = rng.random(truth.shape) < 0.5
    return np.where(first_heads, truth, second_heads)
    ### END SOLUTION


def estimate_proportion(reports):
    """Unbiased estimate of the true 'yes' share from randomized-response reports."""
    ### BEGIN SOLUTION
    return 2 * float(np.mean(np.asarray(reports, dtype=float))) - 0.5
    ### END SOLUTION


def rr_epsilon(p_truth=0.5):
    """Privacy loss epsilon of randomized response with truth-coin probability p_truth."""
    ### BEGIN SOLUTION
    yes_given_yes = p_truth + (1 - p_truth) / 2
    yes_given_no = (1 - p_truth) / 2
    return float(math.log(yes_given_yes / yes_given_no))
    ### END SOLUTION
''')

selfcheck("3.1")

code("rr_demo", """
n_people, p_true, surveys = 500, 0.3, (300 if QUICK else 3000)
truth = np.arange(n_people) < p_true * n_people
estimates = np.array([estimate_proportion(randomized_response(truth, seed)) for seed in range(surveys)])
print(f"{surveys} surveys of {n_people}: mean estimate {estimates.mean():.4f} (truth {p_true}); "
      f"variance {estimates.var(ddof=1):.3g}, closed form 3/(4N) = {3 / (4 * n_people):.3g}; "
      f"epsilon = {rr_epsilon():.4f} = ln 3 = {math.log(3):.4f}")
plt.figure(figsize=(5, 3.2))
plt.hist(estimates, bins=40, density=True, alpha=0.7, label="estimates")
grid = np.linspace(estimates.min(), estimates.max(), 200)
sd = math.sqrt(3 / (4 * n_people))
plt.plot(grid, np.exp(-(grid - p_true) ** 2 / (2 * sd ** 2)) / (sd * math.sqrt(2 * math.pi)),
         label="normal, variance 3/(4N)")
plt.axvline(p_true, color="k", ls=":")
plt.legend()
plt.title("Randomized response: the estimator's spread")
plt.show()
""")

md("ex_laplace", r"""
### Exercise 3.2: the Laplace mechanism

A counting query "how many records satisfy a predicate?" changes by at most 1 when one record
is added or removed (sensitivity 1), so adding noise from $\operatorname{Laplace}(0, 1/\varepsilon)$
makes it $\varepsilon$-differentially private. Implement `laplace_count(data, predicate, eps,
rng)`: the number of entries `v` of `data` for which `predicate(v)` is true, plus that noise
(from `np.random.default_rng(rng).laplace`). The check runs your function with hundreds of
seeds and compares the noise with scipy's Laplace distribution by a Kolmogorov–Smirnov test.
""")

solution("laplace_count", '''
def laplace_count(data, predicate, eps, rng):
    """epsilon-DP count of the entries of data satisfying predicate (Laplace noise of scale 1/eps)."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(rng)
    count = sum(bool(predicate(value)) for value in np.asarray(data))
    return float(count + rng.laplace(0.0, 1.0 / eps))
    ### END SOLUTION
''')

selfcheck("3.2")

code("laplace_demo", """
ages = np.random.default_rng(5).integers(18, 90, size=1000)
true_count = int(np.sum(ages > 65))
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for eps in (0.1, 0.5, 2.0):
    answers = [laplace_count(ages, lambda a: a > 65, eps, seed) for seed in range(300 if QUICK else 2000)]
    ax.hist(answers, bins=60, histtype="step", density=True, label=f"ε = {eps}")
ax.axvline(true_count, color="k", ls=":", label="true count")
ax.set(xlabel="released count of people over 65", title="Laplace mechanism: smaller ε, more noise")
ax.legend()
plt.show()
""")

md("ex_mia", r"""
### Exercise 3.3: membership inference by a loss threshold

A model usually has lower loss on its training examples ("members") than on others. The
simplest attack (Yeom et al., 2018) scores each example by **minus its cross-entropy loss** on
its true label and calls it a member when the score is above a threshold. Over all thresholds
this gives an ROC curve: report its **AUC** (0.5 = guessing) and the attacker's **advantage**,
the largest $\text{TPR} - \text{FPR}$ over thresholds (members are the positives).

Implement `loss_threshold_mia(model, members, nonmembers)` where `members` and `nonmembers`
are pairs `(x, y)`; return `(auc, advantage)`. You may use `sklearn.metrics.roc_auc_score`
and `roc_curve`.
""")

solution("loss_threshold_mia", '''
def loss_threshold_mia(model, members, nonmembers):
    """(AUC, advantage) of the loss-threshold membership attack, score = -cross-entropy."""
    ### BEGIN SOLUTION
    from sklearn.metrics import roc_auc_score, roc_curve

    def losses(x, y):
        with torch.no_grad():
            return F.cross_entropy(model(to_tensor(x, model)), to_labels(y, model),
                                   reduction="none").cpu().numpy()

    scores = -np.concatenate([losses(*members), losses(*nonmembers)])
    is_member = np.r_[np.ones(len(members[1])), np.zeros(len(nonmembers[1]))]
    fpr, tpr, _ = roc_curve(is_member, scores)
    return float(roc_auc_score(is_member, scores)), float(np.max(tpr - fpr))
    ### END SOLUTION
''')

selfcheck("3.3")

code("mia_demo", """
from sklearn.metrics import roc_curve

members, nonmembers = robustness.mia_split(source)
plt.figure(figsize=(4.2, 4))
for kind in ("overfit", "regularized"):
    target_model = robustness.mia_model(source, kind)
    auc, advantage = loss_threshold_mia(target_model, members, nonmembers)
    scores = -np.r_[robustness.per_example_loss(target_model, *members),
                    robustness.per_example_loss(target_model, *nonmembers)]
    fpr, tpr, _ = roc_curve(np.r_[np.ones(len(members[1])), np.zeros(len(nonmembers[1]))], scores)
    plt.plot(fpr, tpr, label=f"{kind}: AUC {auc:.2f}, advantage {advantage:.2f}")
plt.plot([0, 1], [0, 1], "k:")
plt.xlabel("false positive rate")
plt.ylabel("true positive rate")
plt.title("Loss-threshold membership inference")
plt.legend(fontsize=8)
plt.show()
""")

md("ex_inversion", r"""
### Exercise 3.4: model inversion

Fredrikson et al. (2015) reconstruct what a class "looks like" from a model's confidence
alone: start from a blank image and run gradient descent on
$1 - \operatorname{softmax}(f(x))_c$ plus a prior that keeps the image plausible, clipping to
$[0, 1]$ after each step. Implement `invert_class(model, c, steps, lr, shape, weight=1e-3)`,
returning an image of the given `shape` (e.g. `(1, 28, 28)`). A small L2 or total-variation
penalty (scaled by `weight`) is a good prior. The check asks that the model assigns your
reconstruction to class `c` with probability at least 0.9. The model here is a softmax
(multinomial logistic) regression trained on the digits.
""")

solution("invert_class", '''
def invert_class(model, c, steps, lr, shape, weight=1e-3):
    """Model inversion: an image in [0, 1] of the given shape that the model assigns to class c."""
    ### BEGIN SOLUTION
    x = torch.zeros((1, *shape), dtype=next(model.parameters()).dtype,
                    device=next(model.parameters()).device)
    for _ in range(steps):
        x.requires_grad_(True)
        p = torch.softmax(model(x), dim=1)[0, int(c)]
        tv = (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()
        cost = (1 - p) - torch.log(p + 1e-12) + weight * tv
        (grad,) = torch.autograd.grad(cost, x)
        with torch.no_grad():
            x = (x - lr * grad).clamp(0, 1)
    return x.detach()[0]
    ### END SOLUTION
''')

selfcheck("3.4")

code("inversion_demo", """
softmax_model = robustness.softmax_regression(source)
side = px_train.shape[-1]
fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for c in range(10):
    image = np.asarray(invert_class(softmax_model, c, 300, 0.1, (1, side, side)))
    with torch.no_grad():
        confidence = torch.softmax(softmax_model(torch.as_tensor(image[None])), 1)[0, c].item()
    axes[0, c].imshow(image[0], cmap="gray")
    axes[0, c].set_title(f"{c}: p={confidence:.2f}", fontsize=8)
    axes[1, c].imshow(px_train[py_train == c].mean(axis=0)[0], cmap="gray")
    axes[1, c].set_title("class mean", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
plt.suptitle("Model inversion of a softmax regression (top) and the real class averages (bottom)")
plt.tight_layout()
plt.show()
""")

written("written_c", r"""
### Written (c): privacy

Compare the guarantees: what does $\varepsilon = \ln 3$ promise a survey respondent, and what
does a membership-inference AUC of 0.5 promise a member of the training set? Why does
overfitting help the attacker, and what does DP-SGD change?
""", r"""
$\varepsilon = \ln 3$ is a worst-case, per-person guarantee that holds whatever the attacker
knows: the probability of any report changes by at most a factor 3 when the respondent's
true answer changes, so a "yes" report raises the odds that the truth is "yes" by a factor 3
at most, whatever the prior (plausible deniability). An AUC of 0.5 for *one* attack on *one*
model is only empirical and on average: other attacks (e.g. with shadow models or per-example
calibration) may still identify some members, especially outliers, and it says nothing about
future releases.

An overfit model memorises its training set: members get near-zero loss while similar
non-members do not, so the loss itself separates them (AUC well above 0.5 here). DP-SGD clips
each example's gradient and adds Gaussian noise to the sum, so that the whole training run
is $(\varepsilon, \delta)$-DP: no single example can change the weights much, which provably
bounds every membership attack's advantage (by $e^\varepsilon - 1 + \delta$ type bounds), at a
cost in accuracy.
""")

# =============================================================================================
# Part 4: Fairness
# =============================================================================================

md("fair_intro", r"""
## Part 4: Fairness metrics

For binary labels $y$, predictions $\hat y$ and a sensitive attribute $A$ with groups $a$:

* **demographic parity difference**: $\max_a P(\hat y = 1 \mid A = a) - \min_a P(\hat y = 1
  \mid A = a)$ (selection rates);
* **equal opportunity difference**: the same spread of the true positive rates $P(\hat y = 1
  \mid y = 1, A = a)$;
* **equalized odds difference**: the larger of the spreads of the true positive rates and of
  the false positive rates $P(\hat y = 1 \mid y = 0, A = a)$ (fairlearn's definition).

**Edge case (our convention).** If a group has no positive examples its true positive rate is
undefined: `equal_opportunity_difference` and `equalized_odds_difference` then **raise a
`ValueError`** naming the group (and `equalized_odds_difference` does the same for a group
with no negatives). Silently using 0 would invent a disparity. `demographic_parity_difference`
needs no labels and is always defined. (fairlearn instead warns and treats the rate as 0.)

Implement the three functions, each taking `(y_true, y_pred, group)` arrays of the same length.
""")

solution("fairness", '''
def demographic_parity_difference(y_true, y_pred, group):
    """max - min over groups of the selection rate P(y_pred = 1 | group)."""
    ### BEGIN SOLUTION
    y_pred, group = np.asarray(y_pred), np.asarray(group)
    rates = [np.mean(y_pred[group == g] == 1) for g in np.unique(group)]
    return float(max(rates) - min(rates))
    ### END SOLUTION


def equal_opportunity_difference(y_true, y_pred, group):
    """max - min over groups of the true positive rate; ValueError if a group has no positives."""
    ### BEGIN SOLUTION
    y_true, y_pred, group = (np.asarray(a) for a in (y_true, y_pred, group))
    rates = []
    for g in np.unique(group):
        positives = (group == g) & (y_true == 1)
        if not positives.any():
            raise ValueError(f"group {g!r} has no positive examples: its true positive rate is undefined")
        rates.append(np.mean(y_pred[positives] == 1))
    return float(max(rates) - min(rates))
    ### END SOLUTION


def equalized_odds_difference(y_true, y_pred, group):
    """The larger of the TPR and FPR spreads over groups; ValueError if a rate is undefined."""
    ### BEGIN SOLUTION
    y_true, y_pred, group = (np.asarray(a) for a in (y_true, y_pred, group))
    spreads = []
    for label, rate in ((1, "true positive"), (0, "false positive")):
        rates = []
        for g in np.unique(group):
            rows = (group == g) & (y_true == label)
            if not rows.any():
                raise ValueError(f"group {g!r} has no examples with y = {label}: its {rate} rate "
                                 "is undefined")
            rates.append(np.mean(y_pred[rows] == 1))
        spreads.append(max(rates) - min(rates))
    return float(max(spreads))
    ### END SOLUTION
''')

selfcheck("4")

md("fair_data_intro", r"""
### A small experiment

No download is allowed, so we build the dataset from one that ships with scikit-learn: the
**diabetes** data (442 patients; Efron et al., 2004). Its ten baseline variables include
**sex** (coded 1 and 2, standardised in scikit-learn's copy), which we use as the sensitive
attribute; the label is whether the disease progression one year later is above the median
(a stand-in for "flagged as high risk"). A logistic regression is trained on the other nine
variables (sex itself is *not* an input) on half of the patients and evaluated on the other
half. It is a small sample, so the differences carry large uncertainty: the cell also shows a
bootstrap interval.
""")

code("fair_experiment", """
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate, false_positive_rate
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

diabetes = load_diabetes()
features = np.delete(diabetes.data, 1, axis=1)                      # drop 'sex' from the inputs
sex = np.where(diabetes.data[:, 1] > 0, "sex 2", "sex 1")
label = (diabetes.target > np.median(diabetes.target)).astype(int)
Xa, Xb, ya, yb, sa, sb = train_test_split(features, label, sex, test_size=0.5, random_state=0,
                                          stratify=label)
risk_model = LogisticRegression(max_iter=1000).fit(Xa, ya)
predicted = risk_model.predict(Xb)
frame = MetricFrame(metrics={"selection rate": selection_rate, "TPR": true_positive_rate,
                             "FPR": false_positive_rate, "accuracy": lambda t, p: np.mean(t == p)},
                    y_true=yb, y_pred=predicted, sensitive_features=sb)
print(frame.by_group.round(3))
ours = {f.__name__: f(yb, predicted, sb) for f in (demographic_parity_difference,
                                                   equal_opportunity_difference,
                                                   equalized_odds_difference)}
boot_rng = np.random.default_rng(0)
boot = []
for _ in range(200 if QUICK else 2000):
    i = boot_rng.integers(0, len(yb), len(yb))
    try:
        boot.append([f(yb[i], predicted[i], sb[i]) for f in (demographic_parity_difference,
                                                             equal_opportunity_difference,
                                                             equalized_odds_difference)])
    except ValueError:          # a resample without positives in one group: skip it
        pass
low, high = np.percentile(boot, [2.5, 97.5], axis=0)
for (name, value), lo, hi in zip(ours.items(), low, high):
    print(f"{name}: {value:.3f} (bootstrap 95% interval {lo:.3f} to {hi:.3f})")
""")

written("written_d", r"""
### Written (d): fairness

Interpret the three numbers for the diabetes model. Can all three be zero at once? Which
criterion would you choose for a screening program that decides who gets a follow-up visit,
and why?
""", r"""
The selection rates differ between the two groups by the demographic-parity difference; the
TPR and FPR differences say whether patients who truly progress (or do not) are flagged at
different rates depending on sex. With about 220 test patients the bootstrap intervals are
wide, so differences of a few points are not evidence of bias; larger ones may reflect the
base rates, which differ between the groups, since the model never sees sex but uses
correlated variables.

When the base rates $P(y = 1 \mid A)$ differ between groups, a classifier that is not
perfect cannot satisfy demographic parity and equalized odds together (equal TPR and FPR
with different base rates force different selection rates), and calibration within groups
conflicts with equalized odds as well (Kleinberg et al.; Chouldechova). So one must choose.

For a screening program whose follow-up is a benefit and a missed case is the main harm,
equal opportunity (equal TPR: the same chance of being caught when ill, whatever the group)
is the natural criterion; demographic parity would force the same share of follow-ups in
both groups even if one is more often ill, and equalized odds also constrains the false
alarms, which matter less here (a follow-up visit is cheap compared with a missed diagnosis).
""")

written("written_e", r"""
### Written (e): an application and its trust issues

Choose an ML application you know (e.g. credit scoring, face recognition, a medical triage
model, a content-moderation or a spam filter). In about 300 words: who could attack it and
how (evasion, poisoning), what private information it could leak (membership, inversion),
which groups it could treat unequally and by which criterion you would measure that, and
which one defence from this homework you would deploy first and what it would cost.
""", r"""
*One possible answer (face recognition for building access).* An attacker who wants in can
evade the model physically: adversarial glasses or patches are L∞-bounded perturbations
in spirit, crafted with PGD on a surrogate model and transferred; an insider who contributes
enrolment photos can poison it, e.g. with clean-label feature collisions that make a target
face match an authorised identity. The model is trained on employees' faces, so it can leak
them: a membership-inference attack reveals whether a person is enrolled (who works where),
and model inversion from the confidence scores of the API can produce a recognisable
average face of an identity (Fredrikson et al.'s original demonstration), which argues for
returning only the decision, not scores.

Accuracy of face recognition is known to differ by skin type and sex, so false rejections
(a legitimate employee locked out) and false acceptances (an impostor let in) should be
compared across groups: equalized odds, i.e. both the false-negative and the false-positive
rates, because both errors carry real harms and concentrate on different people.

The first defence would be adversarial training (or FAT, to keep more clean accuracy) of the
embedding model against the physical-patch threat, since evasion is the cheapest attack for
an outsider; its costs are several times the training compute and some loss of natural
accuracy, which must itself be checked per group, since robustness can widen accuracy gaps.
Training with DP-SGD would address membership and inversion leaks, at a further accuracy
cost; limiting the API to decisions is a cheap first step there.
""")

md("submit", r"""
## Submitting

Before you submit: **Runtime > Restart and run all** (or *Kernel > Restart & Run All*) and
check that every cell runs and that the self-checks pass. Then download the notebook
(*File > Download > Download .ipynb*) and upload the `.ipynb` file. The grader uses only
your definitions, so outputs do not matter, but a notebook over 50 MB is refused.
""")


if __name__ == "__main__":
    sys.exit(BUILDER.main(sys.argv[1:]))
