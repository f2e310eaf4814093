"""Write solutions/hw3_bayes_backprop.ipynb, the reference solution of Homework 3, from the cell
sources below.

    python tools/build_hw3_solution.py          # (re)write the notebook
    python tools/build_hw3_solution.py --check  # exit 1 if the committed notebook differs

The notebook is saved without outputs. Solution cells carry nbgrader metadata and
``### BEGIN SOLUTION`` / ``<!-- BEGIN SOLUTION -->`` markers; ``python -m autograder release``
turns them into the student notebook. Cell ids are fixed so that the output is reproducible.
"""
from __future__ import annotations

import sys

from notebook_builder import NotebookBuilder

BUILDER = NotebookBuilder("hw3", "hw3_bayes_backprop.ipynb")
md, code, solution = BUILDER.md, BUILDER.code, BUILDER.solution
written, selfcheck = BUILDER.written, BUILDER.selfcheck


# =============================================================================================
# Introduction and set-up
# =============================================================================================

md("intro", r"""
# Homework 3: Bayesian inference and neural networks from scratch

* **Problem 1: Bayesian versus frequentist estimation.** Estimate a coin's bias with the
  Beta-Binomial model: maximum likelihood, the posterior, its mean, mode (MAP) and variance,
  and the MAP estimate seen as a regularised least-squares fit.
* **Problem 2: derivatives by hand and by machine.** Backpropagation for a small sigmoid
  network, derived and checked; then forward-mode automatic differentiation with dual numbers.
* **Problem 3: an MLP for MNIST without `torch.nn`.** Build, train and evaluate a
  multilayer perceptron from tensor operations, then ask what it does on digits it has never
  seen (out-of-distribution inputs) and what that means for a deployed system.

### How grading works

* **Functions are graded one by one**, by an autograder that does *not* run your notebook top
  to bottom. It keeps only the imports, function and class definitions, and constants
  (`UPPER_CASE = ...` and plain literals) from your code cells, then calls your functions on
  its own data. So keep every function's **name and signature exactly** as given, and never
  use a variable computed elsewhere in the notebook (such as `x_train`) inside a function.
* The grader passes **numpy arrays** (and plain numbers and lists), never torch tensors; a
  tensor you return reaches it as a numpy array. Where a function works with torch, start it
  with `torch.as_tensor(...)`, which accepts both.
* Replace every `raise NotImplementedError()` with your code; you may add helper functions.
  Cells marked *given* are part of the assignment: do not change them (some checks call them).
* **Written exercises** go in the markdown cells marked *Your answer*; they are graded by hand.
* **Self-checks:** `selfcheck("hw3", ...)` runs the autograder's public checks on your
  functions. The grader also runs hidden checks on fresh inputs.

Everything runs on a CPU. With `TML_QUICK=1` in the environment the notebook trains on small
subsets, so that it finishes in a minute or two; the course uses this to test it.
""")

BUILDER.setup()

code("imports", """
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import optimize, stats
""")

code("kit_imports", """
from tmlkit.data import load_mnist
from tmlkit.selfcheck import selfcheck
""")

code("constants", """
QUICK = os.environ.get("TML_QUICK") == "1"   # small subsets and few epochs, for automated runs
""")

# =============================================================================================
# Problem 1
# =============================================================================================

md("p1_intro", r"""
## Problem 1: Bayesian versus frequentist estimation of a coin's bias

We toss a coin $N$ times and see $y$ heads. With $\theta$ the probability of heads, the
likelihood is binomial,
$p(y \mid \theta) = \binom{N}{y} \theta^{y} (1 - \theta)^{N - y}$.

* The **frequentist** estimate is the maximum-likelihood estimate (MLE)
  $\hat\theta_{\text{MLE}} = \arg\max_\theta p(y \mid \theta)$.
* The **Bayesian** treats $\theta$ as random, with a prior
  $\theta \sim \text{Beta}(\alpha, \beta)$, density
  $p(\theta) = \theta^{\alpha - 1} (1 - \theta)^{\beta - 1} / B(\alpha, \beta)$ for
  $\alpha, \beta > 0$, and reports the whole posterior $p(\theta \mid y)$, or a summary of it:
  its mean, its mode (the *maximum a posteriori*, MAP, estimate) and its variance.

Useful facts: $\text{Beta}(a, b)$ has mean $\frac{a}{a + b}$, variance
$\frac{ab}{(a + b)^2 (a + b + 1)}$ and, for $a, b \ge 1$ (not both 1), mode
$\frac{a - 1}{a + b - 2}$.
""")

md("p1_plot_intro", r"""
### 1. The Beta family

Run the cell below: it plots $\text{Beta}(\alpha, \beta)$ densities. $\text{Beta}(1, 1)$ is
the uniform distribution; larger $\alpha + \beta$ concentrate the density; $\alpha > \beta$
leans towards heads.
""")

code("plot_beta", """
theta = np.linspace(0.001, 0.999, 500)
plt.figure(figsize=(7, 4))
for a, b in [(1, 1), (2, 2), (5, 5), (20, 20), (2, 5), (5, 2), (0.5, 0.5)]:
    plt.plot(theta, stats.beta.pdf(theta, a, b), label=f"Beta({a}, {b})")
plt.xlabel(r"$\\theta$")
plt.ylabel("density")
plt.ylim(0, 6)
plt.legend()
plt.title("Beta densities")
plt.show()
""")

written("ans_2a", r"""
### 2a (written): the posterior

Show that the posterior is again a Beta distribution, and give its parameters. What name do
we give a prior with this property, and why is it convenient?
""", r"""
By Bayes' rule, dropping factors that do not depend on $\theta$,

$$
p(\theta \mid y) \propto p(y \mid \theta)\, p(\theta)
\propto \theta^{y}(1-\theta)^{N-y}\,\theta^{\alpha-1}(1-\theta)^{\beta-1}
= \theta^{\alpha + y - 1}(1-\theta)^{\beta + N - y - 1},
$$

which is the kernel of $\text{Beta}(\alpha + y,\ \beta + N - y)$; the normalising constant must
then be $1/B(\alpha + y, \beta + N - y)$. A prior whose posterior stays in the same family is
**conjugate** to the likelihood. It is convenient because updating is just adding counts
(closed form, no integrals or sampling), and a posterior can serve as the prior for the next
batch of data.
""")

md("p1_code_intro", r"""
### 2b (code): estimates

Implement the functions below. They take plain numbers: `y` heads in `N` tosses, prior
parameters `alpha` and `beta`.

* `mle(y, N)`: $y / N$.
* `posterior_params(alpha, beta, y, N)`: the pair $(\alpha', \beta')$ of the posterior.
* `posterior_mean`, `posterior_map`, `posterior_var`, all with arguments
  `(alpha, beta, y, N)`: mean, mode and variance of the posterior. For `posterior_map` you
  may assume $\alpha, \beta \ge 1$ and $N \ge 1$ (then the mode is unique, possibly 0 or 1).
* **Invalid input raises `ValueError` with a message** saying what is wrong: $N < 1$ for
  `mle`, and for every function $y < 0$, $y > N$, $\alpha \le 0$ or $\beta \le 0$. A helper
  `check_counts` is a good place for these tests.

The checks compare with `scipy.stats.beta` (mean, variance, and the numerical argmax of the
density) to $10^{-9}$, try the edge cases $y = 0$, $y = N$ and $\alpha = \beta = 1$, and
make sure that invalid input raises `ValueError`.
""")

solution("beta_functions", '''
def check_counts(y, N, alpha=1.0, beta=1.0):
    """Raise ValueError unless 0 <= y <= N, N >= 0 and alpha, beta > 0."""
    ### BEGIN SOLUTION
    if N < 0 or y < 0 or y > N:
        raise ValueError(f"need 0 <= y <= N, got y={y}, N={N}")
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"the prior needs alpha > 0 and beta > 0, got alpha={alpha}, beta={beta}")
    ### END SOLUTION


def mle(y, N):
    """Maximum-likelihood estimate of the probability of heads: y / N."""
    ### BEGIN SOLUTION
    if N < 1:
        raise ValueError(f"the MLE needs at least one toss, got N={N}")
    check_counts(y, N)
    return y / N
    ### END SOLUTION


def posterior_params(alpha, beta, y, N):
    """(alpha', beta') of the Beta posterior after y heads in N tosses."""
    ### BEGIN SOLUTION
    check_counts(y, N, alpha, beta)
    return alpha + y, beta + N - y
    ### END SOLUTION


def posterior_mean(alpha, beta, y, N):
    """Mean of the posterior."""
    ### BEGIN SOLUTION
    a, b = posterior_params(alpha, beta, y, N)
    return a / (a + b)
    ### END SOLUTION


def posterior_map(alpha, beta, y, N):
    """Mode of the posterior (the MAP estimate), for alpha, beta >= 1 and N >= 1."""
    ### BEGIN SOLUTION
    a, b = posterior_params(alpha, beta, y, N)
    if a + b <= 2:
        raise ValueError("the posterior Beta(1, 1) is flat and has no unique mode")
    return min(1.0, max(0.0, (a - 1) / (a + b - 2)))
    ### END SOLUTION


def posterior_var(alpha, beta, y, N):
    """Variance of the posterior."""
    ### BEGIN SOLUTION
    a, b = posterior_params(alpha, beta, y, N)
    return a * b / ((a + b) ** 2 * (a + b + 1))
    ### END SOLUTION
''')

written("ans_3a", r"""
### 3a (written): prior as pseudo-counts

Write the posterior mean as a weighted average of the prior mean $\frac{\alpha}{\alpha+\beta}$
and the MLE. What are the weights? How would you read $\alpha$ and $\beta$, and what does the
prior $\text{Beta}(1, 1)$ say?
""", r"""
$$
\frac{\alpha + y}{\alpha + \beta + N}
= \underbrace{\frac{\alpha + \beta}{\alpha + \beta + N}}_{\lambda}\,\frac{\alpha}{\alpha + \beta}
+ \underbrace{\frac{N}{\alpha + \beta + N}}_{1 - \lambda}\,\frac{y}{N}.
$$

The prior acts like $\alpha$ heads and $\beta$ tails seen before the experiment
(**pseudo-counts**, $\alpha + \beta$ of them), so the weight of the prior is its share of all
"tosses". As $N$ grows the data dominate. $\text{Beta}(1, 1)$ is uniform on $[0, 1]$: every
bias is equally plausible a priori; it adds one pseudo-head and one pseudo-tail to the mean
(Laplace's rule of succession $\frac{y + 1}{N + 2}$) but none to the mode, which equals the MLE.
""")

md("p1_map_loss_intro", r"""
### 4. MAP as regularised least squares

Write the tosses as $y_1, \dots, y_N \in \{0, 1\}$ with $\sum_i y_i = y$. The MLE minimises the
sum of squared errors $\sum_{i=1}^N (y_i - \theta)^2 = N\theta^2 - 2y\theta + y$ (check it!).
Adding a regulariser $g(\theta) = -a\theta + b\theta^2$,

$$
L_{\text{MAP}}(\theta) = \sum_{i=1}^{N} (y_i - \theta)^2 + g(\theta),
$$

choose $a$ and $b$ (depending on $\alpha$ and $\beta$) so that the minimiser of
$L_{\text{MAP}}$ is exactly $\theta_{\text{MAP}} = \frac{\alpha + y - 1}{\alpha + \beta + N - 2}$.

Implement `map_loss(theta, y, N, alpha, beta)` returning $L_{\text{MAP}}(\theta)$ as a float.
The check minimises your function numerically (with scipy) and compares the minimiser with
$\theta_{\text{MAP}}$ to $10^{-6}$.
""")

solution("map_loss", '''
def map_loss(theta, y, N, alpha, beta):
    """Sum of squared errors of the N tosses plus the regulariser g(theta) = -a theta + b theta^2."""
    ### BEGIN SOLUTION
    a, b = 2 * (alpha - 1), alpha + beta - 2
    squared_errors = y * (1 - theta) ** 2 + (N - y) * theta ** 2
    return float(squared_errors - a * theta + b * theta ** 2)
    ### END SOLUTION
''')

written("ans_4a", r"""
### 4a (written): deriving the regulariser

Derive $a$ and $b$. Interpret $g$ in terms of pseudo-observations.
""", r"""
$L_{\text{MAP}}(\theta) = N\theta^2 - 2y\theta + y - a\theta + b\theta^2$, so
$L'_{\text{MAP}}(\theta) = 2(N + b)\theta - (2y + a) = 0$ at
$\theta^* = \frac{2y + a}{2(N + b)}$ (a minimum when $N + b > 0$). Matching
$\theta^* = \frac{y + \alpha - 1}{N + \alpha + \beta - 2}$ for every $y$ and $N$ gives

$$
a = 2(\alpha - 1), \qquad b = \alpha + \beta - 2 .
$$

Indeed, $(\alpha - 1)$ extra observations equal to 1 and $(\beta - 1)$ equal to 0 contribute
$(\alpha - 1)(1 - \theta)^2 + (\beta - 1)\theta^2 = \text{const} - 2(\alpha - 1)\theta +
(\alpha + \beta - 2)\theta^2 = \text{const} + g(\theta)$: the regulariser is the squared error
on $\alpha - 1$ pseudo-heads and $\beta - 1$ pseudo-tails.
""")

written("ans_4b", r"""
### 4b (written): when does the regulariser vanish?

For which priors is $g \equiv 0$, and what does that say about MAP versus MLE? What happens
to the effect of $g$ as $N \to \infty$ with $\alpha, \beta$ fixed?
""", r"""
$g \equiv 0$ exactly when $a = b = 0$, i.e. $\alpha = \beta = 1$, the uniform prior: then
$\theta_{\text{MAP}} = \theta_{\text{MLE}}$ — MAP with a flat prior is maximum likelihood. (If
only $\alpha + \beta = 2$ with $\alpha \ne 1$, $b = 0$ but $a \ne 0$: a linear pull towards
one side.) With $\alpha, \beta$ fixed, $g$ stays the same while the data term grows like
$N$, so its relative effect shrinks like $1/N$: $\theta_{\text{MAP}} - \theta_{\text{MLE}} =
O(1/N)$, the familiar statement that the prior washes out with enough data.
""")

selfcheck("1")

md("p1_convergence_intro", r"""
### 5. Convergence to the MLE

Take a fair-coin prior $\text{Beta}(5, 5)$ and data from a coin with $\theta = 0.7$. The cell
below plots the posterior mean, MAP and standard deviation as $N$ grows, next to the MLE, and
the posterior densities for a few $N$.
""")

code("plot_convergence", """
rng = np.random.default_rng(0)
true_theta, prior = 0.7, (5.0, 5.0)
tosses = rng.random(2000) < true_theta
Ns = np.unique(np.logspace(0, np.log10(len(tosses)), 60).astype(int))
heads = np.array([int(tosses[:n].sum()) for n in Ns])
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
axes[0].plot(Ns, [mle(y, n) for y, n in zip(heads, Ns)], label="MLE", color="k")
axes[0].plot(Ns, [posterior_mean(*prior, y, n) for y, n in zip(heads, Ns)], label="posterior mean")
axes[0].plot(Ns, [posterior_map(*prior, y, n) for y, n in zip(heads, Ns)], "--", label="MAP")
axes[0].axhline(true_theta, color="gray", lw=0.8)
axes[0].set(xscale="log", xlabel="N", ylabel=r"estimate of $\\theta$", title="estimates")
axes[0].legend()
axes[1].plot(Ns, [posterior_var(*prior, y, n) for y, n in zip(heads, Ns)])
axes[1].plot(Ns, [mle(y, n) * (1 - mle(y, n)) / n for y, n in zip(heads, Ns)], ":",
             label=r"$\\hat\\theta(1-\\hat\\theta)/N$ (MLE's sampling variance)")
axes[1].set(xscale="log", yscale="log", xlabel="N", title="posterior variance")
axes[1].legend()
theta = np.linspace(0.001, 0.999, 500)
for n in (0, 5, 20, 100, 1000):
    y = int(tosses[:n].sum())
    axes[2].plot(theta, stats.beta.pdf(theta, *posterior_params(*prior, y, n)), label=f"N={n}")
axes[2].set(xlabel=r"$\\theta$", title="posterior density")
axes[2].legend()
plt.show()
""")

written("ans_5a", r"""
### 5a (written): interpretation

Describe the plots: how do the posterior mean and the MAP approach the MLE, and how fast does
the posterior variance shrink? Which estimate is most affected by the prior at small $N$?
""", r"""
For small $N$ both Bayesian estimates are pulled towards the prior mean $0.5$; the MLE jumps
around (it is 0 or 1 after one toss). The posterior mean, with weight
$\frac{\alpha+\beta}{\alpha+\beta+N} = \frac{10}{10+N}$ on the prior, is pulled the most;
the MAP less ($\frac{8}{8+N}$). Both differ from the MLE by $O(1/N)$ and all three converge to
the true $\theta = 0.7$. The posterior variance
$\approx \frac{\hat\theta(1-\hat\theta)}{N}$ shrinks like $1/N$ (a straight line of slope $-1$
on the log-log plot), matching the sampling variance of the MLE: the posterior concentrates
around the truth with standard deviation $O(1/\sqrt N)$ (Bernstein–von Mises).
""")

written("ans_5b", r"""
### 5b (written): Bayesian or frequentist?

Give one situation where you would prefer the Bayesian estimate and one where the choice
hardly matters. What is a risk of the Bayesian approach?
""", r"""
*Prefer Bayesian* when data are scarce and prior knowledge is real: e.g. a new product with 3
reviews, all positive — the MLE says 100% satisfaction, while a prior from similar products
gives a sensible estimate and an honest uncertainty (the posterior variance) for decisions.
*Hardly matters* with large $N$: after thousands of tosses prior and MLE agree to within
$O(1/N)$. *Risk:* a strong or mis-specified prior biases the answer and can hide what the
data say (a confident prior at the wrong place needs many observations to be overcome); the
prior must be justified and its sensitivity checked.
""")

# =============================================================================================
# Problem 2
# =============================================================================================

md("p2_intro", r"""
## Problem 2: derivatives by hand and by machine

### 1. Backpropagation in a one-hidden-layer network

A network with $M$ inputs, $H$ sigmoid hidden units and one sigmoid output,
$\sigma(t) = 1/(1 + e^{-t})$, processes **one example** $x \in \mathbb{R}^M$ with label
$y \in \{0, 1\}$:

$$
a_1 = W_1 x + b_1,\quad z_1 = \sigma(a_1),\quad a_2 = W_2 z_1 + b_2,\quad \hat y = \sigma(a_2),
\qquad L = -\big[y \log \hat y + (1 - y) \log (1 - \hat y)\big].
$$

Shapes (numpy arrays): `x` $(M,)$, `W1` $(H, M)$, `b1` $(H,)$, `a1` and `z1` $(H,)$,
`W2` $(1, H)$, `b2` $(1,)$, `a2` and `y_hat` $(1,)$; `y` is a number, 0 or 1.

* `shapes(M, H)`: a dict from each of the names `x, W1, b1, a1, z1, W2, b2, a2, y_hat` to
  its shape as a tuple.
* `forward(x, W1, b1, W2, b2)`: a **dict** with keys `"a1", "z1", "a2", "y_hat"`.
* `gradients(x, y, W1, b1, W2, b2)`: a dict with keys `"dW1", "db1", "dW2", "db2"`, the
  gradients of $L$, each of the shape of its parameter. Derive them by hand (Exercise 1b) and
  use numpy only: no autograd.
""")

written("ans_p2_1b", r"""
### 1b (written): the gradients

Derive $\partial L/\partial a_2$, then the four gradients. Use $\sigma'(t) = \sigma(t)(1 - \sigma(t))$.
""", r"""
$\frac{\partial L}{\partial \hat y} = -\frac{y}{\hat y} + \frac{1-y}{1-\hat y}$ and
$\frac{\partial \hat y}{\partial a_2} = \hat y (1 - \hat y)$, so
$\delta_2 := \frac{\partial L}{\partial a_2} = \hat y - y$. Then

$$
\frac{\partial L}{\partial W_2} = \delta_2\, z_1^\top,\quad
\frac{\partial L}{\partial b_2} = \delta_2,\quad
\delta_1 := \frac{\partial L}{\partial a_1} = (W_2^\top \delta_2) \odot z_1 \odot (1 - z_1),\quad
\frac{\partial L}{\partial W_1} = \delta_1\, x^\top,\quad
\frac{\partial L}{\partial b_1} = \delta_1 .
$$
""")

solution("backprop", '''
def sigmoid(t):
    """The logistic function 1 / (1 + exp(-t)), elementwise."""
    ### BEGIN SOLUTION
    return 1.0 / (1.0 + np.exp(-np.asarray(t, dtype=np.float64)))
    ### END SOLUTION


def shapes(M, H):
    """Shape of every parameter and intermediate, as a dict of tuples."""
    ### BEGIN SOLUTION
    return {"x": (M,), "W1": (H, M), "b1": (H,), "a1": (H,), "z1": (H,),
            "W2": (1, H), "b2": (1,), "a2": (1,), "y_hat": (1,)}
    ### END SOLUTION


def forward(x, W1, b1, W2, b2):
    """The intermediates {"a1", "z1", "a2", "y_hat"} for one example x of shape (M,)."""
    ### BEGIN SOLUTION
    a1 = W1 @ x + b1
    z1 = sigmoid(a1)
    a2 = W2 @ z1 + b2
    return {"a1": a1, "z1": z1, "a2": a2, "y_hat": sigmoid(a2)}
    ### END SOLUTION


def bce_loss(y_hat, y):
    """Binary cross-entropy of the prediction y_hat (shape (1,)) for the label y, a float."""
    ### BEGIN SOLUTION
    p = float(np.asarray(y_hat).reshape(-1)[0])
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))
    ### END SOLUTION


def gradients(x, y, W1, b1, W2, b2):
    """Gradients {"dW1", "db1", "dW2", "db2"} of the binary cross-entropy, by hand."""
    ### BEGIN SOLUTION
    f = forward(x, W1, b1, W2, b2)
    delta2 = f["y_hat"] - y                                 # (1,)
    delta1 = (W2.T @ delta2) * f["z1"] * (1 - f["z1"])      # (H,)
    return {"dW1": np.outer(delta1, x), "db1": delta1,
            "dW2": np.outer(delta2, f["z1"]), "db2": delta2}
    ### END SOLUTION
''')

md("p2_gradcheck_intro", r"""
Compare with centred finite differences on a small network; the relative errors should be
around $10^{-9}$ or smaller.
""")

code("p2_gradcheck", """
rng = np.random.default_rng(0)
M, H = 4, 3
x_small, y_small = rng.normal(size=M), 1
params_small = {"W1": rng.normal(size=(H, M)), "b1": rng.normal(size=H),
                "W2": rng.normal(size=(1, H)), "b2": rng.normal(size=1)}
grads = gradients(x_small, y_small, **params_small)
for name, value in params_small.items():
    numeric = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        for sign in (1, -1):
            shifted = {**params_small, name: value.copy()}
            shifted[name][index] += sign * 1e-6
            numeric[index] += sign * bce_loss(forward(x_small, **shifted)["y_hat"], y_small) / 2e-6
    error = np.linalg.norm(grads["d" + name] - numeric) / np.linalg.norm(grads["d" + name] + numeric)
    print(f"d{name}: relative error {error:.1e}")
""")

selfcheck("2.1")

md("p2_dual_intro", r"""
### 2. Forward-mode automatic differentiation

A **dual number** $u + \dot u\,\varepsilon$ with $\varepsilon^2 = 0$ carries a value $u$ and a
tangent $\dot u$. Arithmetic on dual numbers applies the chain rule automatically:

$$
(u + \dot u\varepsilon) + (v + \dot v\varepsilon) = (u + v) + (\dot u + \dot v)\varepsilon,\quad
(u + \dot u\varepsilon)(v + \dot v\varepsilon) = uv + (\dot u v + u \dot v)\varepsilon,\quad
h(u + \dot u\varepsilon) = h(u) + h'(u)\,\dot u\,\varepsilon .
$$

To get $\partial f/\partial x_j$ at a point, evaluate $f$ on inputs whose tangent is 1 for
$x_j$ and 0 for the others; the output's tangent is the derivative.

Implement:

* a class `Dual` with `Dual(value, tangent=0.0)`, attributes `.value` and `.tangent`, and
  `+` and `*` between two `Dual`s **and** with plain numbers on either side (`2 + d`,
  `d * 3.0`: implement `__add__`, `__radd__`, `__mul__`, `__rmul__`; a number $c$ is the dual
  $c + 0\varepsilon$);
* module-level functions `dual_sin(u)`, `dual_log(u)`, `dual_exp(u)` taking and returning a
  `Dual`;
* `forward_mode_derivative(f, x, wrt)`: `f` takes a list of `Dual`s and returns a `Dual`;
  `x` is a list of floats. Return the pair `(value, derivative)` of floats: $f(x)$ and
  $\partial f/\partial x_{\text{wrt}}$ (index `wrt` counts from 0).

The grader cannot send you a Python function, so it sends *expression trees* instead, such
as `("add", ("log", ("sin", ("x", 0))), ("mul", ("x", 0), ("exp", ("x", 1))))` for
$\ln(\sin x_1) + x_1 e^{x_2}$, which the given `evaluate_expression` turns into a function of
`Dual`s and differentiates with your `forward_mode_derivative`.
""")

solution("dual", '''
class Dual:
    """A dual number value + tangent * eps, with eps**2 = 0."""

    def __init__(self, value, tangent=0.0):
        self.value = float(value)
        self.tangent = float(tangent)

    def __add__(self, other):
        ### BEGIN SOLUTION
        other = other if isinstance(other, Dual) else Dual(other)
        return Dual(self.value + other.value, self.tangent + other.tangent)
        ### END SOLUTION

    def __radd__(self, other):
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION

    def __mul__(self, other):
        ### BEGIN SOLUTION
        other = other if isinstance(other, Dual) else Dual(other)
        return Dual(self.value * other.value,
                    self.tangent * other.value + self.value * other.tangent)
        ### END SOLUTION

    def __rmul__(self, other):
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION

    def __repr__(self):
        return f"Dual({self.value!r}, {self.tangent!r})"


def dual_sin(u):
    """sin of a Dual."""
    ### BEGIN SOLUTION
    return Dual(math.sin(u.value), math.cos(u.value) * u.tangent)
    ### END SOLUTION


def dual_log(u):
    """Natural logarithm of a Dual with positive value."""
    ### BEGIN SOLUTION
    return Dual(math.log(u.value), u.tangent / u.value)
    ### END SOLUTION


def dual_exp(u):
    """exp of a Dual."""
    ### BEGIN SOLUTION
    value = math.exp(u.value)
    return Dual(value, value * u.tangent)
    ### END SOLUTION


def forward_mode_derivative(f, x, wrt):
    """(f(x), df/dx[wrt]) by one forward pass of f over Dual numbers."""
    ### BEGIN SOLUTION
    inputs = [Dual(value, 1.0 if i == wrt else 0.0) for i, value in enumerate(x)]
    out = f(inputs)
    out = out if isinstance(out, Dual) else Dual(out)
    return out.value, out.tangent
    ### END SOLUTION
''')

code("evaluate_expression", '''
# Given: do not change. The grader differentiates expression trees with it.
def evaluate_expression(expr, x, wrt):
    """(value, derivative w.r.t. x[wrt]) of an expression tree, using your Dual numbers.

    A tree is ("x", i) for input i, ("const", c), ("add", left, right), ("mul", left, right),
    or ("sin" | "log" | "exp", argument).
    """
    def build(node, inputs):
        op = node[0]
        if op == "x":
            return inputs[node[1]]
        if op == "const":
            return float(node[1])            # a plain number, so Dual must handle numbers too
        if op == "add":
            return build(node[1], inputs) + build(node[2], inputs)
        if op == "mul":
            return build(node[1], inputs) * build(node[2], inputs)
        argument = build(node[1], inputs)
        if not isinstance(argument, Dual):
            argument = Dual(argument)
        return {"sin": dual_sin, "log": dual_log, "exp": dual_exp}[op](argument)

    value, derivative = forward_mode_derivative(lambda inputs: build(expr, inputs),
                                                [float(v) for v in x], int(wrt))
    return float(value), float(derivative)
''')

md("p2_trace_intro", r"""
### 3. The evaluation trace

For $f(x_1, x_2) = \ln(\sin x_1) + x_1 e^{x_2}$ at $(x_1, x_2) = (\pi/6, 1)$, write the forward
trace with tangents for $\partial/\partial x_1$ (so $\dot x_1 = 1$, $\dot x_2 = 0$), in this
order:

| | value | tangent |
|---|---|---|
| $v_1 = x_1$ | $\pi/6$ | $1$ |
| $v_2 = x_2$ | $1$ | $0$ |
| $v_3 = \sin v_1$ | | $\cos v_1 \cdot \dot v_1$ |
| $v_4 = \ln v_3$ | | $\dot v_3 / v_3$ |
| $v_5 = \exp v_2$ | | $v_5 \dot v_2$ |
| $v_6 = v_1 v_5$ | | $\dot v_1 v_5 + v_1 \dot v_5$ |
| $v_7 = v_4 + v_6 = f$ | | $\dot v_4 + \dot v_6$ |

`trace_example()` returns the list of the seven pairs `(v_i, dv_i)` as floats, computed with
your `Dual` class (each $v_i$ as a `Dual`). Check: $f = \ln\frac12 + \frac{\pi}{6} e$ and
$\partial f/\partial x_1 = \sqrt 3 + e$.
""")

solution("trace", '''
def trace_example():
    """[(v1, dv1), ..., (v7, dv7)] for f = ln(sin x1) + x1 exp(x2) at (pi/6, 1), d/dx1."""
    ### BEGIN SOLUTION
    v1, v2 = Dual(math.pi / 6, 1.0), Dual(1.0, 0.0)
    v3 = dual_sin(v1)
    v4 = dual_log(v3)
    v5 = dual_exp(v2)
    v6 = v1 * v5
    v7 = v4 + v6
    return [(v.value, v.tangent) for v in (v1, v2, v3, v4, v5, v6, v7)]
    ### END SOLUTION
''')

code("show_trace", """
for i, (v, dv) in enumerate(trace_example(), start=1):
    print(f"v{i} = {v: .12f}   dv{i} = {dv: .12f}")
print("exact: f =", math.log(0.5) + math.pi / 6 * math.e, " df/dx1 =", math.sqrt(3) + math.e)
""")

selfcheck("2.2")

# =============================================================================================
# Problem 3
# =============================================================================================

md("p3_intro", r"""
## Problem 3: an MLP for MNIST without `torch.nn`

We build a multilayer perceptron $\mathbb{R}^{784} \to \mathbb{R}^{H} \to \mathbb{R}^{10}$ with
a ReLU hidden layer from **tensor operations only**: PyTorch's autograd computes the gradients,
but **`torch.nn` (including `torch.nn.functional`), `torch.optim` and the built-in
`torch.softmax`, `torch.log_softmax`, `torch.relu` are not allowed** anywhere in your code.
The grader reads your code's syntax tree and names any such use.

Conventions: images are rows of `X`, shape $(N, 784)$, values in $[0, 1]$; labels `y` are
integers $(N,)$; `params` is the list `[W1, b1, W2, b2]` with `W1` $(784, H)$, `b1` $(H,)$,
`W2` $(H, 10)$, `b2` $(10,)$. Functions receive numpy arrays from the grader and tensors from
your own training code: start with `torch.as_tensor(...)`.

* `init_params(n_inputs, n_hiddens, n_outputs, seed=0)`: `[W1, b1, W2, b2]` as float32
  tensors with `requires_grad=True`; weights drawn from $N(0, 2/n_{\text{in}})$ (He
  initialisation, `n_in` the layer's number of inputs) with a `torch.Generator` seeded with
  `seed`, biases zero.
* `relu(X)`: $\max(X, 0)$ elementwise. `softmax(X)`: row-wise, **stable** (subtract each
  row's maximum first).
* `net(X, params)`: class probabilities `softmax(relu(X @ W1 + b1) @ W2 + b2)`, with `X`
  reshaped to `(-1, W1.shape[0])` and converted to `W1`'s dtype.
* `cross_entropy(y_hat, y)`: the per-example losses $-\log \hat y_{i, y_i}$, shape $(N,)$.
* `sgd(params, lr)`: in place, under `torch.no_grad()`, `param -= lr * param.grad`, then
  zero each gradient.
""")

solution("mlp_pieces", '''
def init_params(n_inputs, n_hiddens, n_outputs, seed=0):
    """[W1, b1, W2, b2]: He-initialised float32 weights and zero biases, requiring gradients."""
    ### BEGIN SOLUTION
    generator = torch.Generator().manual_seed(seed)
    W1 = torch.randn(n_inputs, n_hiddens, generator=generator) * math.sqrt(2.0 / n_inputs)
    W2 = torch.randn(n_hiddens, n_outputs, generator=generator) * math.sqrt(2.0 / n_hiddens)
    params = [W1, torch.zeros(n_hiddens), W2, torch.zeros(n_outputs)]
    return [p.requires_grad_() for p in params]
    ### END SOLUTION


def relu(X):
    """max(X, 0), elementwise."""
    ### BEGIN SOLUTION
    X = torch.as_tensor(X)
    return torch.clamp(X, min=0)
    ### END SOLUTION


def softmax(X):
    """Row-wise softmax, stable for large logits."""
    ### BEGIN SOLUTION
    X = torch.as_tensor(X)
    exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
    return exp / exp.sum(dim=1, keepdim=True)
    ### END SOLUTION


def net(X, params):
    """Class probabilities of the MLP for the rows of X."""
    ### BEGIN SOLUTION
    W1, b1, W2, b2 = [torch.as_tensor(p) for p in params]
    X = torch.as_tensor(X).reshape(-1, W1.shape[0]).to(W1.dtype)
    return softmax(relu(X @ W1 + b1) @ W2 + b2)
    ### END SOLUTION


def cross_entropy(y_hat, y):
    """Per-example cross-entropy -log y_hat[i, y[i]], shape (N,)."""
    ### BEGIN SOLUTION
    y_hat, y = torch.as_tensor(y_hat), torch.as_tensor(y).long()
    return -torch.log(y_hat[torch.arange(len(y_hat)), y])
    ### END SOLUTION


def sgd(params, lr):
    """One in-place gradient step on every parameter, then zero the gradients."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad
            param.grad.zero_()
    ### END SOLUTION
''')

md("p3_train_intro", r"""
Training and evaluation. `data_iter` (given) yields mini-batches `(X, y)` of tensors.

* `train(net, params, train_iter, loss, updater)`: **one epoch** over `train_iter`: for each
  batch compute `net(X, params)`, the mean of `loss(y_hat, y)`, call `backward()`, then
  `updater(params)`. Return `(mean training loss, training accuracy)` over the epoch, as
  floats, weighting each batch by its size.
* `evaluate_accuracy(net, params, data_iter)`: the fraction of correct argmax predictions
  over all batches (compute it without gradients: `torch.no_grad()`).
* `fit_mnist_mlp(X_train, y_train, X_test, epochs=8, seed=0)`: the whole pipeline, for the
  grader: initialise with `init_params(X_train.shape[1], 256, 10, seed)`, train for `epochs`
  epochs with `sgd` (mini-batches of 64, shuffled with `seed`; a learning rate around 0.3,
  decaying helps), and return the predicted labels for `X_test` as an integer array. The
  grader trains it on all 60,000 MNIST training images for 8 epochs (about 10 s on one CPU
  core) and expects at least **97%** accuracy on the 10,000 test images.

The helpers `sgd_step` and `accuracy_of` (given) let the grader call your `sgd` and
`evaluate_accuracy`, which work on tensors and functions it cannot send.
""")

code("data_iter", '''
# Given: do not change.
def data_iter(X, y, batch_size, shuffle=False, seed=0):
    """Mini-batches (X, y) of float32 / int64 tensors, in a random order if shuffle."""
    X, y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    order = (torch.randperm(len(X), generator=torch.Generator().manual_seed(seed)) if shuffle
             else torch.arange(len(X)))
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]
        yield X[batch], y[batch]


def sgd_step(params, grads, lr):
    """One call of your sgd on float64 tensors whose .grad is set; returns (params, grads)."""
    tensors = [torch.tensor(np.asarray(p), dtype=torch.float64, requires_grad=True) for p in params]
    for tensor, grad in zip(tensors, grads):
        tensor.grad = torch.tensor(np.asarray(grad), dtype=torch.float64)
    sgd(tensors, lr)
    return ([t.detach() for t in tensors],
            [torch.zeros_like(t) if t.grad is None else t.grad for t in tensors])


def accuracy_of(X, y, params, batch_size=32):
    """Your evaluate_accuracy of the MLP `params` on (X, y), in mini-batches."""
    params = [torch.as_tensor(np.asarray(p)) for p in params]
    return float(evaluate_accuracy(net, params, data_iter(np.asarray(X, dtype=np.float64),
                                                          y, batch_size)))
''')

solution("mlp_train", '''
def train(net, params, train_iter, loss, updater):
    """One epoch of training; returns (mean loss, accuracy) over the epoch."""
    ### BEGIN SOLUTION
    total_loss, correct, count = 0.0, 0, 0
    for X, y in train_iter:
        y_hat = net(X, params)
        batch_loss = loss(y_hat, y).mean()
        batch_loss.backward()
        updater(params)
        total_loss += batch_loss.item() * len(y)
        correct += int((y_hat.argmax(dim=1) == y).sum())
        count += len(y)
    return total_loss / count, correct / count
    ### END SOLUTION


def evaluate_accuracy(net, params, data_iter):
    """Fraction of correct argmax predictions of net over the batches of data_iter."""
    ### BEGIN SOLUTION
    correct, count = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            correct += int((net(X, params).argmax(dim=1) == y).sum())
            count += len(y)
    return correct / count
    ### END SOLUTION


def fit_mlp(X_train, y_train, n_outputs, epochs, seed, lr=0.3, batch_size=64, history=None):
    """Train an MLP on (X_train, y_train) with your pieces; returns params. If history is a
    list, (epoch, train loss, train accuracy) is appended after each epoch."""
    ### BEGIN SOLUTION
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # small matrices: one thread is fastest, and polite to others
    try:
        params = init_params(X_train.shape[1], 256, n_outputs, seed)
        for epoch in range(epochs):
            step = lr * (1 - epoch / epochs)
            batches = data_iter(X_train, y_train, batch_size, shuffle=True, seed=seed + epoch)
            result = train(net, params, batches, cross_entropy, lambda p: sgd(p, step))
            if history is not None:
                history.append((epoch + 1, *result))
        return params
    finally:
        torch.set_num_threads(threads)
    ### END SOLUTION


def fit_mnist_mlp(X_train, y_train, X_test, epochs=8, seed=0):
    """Train on (X_train, y_train); return the predicted labels of X_test (int array)."""
    ### BEGIN SOLUTION
    params = fit_mlp(X_train, y_train, 10, epochs, seed)
    with torch.no_grad():
        return net(X_test, params).argmax(dim=1).numpy()
    ### END SOLUTION
''')

md("p3_mnist_intro", r"""
### Training on MNIST

The cell below trains on MNIST (a 10,000-image subset in quick mode) and plots the training and
test loss and accuracy per epoch.
""")

code("mnist_data", """
mnist = load_mnist()
n_train = 10_000 if QUICK else len(mnist.x_train)
x_train = mnist.x_train[:n_train].reshape(n_train, -1).astype(np.float32) / 255
y_train = mnist.y_train[:n_train].astype(np.int64)
x_test = mnist.x_test.reshape(len(mnist.x_test), -1).astype(np.float32) / 255
y_test = mnist.y_test.astype(np.int64)
print(f"train {x_train.shape}, test {x_test.shape}")
""")

code("mnist_train", """
epochs = 4 if QUICK else 10
threads = torch.get_num_threads()
torch.set_num_threads(1)
params = init_params(784, 256, 10, seed=0)
curves = {"train loss": [], "test loss": [], "train accuracy": [], "test accuracy": []}
started = time.perf_counter()
for epoch in range(epochs):
    step = 0.3 * (1 - epoch / epochs)
    train_loss, train_acc = train(net, params, data_iter(x_train, y_train, 64, shuffle=True, seed=epoch),
                                  cross_entropy, lambda p: sgd(p, step))
    with torch.no_grad():
        test_loss = float(cross_entropy(net(x_test, params), y_test).mean())
    test_acc = evaluate_accuracy(net, params, data_iter(x_test, y_test, 1000))
    for key, value in zip(curves, (train_loss, test_loss, train_acc, test_acc)):
        curves[key].append(value)
    print(f"epoch {epoch + 1}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, "
          f"train acc {train_acc:.2%}, test acc {test_acc:.2%}")
torch.set_num_threads(threads)
print(f"{time.perf_counter() - started:.0f} s; final test accuracy {curves['test accuracy'][-1]:.2%} "
      f"({'meets' if curves['test accuracy'][-1] >= 0.97 else 'below'} the 97% bar"
      f"{' — quick mode uses a subset' if QUICK else ''})")

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ticks = range(1, epochs + 1)
axes[0].plot(ticks, curves["train loss"], "o-", label="train")
axes[0].plot(ticks, curves["test loss"], "o-", label="test")
axes[0].set(xlabel="epoch", ylabel="cross-entropy", title="loss")
axes[1].plot(ticks, curves["train accuracy"], "o-", label="train")
axes[1].plot(ticks, curves["test accuracy"], "o-", label="test")
axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
for ax in axes:
    ax.legend()
plt.show()
""")

code("confusion", """
with torch.no_grad():
    test_probs = net(x_test, params).numpy()
test_pred = test_probs.argmax(axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, test_pred), 1)
plt.figure(figsize=(6, 5))
plt.imshow(confusion, cmap="Blues")
plt.colorbar()
for i in range(10):
    for j in range(10):
        plt.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                 color="white" if confusion[i, j] > confusion.max() / 2 else "black")
plt.xlabel("predicted")
plt.ylabel("true")
plt.xticks(range(10))
plt.yticks(range(10))
plt.title("confusion matrix (test set)")
plt.show()
""")

written("ans_p3_2", r"""
### 2 (written): reading the curves and the confusion matrix

Does the model over-fit? Which digits are confused most often, and why is that plausible?
""", r"""
Training and test loss fall together and the gap between train and test accuracy stays small
(about one percentage point after ten epochs), so there is little over-fitting at this size;
with many more epochs the training loss keeps falling while the test loss flattens and then
rises, the usual sign of over-fitting. The largest off-diagonal entries are typically 4↔9,
7↔9 (and 2), 3↔5 and 8 against several classes: these pairs share most of their strokes (a 4
with a closed top looks like a 9, a 3 and a 5 differ in one stroke), and an MLP on raw pixels
has no notion of shape beyond pixel overlap.
""")

md("p3_ood_intro", r"""
### 3. Out-of-distribution inputs

Now train a two-class model on the 1s and 6s only, and show it 1s, 6s **and 3s**, which it
has never seen and cannot name. Implement `fit_one_vs_six(X_train, y_train, X_test, epochs=3,
seed=0)`: the training labels are the digits 1 and 6; train a 2-output MLP with your pieces
(map 1 → class 0 and 6 → class 1); return the pair `(predicted digits, max-probabilities)`
for `X_test`: the predictions as digits (1 or 6), and for each image the probability of the
predicted class. The grader expects at least 99% accuracy on test 1s and 6s, and reports what
your model does with the 3s.
""")

solution("one_vs_six", '''
def fit_one_vs_six(X_train, y_train, X_test, epochs=3, seed=0):
    """Train on 1s and 6s; return (predicted digits in {1, 6}, max-probability) for X_test."""
    ### BEGIN SOLUTION
    digits = np.array([1, 6])
    classes = (np.asarray(y_train) == 6).astype(np.int64)
    params = fit_mlp(X_train, classes, 2, epochs, seed, lr=0.1)
    with torch.no_grad():
        probs = net(X_test, params).numpy()
    return digits[probs.argmax(axis=1)], probs.max(axis=1)
    ### END SOLUTION
''')

md("selfcheck_3_intro", r"""
Run the public checks of Problem 3 (they train two small models: about ten seconds).
""")
selfcheck("3")

code("ood_run", """
def entropy(p):
    return -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)

keep = np.isin(y_train, (1, 6))
inside = np.isin(y_test, (1, 6))
threes = y_test == 3
x_eval = np.concatenate([x_test[inside], x_test[threes]])
pred, conf = fit_one_vs_six(x_train[keep], y_train[keep], x_eval, epochs=3, seed=0)
n_in = int(inside.sum())
print(f"accuracy on test 1s and 6s: {np.mean(pred[:n_in] == y_test[inside]):.2%}")
print(f"accuracy on test 3s: 0% by construction (called 1: {np.mean(pred[n_in:] == 1):.0%}, "
      f"called 6: {np.mean(pred[n_in:] == 6):.0%})")
probs2 = np.stack([conf, 1 - conf], axis=1)       # the two class probabilities, in some order
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
bins = np.linspace(0.5, 1, 26)
axes[0].hist(conf[:n_in], bins=bins, alpha=0.6, density=True, label="1s and 6s (in distribution)")
axes[0].hist(conf[n_in:], bins=bins, alpha=0.6, density=True, label="3s (out of distribution)")
axes[0].set(xlabel="max probability", title="confidence", yscale="log")
axes[0].legend()
bins = np.linspace(0, np.log(2), 26)
axes[1].hist(entropy(probs2[:n_in]), bins=bins, alpha=0.6, density=True, label="1s and 6s")
axes[1].hist(entropy(probs2[n_in:]), bins=bins, alpha=0.6, density=True, label="3s")
axes[1].set(xlabel="predictive entropy (nats)", title="uncertainty", yscale="log")
axes[1].legend()
plt.show()

order = np.argsort(conf)[:10]
fig, axes = plt.subplots(1, 10, figsize=(14, 1.8))
for ax, i in zip(axes, order):
    ax.imshow(x_eval[i].reshape(28, 28), cmap="gray")
    ax.set_title(f"{pred[i]} ({conf[i]:.2f})", fontsize=8)
    ax.axis("off")
fig.suptitle("the 10 least confident test images (prediction, max probability)")
plt.show()
confident_threes = np.flatnonzero(conf[n_in:] > 0.99)
print(f"{len(confident_threes)} of {int(threes.sum())} 3s get a max probability above 0.99")
""")

written("ans_p3_3", r"""
### 3 (written): what happens to the 3s?

Describe the histograms. Can the max-probability (or the entropy) tell 3s apart from 1s and
6s? Why is a softmax classifier confident on inputs unlike anything it was trained on?
""", r"""
Almost all 1s and 6s get a max-probability near 1 (entropy near 0). The 3s are spread over
the whole range: many get a max-probability well below 1, so in this run thresholding the
max-probability separates 3s from 1s and 6s fairly well (the grader reports an AUROC around
0.97), but a tail of 3s is still called "1" or "6" with probability above 0.99, and every 3
is misclassified, since "neither" is not one of the model's answers. Low confidence on the 3s
is luck of geometry, not design: a 3 happens to lie between the 1s and the 6s. Softmax only
compares the class scores, and far from the training data a ReLU network's logits grow
roughly linearly with the input, so inputs unlike anything seen in training (noise, a letter,
a scaled image) can get arbitrarily confident outputs; nothing in training asked the model to
be uncertain off the data.
""")

written("ans_p3_4", r"""
### 4 (written): a Bayesian view

How would a Bayesian treatment of the weights (as in Problem 1, a posterior instead of a point
estimate) change the predictive probabilities for the 3s? Name one practical approximation.
""", r"""
The predictive distribution would average over plausible weights,
$p(y \mid x, D) = \int p(y \mid x, w)\, p(w \mid D)\, dw$. On the 1s and 6s all plausible
networks agree, so the average stays confident; on a 3, far from the data, different plausible
networks disagree (some say 1, some 6), and the average moves towards $\frac12$: higher
entropy out of distribution, as the posterior variance in Problem 1 is larger with less data.
Practical approximations: deep ensembles (several networks from different seeds),
Monte-Carlo dropout, a Laplace approximation around the trained weights, or variational
inference (Bayes by Backprop).
""")

written("ans_p3_5", r"""
### 5 (written): sorting mail

A postal service wants to use a digit classifier to route letters by postcode.

* **5a.** What could go wrong when the scanner delivers inputs unlike the training data
  (smudges, letters, stamps, other scripts)?
* **5b.** Propose a safeguard based on the model's uncertainty. How would you set its threshold?
* **5c.** What should happen to the letters the safeguard rejects, and what does it cost?
* **5d.** How would you monitor the deployed system over time?
""", r"""
**5a.** The classifier always answers with one of its ten digits, often with high confidence,
as the tail of confident 3s above shows: a smudge or a letter can become a confident digit, and the letter is routed
to a wrong (but valid-looking) postcode, silently. Errors can be systematic (a handwriting
style, another script, a new envelope design), hitting the same people or regions repeatedly.

**5b.** Abstain when the uncertainty is high: reject a postcode if any digit's max-probability
is below a threshold (or its entropy above one), better with a calibrated or ensemble model,
and add checks outside the model (is the postcode valid? does it match the city?). Set the
threshold on held-out data that includes realistic bad inputs, from the costs: choose the
rejection rate at which the expected cost of misrouting equals the cost of manual handling, and
verify the error rate among accepted letters meets the target.

**5c.** Rejected letters go to a human operator (or a second, slower system); this costs staff
time and delays those letters, so the threshold trades automation rate against errors. The
operators' answers are valuable labelled data for later retraining.

**5d.** Log the rejection rate, the confidence distribution and the input statistics over
time, and audit a random sample of *accepted* letters by hand to estimate the real error rate;
alert when these drift (new scanners, new handwriting populations), track misrouting
complaints, and retrain and re-validate the threshold when the data change.
""")

md("submit", r"""
## Submitting

Before you submit: **Runtime > Restart and run all** (or *Kernel > Restart & Run All*) and
check that every cell runs and that the self-checks pass. Then download the notebook
(*File > Download > Download .ipynb*) and upload the `.ipynb` file.
""")


if __name__ == "__main__":
    sys.exit(BUILDER.main(sys.argv[1:]))
