"""Write solutions/hw2_explanations.ipynb, the reference solution of Homework 2, from the cell
sources below.

    python tools/build_hw2_solution.py          # (re)write the notebook
    python tools/build_hw2_solution.py --check  # exit 1 if the committed notebook differs

The notebook is saved without outputs. Solution cells carry nbgrader metadata and
``### BEGIN SOLUTION`` / ``<!-- BEGIN SOLUTION -->`` markers; ``python -m autograder release``
turns them into the student notebook. Cell ids are fixed so that the output is reproducible.
"""
from __future__ import annotations

import sys

from notebook_builder import NotebookBuilder

BUILDER = NotebookBuilder("hw2", "hw2_explanations.ipynb")
md, code, solution = BUILDER.md, BUILDER.code, BUILDER.solution
written, selfcheck = BUILDER.written, BUILDER.selfcheck


# =============================================================================================
# Introduction and set-up
# =============================================================================================

md("intro", r"""
# Homework 2: Explaining models

Part I explains *traditional* models, Part II an image classifier:

* **1.1 LIME.** A local linear surrogate, fitted by weighted least squares, for a function of
  one variable; then the `lime` package on a tabular model.
* **1.2 Shapley values.** Exact interventional Shapley values by enumerating coalitions, a
  closed form for a product model, and TreeSHAP (the `shap` package) on an xgboost regressor.
* **2.1–2.3 Gradient attributions with TruLens.** Saliency maps, integrated gradients from
  several baselines, and internal influence, which finds "expert" neurons of a layer.
* **2.4 Evaluating attributions.** Average Drop % and Necessity Ordering.

### How grading works

* **Functions are graded one by one**, by an autograder that does *not* run your notebook top
  to bottom. It keeps only the imports, the function and class definitions and the constants
  (`UPPER_CASE = ...` assignments and plain literals) of your code cells, then calls your
  functions on its own inputs. Keep every function's **name and signature exactly** as given,
  and never use a variable computed elsewhere in the notebook inside a function.
* For Part II the grader passes its own small random CNNs (`small_cnn` from
  `tmlkit.models`, in **float32**, which is what TruLens computes in) and, in 2.4, a
  float64 linear model and CNN: always convert inputs to the dtype of the model's parameters.
  Arrays arrive as numpy arrays; return numpy arrays (a torch tensor is converted).
* The grader's references are independent of TruLens: closed forms, brute force, PyTorch
  autograd and [captum](https://captum.ai).
* Replace every `raise NotImplementedError()` with your code. You may add helper functions.
* **Written exercises** go in the markdown cells marked *Your answer*; they are graded by hand.
* **Self-checks:** the cells `selfcheck("hw2", ...)` run the autograder's public checks here.
  Hidden checks use other data, models and classes.

Everything runs on a CPU in a few minutes. In Colab Part II explains VGG16 (ImageNet weights);
elsewhere it explains a small CNN trained here in about a minute. With `TML_QUICK=1` the
notebook uses less data and fewer samples (the course uses this to test it).
""")

BUILDER.setup()

code("imports", """
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
""")

md("trulens_note", r"""
**TruLens.** We use the TruLens-Explain API (`trulens.nn`), whose last release is
`trulens==0.13.4`; later `trulens` versions are an unrelated library for evaluating LLM apps.
0.13.4 does not import on Python ≥ 3.11 as released (a dataclass that newer Pythons reject, a
stray `tkinter` import, a SciPy module that is going away). `tmlkit.trulens_compat` fixes
those lines as TruLens is imported, without touching the installed files, so **import it before
anything from `trulens`**, as below.
""")

code("trulens_imports", """
import tmlkit.trulens_compat  # noqa: F401  (must come before the trulens imports)
from trulens.nn.attribution import InputAttribution, IntegratedGradients, InternalInfluence
from trulens.nn.distributions import LinearDoi, PointDoi
from trulens.nn.models import get_model_wrapper
from trulens.nn.quantities import ClassQoI, ComparativeQoI, InternalChannelQoI
from trulens.nn.slices import Cut, InputCut, OutputCut, Slice
from trulens.visualizations import MaskVisualizer
from trulens.utils import tru_logger

tru_logger.get_logger().setLevel("WARNING")      # TruLens logs every wrapper at INFO level
""")

code("kit_imports", """
from tmlkit.datasets import small_cifar
from tmlkit.models import small_cnn
from tmlkit.selfcheck import selfcheck
""")

code("constants", """
QUICK = os.environ.get("TML_QUICK") == "1"   # less data and fewer samples, for automated runs
torch.set_num_threads(min(4, os.cpu_count() or 1))
""")

# =============================================================================================
# Part 1.1: LIME for a function of one variable
# =============================================================================================

md("lime_intro", r"""
## Part I: Traditional models

### 1.1 LIME

LIME explains a model $f$ near a query point $x'$ by a simple model $g$ fitted to $f$ on
points near $x'$. Closeness is a kernel: a comparison point $x$ gets the weight
$\pi_{x'}(x) = \exp\big(-\lvert x - x'\rvert^2 / d\big)$, where the width $d$ sets how local
the explanation is. For a function of one variable and a linear $g(x) = a x + b$,

$$
(a, b) = \arg\min_{a, b} \sum_i \pi_{x'}(x_i)\,\big(f(x_i) - a x_i - b\big)^2 .
$$

The slope $a$ is the explanation: how $f$ changes with $x$ around $x'$.
""")

written("written_1", r"""
### Written exercise 1

Solve the weighted least-squares problem above in closed form: give $a$ and $b$ in terms of
the weights $w_i = \pi_{x'}(x_i)$, the points $x_i$ and the values $y_i = f(x_i)$. What do $a$
and $b$ become as $d \to \infty$, and what does $a$ tend to as $d \to 0$ (for a differentiable
$f$ and comparison points dense around $x'$)?
""", r"""
Write $\bar x_w = \sum_i w_i x_i / \sum_i w_i$ and $\bar y_w = \sum_i w_i y_i / \sum_i w_i$.
Setting the derivatives with respect to $b$ and $a$ to zero gives $b = \bar y_w - a \bar x_w$
and

$$
a = \frac{\sum_i w_i (x_i - \bar x_w)(y_i - \bar y_w)}{\sum_i w_i (x_i - \bar x_w)^2},
$$

the weighted covariance of $x$ and $y$ over the weighted variance of $x$.

As $d \to \infty$ every weight tends to 1, so $(a, b)$ becomes the ordinary least-squares line
through all comparison points: a *global* summary that no longer depends on $x'$. As
$d \to 0$ the weight concentrates on the points nearest $x'$; with points dense around $x'$ the
fit is over an ever smaller interval on which $f$ is almost linear, so $a \to f'(x')$, the
derivative at the query (a gradient explanation). In between, $a$ is a kernel-weighted average
slope. (With too small a $d$ and finite data, only one or two points keep a non-negligible
weight, and the fit becomes unstable or undefined.)
""")

md("ex_lime", r"""
### Exercise 2 (code)

Implement `weighted_neighborhood_LIME(query, comparison_X, comparison_Y, d)`: fit the weighted
line above and return the pair `(slope, intercept)` as floats, where the line is
$y \approx \text{slope}\cdot x + \text{intercept}$ in the original coordinates. `comparison_X`
and `comparison_Y` are 1-D arrays of the same length. Solve the problem in a numerically stable
way (for example `np.linalg.lstsq` on rows scaled by $\sqrt{w_i}$). The check compares with the
closed form to $10^{-6}$.
""")

solution("lime_1d", '''
def weighted_neighborhood_LIME(query, comparison_X, comparison_Y, d):
    """The line y ≈ slope · x + intercept fitted by least squares with weights
    exp(-(x - query)² / d); returns (slope, intercept)."""
    ### BEGIN SOLUTION
    X = np.asarray(comparison_X, dtype=np.float64).ravel()
    Y = np.asarray(comparison_Y, dtype=np.float64).ravel()
    root = np.sqrt(np.exp(-(X - query) ** 2 / d))
    A = np.stack([X, np.ones_like(X)], axis=1)
    slope, intercept = np.linalg.lstsq(root[:, None] * A, root * Y, rcond=None)[0]
    return float(slope), float(intercept)
    ### END SOLUTION
''')

selfcheck("1.1")

md("lime_plot_intro", r"""
We explain $f(x) = 2\sin x + 0.3x$ at the query $x' = 3$, from 200 comparison points on
$[-8, 8]$, for three kernel widths. The upper row shows $f$, the kernel weights (rescaled) and
the fitted line; the lower row the slope as a function of the query for each width, next to
$f'$.
""")

code("lime_plot", """
def f_1d(x):
    return 2 * np.sin(x) + 0.3 * x


rng = np.random.default_rng(11)
comparison_X = np.sort(rng.uniform(-8, 8, 200))
comparison_Y = f_1d(comparison_X)
query, widths = 3.0, (1.0, 10.0, 100.0)
grid = np.linspace(-8, 8, 400)

fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), sharey="row")
for ax, d in zip(axes[0], widths):
    slope, intercept = weighted_neighborhood_LIME(query, comparison_X, comparison_Y, d)
    weights = np.exp(-(grid - query) ** 2 / d)
    ax.plot(grid, f_1d(grid), color="black", label="f")
    ax.fill_between(grid, -3, -3 + 2 * weights, color="tab:orange", alpha=0.3,
                    label="weights (scaled)")
    ax.plot(grid, slope * grid + intercept, color="tab:blue", label="LIME line")
    ax.axvline(query, color="grey", linestyle=":")
    ax.set(title=f"d = {d:g}: slope {slope:.3f}, intercept {intercept:.3f}", ylim=(-4, 5))
    print(f"d = {d:>5g}: slope {slope:+.4f}, intercept {intercept:+.4f}")
axes[0, 0].legend(loc="upper left")
queries = np.linspace(-6, 6, 121)
for ax, d in zip(axes[1], widths):
    slopes = [weighted_neighborhood_LIME(q, comparison_X, comparison_Y, d)[0] for q in queries]
    ax.plot(queries, 2 * np.cos(queries) + 0.3, color="black", label="f'(x')")
    ax.plot(queries, slopes, color="tab:blue", label="LIME slope")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set(xlabel="query x'", title=f"d = {d:g}")
axes[1, 0].legend()
plt.tight_layout()
plt.show()
print(f"f'(3) = {2 * np.cos(3) + 0.3:+.4f}")
""")

written("written_3", r"""
### Written exercise 3

Describe the three explanations at $x' = 3$ (use the printed slopes). Which width gives the
"right" explanation? What does this say about choosing LIME's kernel width for a real model,
where you cannot plot $f$?
""", r"""
With $d = 1$ the kernel covers about $\pm 1$ around the query, and the slope is negative, close
to $f'(3) = 2\cos 3 + 0.3 \approx -1.68$: locally $f$ is decreasing. With $d = 100$ almost all
points have similar weight and the slope is positive, close to the global trend of the data (the
$0.3x$ term plus whatever the sine contributes over $[-8, 8]$). With $d = 10$ the kernel spans a
bit more than one period of the sine and the slope lies in between (the run above prints its
value); the lower row shows how, for wide kernels, the slope hardly depends on the query at
all.

There is no single right width: each answers a different question. A narrow kernel answers
"what happens for a small change of $x$ here" (the derivative), a wide one "how does $f$ vary
with $x$ overall". The explanation can flip its *sign* with the width, so a LIME explanation
without its width is not meaningful. For a real model one should report the kernel width,
check how stable the explanation is across widths and samples, and choose the width from the
size of the changes the user cares about (e.g. the scale of realistic perturbations of the
input), not from a default.
""")

# =============================================================================================
# Part 1.2: Shapley values
# =============================================================================================

md("shapley_intro", r"""
### 1.2 Shapley values

For a model $f$ of $M$ features, an input $x$ and a set $S \subseteq \{1, \dots, M\}$ of
features, the **interventional** value of the coalition $S$ is the mean output when the
features in $S$ are set to $x$'s and the others are drawn from background data $B$
(rows $b \in B$):

$$
v(S) = \frac{1}{|B|} \sum_{b \in B} f(x_S, b_{\bar S}), \qquad
\varphi_i = \sum_{S \subseteq \{1..M\} \setminus \{i\}}
\frac{|S|!\,(M - |S| - 1)!}{M!}\,\big(v(S \cup \{i\}) - v(S)\big).
$$

Equivalently, $\varphi_i$ is the average, over all $M!$ orders in which features can be
revealed, of the change in $v$ when feature $i$ is revealed. The values are *efficient*:
$\sum_i \varphi_i = v(\{1..M\}) - v(\emptyset) = f(x) - \frac{1}{|B|}\sum_b f(b)$.
""")

md("ex_shapley", r"""
### Exercise (code): exact Shapley values

Implement `exact_shapley(f, x, background)`: `f` maps an array of rows `(n, M)` to outputs
`(n,)`, `x` has shape `(M,)`, `background` shape `(n_B, M)`. Return $\varphi$ of shape
`(M,)`, by enumerating all $2^M$ coalitions (fine for $M \le 12$ or so). Evaluate each
coalition with **one** call of `f` on all the background rows (the grader's `f` is called
across a process boundary, so one call per row would be slow). The checks compare with the
average over all orderings, for $M \le 5$, to $10^{-9}$.
""")

solution("exact_shapley", '''
def exact_shapley(f, x, background):
    """Interventional Shapley values phi (M,) of f at x: v(S) is the mean of f over the
    background rows (n, M) with the features in S replaced by x's. Enumerates all 2^M subsets."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    M = len(x)
    value = np.zeros(1 << M)
    for S in range(1 << M):                       # the subset S as a bit mask
        rows = background.copy()
        members = [i for i in range(M) if S >> i & 1]
        rows[:, members] = x[members]
        value[S] = np.mean(np.asarray(f(rows), dtype=np.float64))
    phi = np.zeros(M)
    for S in range(1 << M):
        size = bin(S).count("1")
        if size == M:
            continue
        weight = math.factorial(size) * math.factorial(M - size - 1) / math.factorial(M)
        for i in range(M):
            if not S >> i & 1:
                phi[i] += weight * (value[S | 1 << i] - value[S])
    return phi
    ### END SOLUTION
''')

written("written_4", r"""
### Written exercise 4

Let $f(x) = \prod_{i=1}^M x_i$ with independent standard normal features, and take $v(S)$ as
the expectation over the features outside $S$ (an infinite background). Compute $v(S)$ for
every $S$ and derive the Shapley values $\varphi_i(x)$.
""", r"""
By independence, $v(S) = \prod_{i \in S} x_i \cdot \prod_{j \notin S} \mathbb{E}[x_j]$. Since
$\mathbb{E}[x_j] = 0$, $v(S) = 0$ for every $S$ that misses a feature, and
$v(\{1..M\}) = \prod_i x_i$. In the sum for $\varphi_i$ the only non-zero marginal
contribution is the one for $S = \{1..M\} \setminus \{i\}$, with weight
$(M-1)!\,0!/M! = 1/M$, so

$$
\varphi_i(x) = \frac{1}{M} \prod_{j=1}^M x_j \qquad \text{for every } i .
$$

All features get the same share, whatever their values: even a feature with $x_i \approx 0$,
which "switches off" the product, gets credit $f(x)/M$ (close to 0 then, but equal to the
others'). The efficiency sum is $f(x) - \mathbb{E} f = \prod_j x_j$. (For $M = 1$, $v(\emptyset)
= 0$ and $\varphi_1 = x_1$.)
""")

md("ex_product", r"""
### Exercise (code): the closed form

Implement `product_model_shap(x)` returning your answer to exercise 4 as an array `(M,)`. The
next cell compares it with `exact_shapley` on a finite standard normal background; the
two agree only up to the sampling error of the background's moments.
""")

solution("product_model_shap", '''
def product_model_shap(x):
    """Shapley values (M,) of f(x) = prod_i x_i for independent standard normal features."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    return np.full(len(x), np.prod(x) / len(x))
    ### END SOLUTION
''')

selfcheck("1.2")

code("product_check", """
def product(rows):
    return np.prod(rows, axis=1)


rng = np.random.default_rng(0)
for n_background in (100, 1000) if QUICK else (100, 1000, 10000):
    background = rng.normal(size=(n_background, 4))
    gaps = [np.abs(exact_shapley(product, x, background) - product_model_shap(x)).max()
            for x in rng.normal(size=(5, 4))]
    print(f"background of {n_background:>5} rows: max |exact_shapley - closed form| over 5 "
          f"points = {max(gaps):.3g}")
""")

written("written_5", r"""
### Written exercise 5

The gap printed above shrinks as the background grows. Why is it not zero, and at what rate
should it shrink? Would conditional (observational) Shapley values differ from the
interventional ones for this model, and why?
""", r"""
`exact_shapley` uses the empirical background, so $v(S) = \prod_{i\in S} x_i \cdot
\frac{1}{n}\sum_b \prod_{j \notin S} b_j$: the sample mixed moments
$\frac1n\sum_b\prod_{j\notin S} b_j$ are not exactly 0. Each is an average of $n$
independent terms with mean 0 and variance 1, so it is of order $1/\sqrt n$, and so is the gap
(tenfold more background rows should shrink it by about $\sqrt{10} \approx 3$). The Shapley
values are still exactly efficient for the empirical background; it is the closed form that
assumes the population moments.

For independent features, conditioning on $x_S$ does not change the distribution of the other
features, so the conditional expectation $\mathbb{E}[f(x_S, X_{\bar S}) \mid X_S = x_S]$ equals
the interventional one: the two kinds of Shapley values coincide for this model. They differ
only when features are dependent (e.g. correlated), where the conditional version credits
features through their correlation with others.
""")

# =============================================================================================
# Part 1.2 (continued): SHAP and xgboost
# =============================================================================================

md("xgb_intro", r"""
### TreeSHAP on an xgboost model

Now a real model: an xgboost regressor on a tabular data set. We use California housing
when scikit-learn can download it (Colab), else the diabetes data that ships with
scikit-learn (442 patients, 10 standardised features, a measure of disease progression after
a year). The printed line says which one this run used.
""")

code("xgb_train", """
import shap
import xgboost
from sklearn.datasets import fetch_california_housing, load_diabetes
from sklearn.model_selection import train_test_split


def load_tabular():
    \"\"\"California housing if it can be fetched, else scikit-learn's diabetes data.\"\"\"
    if not QUICK:
        try:
            bunch = fetch_california_housing()
            return bunch.data[:5000], bunch.target[:5000], list(bunch.feature_names), \\
                "California housing (first 5000 districts)"
        except Exception as error:   # no network: fall back to data that ships offline
            print(f"California housing unavailable ({type(error).__name__}); using diabetes.")
    bunch = load_diabetes()
    return bunch.data, bunch.target, list(bunch.feature_names), "diabetes (scikit-learn)"


X_tab, y_tab, feature_names, tabular_name = load_tabular()
X_train, X_test, y_train, y_test = train_test_split(X_tab, y_tab, test_size=0.25,
                                                    random_state=0)
booster = xgboost.XGBRegressor(n_estimators=150 if QUICK else 300, max_depth=3,
                               learning_rate=0.05, subsample=0.8, random_state=0,
                               n_jobs=1)   # one thread: exact_shapley makes many small calls
booster.fit(X_train, y_train)
r2 = 1 - np.mean((booster.predict(X_test) - y_test) ** 2) / np.var(y_test)
print(f"{tabular_name}: {X_tab.shape[0]} rows, {X_tab.shape[1]} features; test R² = {r2:.3f}")
""")

code("xgb_shap", """
explainer = shap.TreeExplainer(booster)
shown = X_test[:200]
shap_values = explainer.shap_values(shown)
n_features = len(feature_names)
columns = 4
rows = math.ceil(n_features / columns)
fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows))
for index, ax in enumerate(axes.ravel()):
    if index >= n_features:
        ax.axis("off")
        continue
    shap.dependence_plot(index, shap_values, shown, feature_names=feature_names, ax=ax,
                         show=False, interaction_index=None)
plt.tight_layout()
plt.show()
importance = np.abs(shap_values).mean(axis=0)
for index in np.argsort(-importance):
    print(f"{feature_names[index]:>12}: mean |SHAP| = {importance[index]:.3f}")
""")

md("treeshap_vs_exact", r"""
TreeSHAP computes Shapley values of a tree ensemble exactly and fast. With a background data
set and `feature_perturbation="interventional"` it computes exactly our $v(S)$; its default
(no data) uses the trees' own training-sample counts ("path-dependent"), a different value
function. The next cell compares both with `exact_shapley` on a few test points, with 50
background rows.
""")

code("treeshap_compare", """
background = X_train[:50]
interventional = shap.TreeExplainer(booster, data=background,
                                    feature_perturbation="interventional")
points = X_test[:3]
started = time.perf_counter()
ours = np.array([exact_shapley(booster.predict, x, background) for x in tqdm(points)])
ours_s = time.perf_counter() - started
tree_interventional = interventional.shap_values(points)
tree_path = explainer.shap_values(points)
print(f"exact_shapley: {2 ** n_features} coalitions per point, {ours_s:.1f} s for 3 points")
print(f"max |exact_shapley - TreeSHAP interventional| = "
      f"{np.abs(ours - tree_interventional).max():.2e}")
print(f"max |exact_shapley - TreeSHAP path-dependent| = {np.abs(ours - tree_path).max():.2e}")
print(f"scale: max |phi| = {np.abs(ours).max():.2f}")
""")

md("lime_tabular_intro", r"""
For comparison, the `lime` package's `LimeTabularExplainer` on the same model and point. Its
default discretises each feature into quartiles and fits a weighted ridge regression on binary
"is the feature in this bin" indicators, so its weights answer a different question than
Shapley values: how the prediction changes when a feature moves out of its current quartile.
""")

code("lime_tabular", """
from lime.lime_tabular import LimeTabularExplainer

lime_explainer = LimeTabularExplainer(X_train, feature_names=feature_names, mode="regression",
                                      random_state=0)
point = X_test[0]
explanation = lime_explainer.explain_instance(point, booster.predict, num_features=n_features,
                                              num_samples=1000 if QUICK else 5000)
lime_weights = dict(explanation.as_map()[1])   # feature -> weight (key 1 in regression mode)
print(f"{'feature':>12} {'value':>8} {'TreeSHAP':>9} {'LIME':>8}  LIME's rule")
rules = dict(explanation.as_list())
for index in np.argsort(-np.abs(tree_path[0])):
    rule = next((r for r in rules if feature_names[index] in r.split()), "")
    print(f"{feature_names[index]:>12} {point[index]:8.3f} {tree_path[0, index]:9.3f} "
          f"{lime_weights.get(index, 0.0):8.3f}  {rule}")
same_sign = np.mean([np.sign(lime_weights.get(i, 0.0)) == np.sign(tree_path[0, i])
                     for i in range(n_features)])
print(f"LIME and TreeSHAP agree in sign on {same_sign:.0%} of the features for this point.")
""")

written("written_7", r"""
### Written exercise 7

Pick two or three features from the dependence plots and describe what the model does with
them (shape of the dependence, vertical spread). What does the vertical spread at a fixed
feature value tell you? Why do interventional TreeSHAP and `exact_shapley` agree to rounding
error, while path-dependent TreeSHAP and LIME do not?
""", r"""
(Answers depend on the data set and run; this one is for diabetes, as run by the course.)
`s5` (a blood serum measurement, log triglycerides) and `bmi` have the largest mean |SHAP|:
their SHAP values rise with the feature, in steps (the model is made of trees). `bp` (blood
pressure) also rises, more weakly; `s3` (HDL cholesterol) falls: higher HDL, lower predicted
progression. `sex` takes two values and gives two columns of points, one above and one below
0.

The vertical spread at a fixed feature value shows interactions: if the feature's contribution
depended on its value alone, all points with that value would have the same SHAP value. Spread
means the contribution depends on the other features too (`interaction_index` colours the
points by a second feature to find which).

Interventional TreeSHAP computes exactly the Shapley values of $v(S) = \frac{1}{|B|}\sum_b
f(x_S, b_{\bar S})$ for the background $B$, the same game `exact_shapley` enumerates, so the
two agree to floating-point rounding (xgboost predicts in float32). Path-dependent TreeSHAP
uses another value function (expectations under the tree's own split proportions, which
approximate a conditional expectation), and LIME fits a local surrogate on discretised
features with a kernel; both answer different questions, so agreement in sign or ranking of
the main features is the most one can expect.
""")

# =============================================================================================
# Part II: a CNN to explain
# =============================================================================================

md("part2_intro", r"""
## Part II: Attributions for an image classifier, with TruLens

TruLens wraps a model (`get_model_wrapper(model, input_shape=..., device="cpu")`) and computes
attributions from three ingredients:

* a **slice**: from which layer (the *cut* `InputCut()` or `Cut("features_6")`) to which
  (`OutputCut()`, the logits here);
* a **quantity of interest (QoI)**: which output to explain, e.g. `ClassQoI(c)` (the logit of
  class $c$) or `ComparativeQoI(c1, c2)` (logit $c_1$ minus logit $c_2$);
* a **distribution of interest (DoI)**: at which points to average gradients, e.g. `PointDoi()`
  (the input itself) or `LinearDoi(baseline, resolution)` (points on the segment from a
  baseline to the input).

Layer names for PyTorch are the module paths with `_` for `.` (`model.features[6]` is
`"features_6"`). **In Colab** the model is VGG16 with ImageNet weights, on 224×224 photos;
**elsewhere** (no download) it is the same small CNN architecture the grader uses, made wider
and trained here for about a minute on CIFAR-10 (32×32 images of 10 classes; a synthetic image
set when no CIFAR-10 copy is at hand). The cell prints which one this run uses; everything
below is about *that* model.
""")

code("cnn_setup", """
def in_colab():
    return "google.colab" in sys.modules


def train_small_cnn(budget_s):
    \"\"\"small_cnn (width 16, float32) trained on CIFAR-10 (or the synthetic fallback) for
    about budget_s seconds; returns the model, class names, test accuracy and a description.\"\"\"
    n_train, n_test = (4000, 1000) if QUICK else (30000, 2000)
    x_train, y_train, x_test, y_test, data_name = small_cifar(n_train, n_test)
    net = small_cnn(0, in_channels=3, size=32, num_classes=10, width=16, double=False)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    inputs, labels = to_model_input(x_train / 255.0), torch.as_tensor(y_train)
    generator = torch.Generator().manual_seed(0)
    started, epochs = time.perf_counter(), 0
    net.train()
    while time.perf_counter() - started < budget_s and epochs < 30:
        for batch in torch.randperm(len(inputs), generator=generator).split(128):
            optimizer.zero_grad()
            F.cross_entropy(net(inputs[batch]), labels[batch]).backward()
            optimizer.step()
        epochs += 1
    net.eval()
    with torch.no_grad():
        accuracy = (net(to_model_input(x_test / 255.0)).argmax(1).numpy() == y_test).mean()
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck")
    return net, names, accuracy, f"{data_name}, {epochs} epochs"


def to_model_input(images):
    \"\"\"Images (N, H, W, 3) in [0, 1] -> the model's input tensor (N, 3, H, W), float32.\"\"\"
    images = torch.as_tensor(np.asarray(images, dtype=np.float32)).permute(0, 3, 1, 2)
    if use_vgg:
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return (images - mean) / std
    return images - 0.5


use_vgg = in_colab() or os.environ.get("TML_VGG") == "1"
if use_vgg:
    from torchvision.models import VGG16_Weights, vgg16
    cnn = vgg16(weights=VGG16_Weights.IMAGENET1K_V1).eval()
    class_names = VGG16_Weights.IMAGENET1K_V1.meta["categories"]
    image_size, layer_name = 224, "features_28"          # the last convolution
    class_a, class_b = class_names.index("tabby"), class_names.index("Egyptian cat")
    model_description = "VGG16 with ImageNet weights (torchvision)"
else:
    cnn, class_names, cnn_accuracy, trained_on = train_small_cnn(15 if QUICK else 60)
    image_size, layer_name = 32, "features_6"            # the last convolution
    class_a, class_b = class_names.index("cat"), class_names.index("dog")
    model_description = (f"small_cnn (width 16) trained here on {trained_on}: test accuracy "
                         f"{cnn_accuracy:.1%}")
    if "synthetic" in trained_on:
        model_description += ("\\nNo CIFAR-10 copy here: its classes are synthetic coloured squares "
                              "that only borrow CIFAR-10's class names.")
for parameter in cnn.parameters():
    parameter.requires_grad_(False)
print(model_description)
""")

code("photos", """
import skimage.data
from skimage.transform import resize


def square(image):
    \"\"\"The central square crop of an (H, W, 3) image.\"\"\"
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def top_classes(x, k=3):
    \"\"\"The model's k most probable classes for one model input, as (name, probability).\"\"\"
    with torch.no_grad():
        p = torch.softmax(cnn(torch.as_tensor(x)[None]), dim=1)[0].numpy()
    return [(class_names[c], float(p[c])) for c in np.argsort(-p)[:k]]


photo_names = ["chelsea", "coffee", "rocket", "astronaut"]
photos = {name: resize(square(getattr(skimage.data, name)()), (image_size, image_size),
                       anti_aliasing=True) for name in photo_names}
inputs = {name: to_model_input(photo[None])[0].numpy() for name, photo in photos.items()}
fig, axes = plt.subplots(1, len(photos), figsize=(3.2 * len(photos), 3.6))
for ax, (name, photo) in zip(axes, photos.items()):
    ax.imshow(photo)
    ax.set_title(f"{name}\\n" + ", ".join(f"{c} {p:.0%}" for c, p in top_classes(inputs[name], 2)),
                 fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()
""")

md("photos_note", r"""
Only `chelsea` (a cat) shows a class of both models; the other photos are there to see what
the model attends to when its classes do not fit (ImageNet has cups and espresso, but no
"rocket" or "astronaut"; CIFAR-10 has none of the three). The titles give the model's two most
probable classes, whatever they are.
""")

# =============================================================================================
# 2.1 Saliency maps
# =============================================================================================

md("saliency_intro", r"""
### 2.1 Saliency maps

The saliency of class $c$ at $x$ is the input times the gradient of the class's output,
$S_c(x) = x \odot \nabla_x f_c(x)$, with $f_c$ the logit. In TruLens it is
`InputAttribution(wrapper, qoi=ClassQoI(c))` (a point DoI at the input;
`multiply_activation=True`, the default, multiplies the gradient by $x$).
`MaskVisualizer` shows the image where the (blurred, positive) attribution is in its top
percentiles and dims the rest.
""")

code("show_helpers", """
def _show_masks(batch, attributions, titles):
    \"\"\"Each attribution (k, C, H, W) as a MaskVisualizer mask over the input batch (1, C, H, W),
    next to a heat map of its channel mean.\"\"\"
    visualizer = MaskVisualizer(blur=max(1, batch.shape[-1] // 64), threshold=0.8,
                                masked_opacity=0.25)
    k = len(attributions)
    fig, axes = plt.subplots(2, k, figsize=(3 * k, 6), squeeze=False)
    for column, (attribution, title) in enumerate(zip(attributions, titles)):
        masked = visualizer(attribution[None], np.asarray(batch, dtype=np.float64), imshow=False)
        axes[0, column].imshow(np.clip(masked, 0, 1))
        axes[0, column].set_title(title, fontsize=9)
        heat = attribution.mean(axis=0)
        bound = np.abs(heat).max() or 1.0
        axes[1, column].imshow(heat, cmap="bwr", vmin=-bound, vmax=bound)
        for ax in axes[:, column]:
            ax.axis("off")
    plt.tight_layout()
    plt.show()


def _show_expert(wrapper, batch, x, layer_name, expert):
    \"\"\"The input pixels that matter most for one neuron (channel) of a layer, by integrated
    gradients of that channel's total activation, drawn over the picture x (H, W, 3).\"\"\"
    influence = InternalInfluence(wrapper, Slice(InputCut(), Cut(layer_name)),
                                  InternalChannelQoI(expert), LinearDoi(resolution=20),
                                  multiply_activation=True, rebatch_size=10)
    attribution = influence.attributions(batch)                       # (1, C, H, W)
    picture = np.asarray(x, dtype=np.float64).transpose(2, 0, 1)[None]  # (1, 3, H, W)
    visualizer = MaskVisualizer(blur=max(1, picture.shape[-1] // 64), threshold=0.8,
                                masked_opacity=0.25)
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].imshow(x)
    axes[0].set_title("input", fontsize=9)
    axes[1].imshow(np.clip(visualizer(attribution, picture, imshow=False), 0, 1))
    axes[1].set_title(f"{layer_name}, neuron {expert}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    plt.show()


def _wrap(model):
    \"\"\"A TruLens wrapper of a torch model, on the CPU (reproducible on any machine).\"\"\"
    return get_model_wrapper(model, device="cpu")


def _batch(x):
    \"\"\"One input (C, H, W) or (1, C, H, W) as a float32 batch (1, C, H, W).\"\"\"
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(1, *x.shape[-3:])


def _scores(model, batch):
    \"\"\"The model's outputs (N, classes) for a numpy batch, in float64 numpy.\"\"\"
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(batch)).to(dtype)).double().numpy()
""")

md("ex_saliency", r"""
### Exercise 8 (code)

Implement `visualize_saliency_map(model, x, k=5, show=True)` with TruLens: `x` is one model
input, `(C, H, W)` or `(1, C, H, W)`. Find the model's `k` highest-scoring classes at `x`
(in decreasing order of the logit) and return `(classes, attributions)`: the classes as an
integer array `(k,)` and their saliency maps as an array `(k, C, H, W)`, row `j` for
`classes[j]`. With `show=True` draw them with `_show_masks` (the grader passes `show=False`).
The helpers `_wrap`, `_batch` and `_scores` above may be useful. The check compares with
captum's `InputXGradient` to $10^{-5}$.
""")

solution("saliency", '''
def visualize_saliency_map(model, x, k=5, show=True):
    """Saliency x ⊙ ∇_x f_c(x) for the model's top-k classes c at one input x.
    Returns (classes (k,), attributions (k, C, H, W)); draws them when show is true."""
    ### BEGIN SOLUTION
    wrapper = _wrap(model)
    batch = _batch(x)
    classes = np.argsort(-_scores(model, batch)[0], kind="stable")[:k]
    attributions = np.concatenate([
        InputAttribution(wrapper, qoi=ClassQoI(int(c))).attributions(batch) for c in classes])
    if show:
        _show_masks(batch, attributions, [f"class {c}" for c in classes])
    return classes, attributions
    ### END SOLUTION
''')

selfcheck("2.1")

code("saliency_photos", """
for name in ("chelsea", "coffee"):
    classes, saliency = visualize_saliency_map(cnn, inputs[name], k=3, show=False)
    _show_masks(inputs[name][None], saliency,
                [f"{name}: {class_names[c]}" for c in classes])
    norms = [float(np.abs(s).sum()) for s in saliency]
    print(f"{name}: top classes {[class_names[c] for c in classes]}, "
          f"total |saliency| {np.round(norms, 3).tolist()}")
""")

written("written_9", r"""
### Written exercise 9

Compare the saliency maps of the top classes for the same photo. Are they different? What
does the gradient measure, and why can $x \odot \nabla f_c$ be large on pixels that are
irrelevant to a human (or small on relevant ones)?
""", r"""
(Describe the pictures and the printed totals of this run. Overlap between the classes' maps is
expected to some degree, since the gradient of every logit flows through the same early
features; differences show which input pixels push one class more than another.)

$\nabla_x f_c$ measures the *local sensitivity* of the logit: how much it would change for an
infinitesimal change of each pixel. Multiplying by $x$ gives a first-order estimate of each
pixel's contribution relative to a black (zero) input. Neither is the same as relevance: a
pixel can have a large gradient because the logit would change if that pixel changed, even if
its actual value plays no role in the decision (e.g. flat background where an edge *could*
appear); and a pixel can matter a lot but have a small gradient when the network is saturated
there (ReLUs off, or the logit already far in its flat region). With $x \odot \nabla$, pixels
with value near 0 (dark) get near-zero attribution whatever their importance, and the
attribution depends on how the input was normalised.
""")

written("written_10", r"""
### Written exercise 10

Gradients of deep ReLU networks are noisy (speckled). Give one reason, and one method that
reduces the noise.
""", r"""
A ReLU network is piecewise linear: its gradient is constant on each of very many small linear
regions and jumps between them, so it changes erratically from pixel to pixel and under tiny
perturbations of the input (shattered gradients). Max-pooling adds more discontinuities.

Averaging gradients over a distribution around or towards the input smooths this out:
SmoothGrad averages over Gaussian perturbations $x + \varepsilon$; integrated gradients
(next part) averages along a path from a baseline. Both are different DoIs in TruLens's terms
(a Gaussian or linear distribution instead of a point).
""")

# =============================================================================================
# 2.2 Integrated gradients
# =============================================================================================

md("ig_intro", r"""
### 2.2 Integrated gradients

Integrated gradients average the gradient along the straight path from a baseline $x'$ to $x$:

$$
\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial f_c}{\partial x_i}\big(x' + \alpha(x -
x')\big)\, d\alpha,
\qquad
\sum_i \mathrm{IG}_i(x) = f_c(x) - f_c(x') \quad \text{(completeness)}.
$$

TruLens's `IntegratedGradients(wrapper, baseline=..., resolution=r, qoi=ClassQoI(c))`
approximates the integral by the mean over `r` equally spaced points on the path (a
`LinearDoi`) and multiplies by $x - x'$. The baseline should mean "no information": we compare
black, white and uniform noise.
""")

md("ex_ig", r"""
### Exercise 11 (code)

Implement `visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True)`
with TruLens: `x` and `baseline` are one input each (same shape); `c` is the class to explain,
by default the model's top class at `x`. Return the attributions, shape `(C, H, W)`; with
`show=True` draw them with `_show_masks`. The checks test completeness (relative gap at most
$5\cdot10^{-2}$ at resolution 50, the tolerance TruLens's own tests use, and $10^{-2}$ at
resolution 300; the hidden check uses 1000) and compare with captum's `IntegratedGradients` to
$10^{-2}$.
""")

solution("integrated_gradients", '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    """Integrated gradients (C, H, W) of class c (default: the top class) at one input x, from
    `baseline` (same shape as x), with `resolution` points on the path."""
    ### BEGIN SOLUTION
    wrapper = _wrap(model)
    batch = _batch(x)
    if c is None:
        c = int(_scores(model, batch)[0].argmax())
    ig = IntegratedGradients(wrapper, baseline=_batch(baseline), resolution=int(resolution),
                             qoi=ClassQoI(int(c)), rebatch_size=25)
    attributions = ig.attributions(batch)
    if show:
        _show_masks(batch, attributions, [f"IG, class {c}"])
    return attributions[0]
    ### END SOLUTION
''')

selfcheck("2.2")

code("ig_photos", """
x = inputs["chelsea"]
c = int(_scores(cnn, x[None])[0].argmax())
rng = np.random.default_rng(0)
baselines = {"black": to_model_input(np.zeros((1, image_size, image_size, 3)))[0].numpy(),
             "white": to_model_input(np.ones((1, image_size, image_size, 3)))[0].numpy(),
             "noise": to_model_input(rng.uniform(size=(1, image_size, image_size, 3)))[0].numpy()}
resolution = 20 if use_vgg or QUICK else 50
ig_maps = {}
for name, baseline in tqdm(baselines.items(), desc="integrated gradients"):
    ig_maps[name] = visualize_integrated_gradients(cnn, x, baseline, resolution, c=c, show=False)
    change = _scores(cnn, x[None])[0, c] - _scores(cnn, baseline[None])[0, c]
    print(f"{name:>5} baseline: f_c(x) - f_c(x') = {change:8.3f}, sum of IG = "
          f"{ig_maps[name].sum():8.3f}")
_show_masks(x[None], np.stack(list(ig_maps.values())),
            [f"{class_names[c]}, {name} baseline" for name in ig_maps])
""")

written("written_12", r"""
### Written exercise 12

How do the three maps differ? Why does the black baseline give zero attribution to black
pixels, and what does the white baseline do to white ones?
""", r"""
(Describe the maps of this run.) IG's factor $(x_i - x'_i)$ makes every pixel that equals the
baseline get exactly zero attribution, whatever the gradient: with a black baseline the dark
parts of the image (here, e.g., the cat's dark stripes and shadows) cannot receive credit,
and with a white baseline bright parts cannot. Each baseline thus defines "absence" differently
and highlights what *differs* from it. The noise baseline has no single colour that is ignored;
its map mixes both, but it depends on the random draw (averaging over several noise baselines,
as in expected gradients, reduces that). The totals also differ, since completeness makes each
map sum to $f_c(x) - f_c(x')$ for its own baseline.
""")

written("written_13", r"""
### Written exercise 13

Compare the printed sums with $f_c(x) - f_c(x')$. Where does a gap come from, how does it
depend on the resolution, and why is a *relative* gap large when $f_c(x) - f_c(x')$ is small?
""", r"""
The integral is approximated by the mean of the gradient at `resolution` points on the path
(a Riemann sum). For a ReLU network the gradient is piecewise constant along the path, so the
error of the sum is of the order of the jumps times the step size, roughly proportional to
1/resolution; the check asks for a relative gap below 5% at resolution 50 and below 1% at 300.
Float32 arithmetic adds a much smaller error. The Riemann error scales with the size of the
gradients along the path, not with the net change $f_c(x) - f_c(x')$: when the path goes up and
down again (large gradients of both signs, small net change), the absolute error stays the
same while the change it is compared with is small, so the relative gap is large. Completeness
is still a useful diagnostic: a gap that does not shrink with more steps means a bug (e.g. a
missing factor $x - x'$ or the wrong class).
""")

written("written_14", r"""
### Written exercise 14

Completeness is one axiom of integrated gradients; *sensitivity* is another. State sensitivity,
and show that plain gradients ($\nabla f_c$, or $x \odot \nabla f_c$) violate it with a
one-dimensional example.
""", r"""
**Sensitivity:** if $x$ and the baseline differ in one feature only and $f(x) \ne f(x')$, that
feature must get non-zero attribution. (And a feature the function does not depend on must get
zero.)

Take $f(x) = 1 - \mathrm{ReLU}(1 - x)$ with baseline $x' = 0$ and input $x = 2$:
$f(0) = 0$, $f(2) = 1$, so the output changed because of $x$. But at $x = 2$ the ReLU is off,
$f'(2) = 0$, so the gradient and $x \cdot f'(x)$ both give 0: the feature that made all the
difference gets no credit, because the function is saturated at the input. IG averages the
gradient over $[0, 2]$, where it is 1 on $[0, 1]$, giving $\mathrm{IG} = 2 \cdot \tfrac12 = 1
= f(2) - f(0)$.
""")

# =============================================================================================
# 2.3 Internal influence
# =============================================================================================

md("influence_intro", r"""
### 2.3 Internal influence and expert neurons

Attributions need not stop at the input. With a slice from an internal layer to the output,
`InternalInfluence(wrapper, Cut(layer_name), qoi, doi, multiply_activation=False)` returns the
gradient of the QoI with respect to the layer's activations, averaged over the DoI, which is
*applied at that layer*: `"point"` is the layer's own activation $a(x)$, and `"linear"` is
TruLens's default `LinearDoi`, 10 points $\alpha\,a(x)$ from $\alpha = 1$ down to 0 (a zero
baseline in the layer's activation space). For a convolutional layer the result has one value
per channel and position, `(K, h, w)`; we call **the influence of neuron (channel) $k$** the sum
over its positions. The channel with the largest influence is an **expert** for the QoI. With
`ComparativeQoI(c1, c2)` the expert is the channel that most pushes class $c_1$ over class
$c_2$.
""")

written("written_15", r"""
### Written exercise 15

Why can the point and linear DoIs pick different experts? Which would you use to find the
neurons that *cause* a class's score at this input?
""", r"""
The point DoI gives the local gradient at the actual activation: how much the QoI would change
for a small change of each channel. The linear DoI averages the gradient from a zero activation
up to the actual one, so (multiplied by the activation) it measures how much of the QoI the
channel's activation accounts for, as IG does at the input; downstream ReLUs that are
saturated at $a(x)$ but not along the path make the two differ. For "which neurons cause this
score", the path-averaged (linear) influence is the better choice, since it satisfies
completeness-style guarantees and is not fooled by saturation; the point influence is cheaper
and answers "which neuron is the score most sensitive to right now".
""")

written("written_16", r"""
### Written exercise 16

What does a comparative QoI $f_{c_1} - f_{c_2}$ find that the class QoI $f_{c_1}$ does not?
Give an example with two similar classes.
""", r"""
The class QoI finds neurons that raise $c_1$'s logit, including generic ones that raise many
classes at once (e.g. "furry texture" raises every animal class). The comparative QoI cancels
what the two classes share: its experts are neurons that raise $c_1$ *more than* $c_2$, i.e.
the features that distinguish them. For "tabby cat" versus "Egyptian cat" (or "cat" versus
"dog" for the small CNN) a fur neuron has similar influence on both logits and drops out,
while a neuron responding to the tabby's stripe pattern (or to pointed ears) remains.
""")

md("ex_influence", r"""
### Exercise 17 (code)

Implement `get_internal_influences(model, x_pp, x, layer_name, doi, qoi)` with TruLens:

* `x_pp` is one model input, `(C, H, W)` or `(1, C, H, W)`; `x` is the same picture for
  display, `(H, W, 3)` in $[0, 1]$, or `None` (then draw nothing; the grader passes `None`);
* `layer_name` is a TruLens layer name such as `"features_6"`; `doi` is `"point"` or
  `"linear"`; `qoi` is a class index `c`, or a pair `(c1, c2)` for $f_{c_1} - f_{c_2}$.

Return `(influence, expert)`: the influence of each neuron of the layer as an array `(K,)`
(gradients averaged over the DoI, `multiply_activation=False`, summed over positions) and the
index of the expert neuron. When `x` is given, show the input pixels that matter for the expert
with `_show_expert(wrapper, batch, x, layer_name, expert)`. The checks compare with the mean
layer gradient computed with PyTorch autograd to $10^{-5}$ (relative).
""")

solution("internal_influence", '''
def get_internal_influences(model, x_pp, x, layer_name, doi, qoi):
    """Influence (K,) of each neuron (channel) of layer `layer_name` on the QoI, averaged over
    the DoI ("point" or "linear") and summed over positions, and the expert neuron (argmax).
    qoi: a class c, or (c1, c2) for c1 versus c2. x: the picture to draw on, or None."""
    ### BEGIN SOLUTION
    wrapper = _wrap(model)
    batch = _batch(x_pp)
    quantity = ComparativeQoI(int(qoi[0]), int(qoi[1])) if isinstance(qoi, (tuple, list)) \\
        else ClassQoI(int(qoi))
    influence = InternalInfluence(wrapper, Cut(layer_name), quantity, doi,
                                  multiply_activation=False).attributions(batch)[0]
    per_neuron = influence.reshape(influence.shape[0], -1).sum(axis=1)
    expert = int(per_neuron.argmax())
    if x is not None:
        _show_expert(wrapper, batch, x, layer_name, expert)
    return per_neuron, expert
    ### END SOLUTION
''')

selfcheck("2.3")

code("experts", """
x_pp, picture = inputs["chelsea"], photos["chelsea"]
experts = {}
for doi in ("point", "linear"):
    influence, experts[doi] = get_internal_influences(cnn, x_pp, picture, layer_name, doi,
                                                      class_a)
    ranked = np.argsort(-influence)[:5]
    print(f"{doi:>6} DoI, QoI {class_names[class_a]}: expert neuron {experts[doi]}; top five "
          f"{ranked.tolist()} with influence {np.round(influence[ranked].astype(float), 3).tolist()}")
influence, experts["comparative"] = get_internal_influences(
    cnn, x_pp, picture, layer_name, "linear", (class_a, class_b))
print(f"linear DoI, QoI {class_names[class_a]} - {class_names[class_b]}: expert neuron "
      f"{experts['comparative']}")
""")

written("written_18", r"""
### Written exercise 18

Did the point and linear DoIs find the same expert for this photo? Did the comparative QoI?
Describe the regions shown for the experts.
""", r"""
(Answer from the printed indices and pictures of this run; they depend on the model and,
offline, on the training run.) When the experts coincide, the neuron is both locally
sensitive and responsible for much of the score along the path; when they differ, some
channel's effect is saturated at the input. The comparative expert can be a different
channel, since a neuron that supports both classes equally is not an expert for the difference.
The region shown is where the input pixels raise that neuron's total activation (integrated
gradients of the channel); an interpretable expert highlights a coherent part of the object
(face, ears, stripes) rather than scattered background.
""")

written("written_19", r"""
### Written exercise 19

Internal influence with `multiply_activation=True` and a linear DoI from a zero baseline is
integrated gradients *at the layer*. What is the sum of these attributions over all neurons?
""", r"""
By completeness at the layer: writing $g$ for the network from the layer to the QoI and $a$
for the layer's activation, $\sum_k a_k \int_0^1 \partial_k g(\alpha a)\,d\alpha = g(a) - g(0)$:
the QoI at the input minus the QoI when the layer's activation is replaced by zeros (up to the
Riemann error of the resolution). It does *not* equal $f_c(x) - f_c(\text{baseline input})$,
since zero activations at a layer need not correspond to any input.
""")

written("written_20", r"""
### Written exercise 20

Is a single "expert neuron" a faithful explanation of a class? Name one way the idea can
mislead.
""", r"""
Only partly. The argmax hides how spread out the influence is: if many channels have similar
influence, the "expert" is an arbitrary pick, and a class may be encoded by a combination of
neurons (distributed representations, polysemantic neurons that respond to unrelated
features). The expert also depends on the input, the layer, the DoI and the QoI: it explains one
prediction, not the class in general. Check the whole ranking, several inputs of the class,
and an intervention (zeroing the expert should lower the QoI more than zeroing a random
channel).
""")

# =============================================================================================
# 2.4 Evaluating attributions
# =============================================================================================

md("metrics_intro", r"""
### 2.4 Evaluating attributions

Two measures of how faithful a pixel attribution $a \in \mathbb{R}^{H \times W}$ is (pixel
attributions are the channel mean of an attribution, `pixel_attribution`). Throughout, $c$ is
the class the model predicts for the full image and $p_c$ its softmax probability.

* **Average Drop %** (from Grad-CAM++). Keep the image only where the attribution says it
  matters: $M = \max(a, 0) / \max a$ (all zeros if no entry is positive), the same mask in every
  channel, and $O = p_c(x \odot M)$. With $Y = p_c(x)$,
  $\text{AD} = 100 \cdot \frac1N \sum_i \max(0, Y_i - O_i) / Y_i$. Lower is better: the
  explanation alone keeps the model's confidence.
* **Necessity Ordering.** Remove pixels from the most attributed down: rank the $P = H W$ pixels
  by decreasing $a$ (ties: the lower flat index first), and for $k = 0, 1, \dots, $ `steps` set
  the first $\lfloor kP / \text{steps} \rfloor$ of them to 0 in every channel. The score is the
  mean of $p_c$ over these `steps + 1` images (the normalised area under the deletion curve).
  Lower is better: the pixels the attribution ranks first are *necessary* for the prediction.
""")

md("ex_metrics", r"""
### Exercise (code)

Implement `pixel_attribution(attr)` (the mean over the channel axis, for `(C, H, W)` or
`(N, C, H, W)`), `average_drop(model, X, pixel_attrs)` for images `X (N, C, H, W)` and pixel
attributions `(N, H, W)`, returning the percentage as a float, and
`necessity_ordering(model, x, pixel_attr, steps=20)` for one image, returning a float. Use the
helper `class_probabilities` below. The checks compare with the grader's own computation on a
linear model, whose masked outputs it knows in closed form, and on a CNN (float64 models).
""")

code("probabilities_helper", """
def class_probabilities(model, X):
    \"\"\"Softmax probabilities (N, classes), float64 numpy, for a numpy batch X (N, C, H, W).\"\"\"
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(X)).to(dtype))
    return torch.softmax(logits.double(), dim=1).numpy()
""")

solution("metrics", '''
def pixel_attribution(attr):
    """Mean over the channel axis: (C, H, W) -> (H, W), or (N, C, H, W) -> (N, H, W)."""
    ### BEGIN SOLUTION
    return np.asarray(attr, dtype=np.float64).mean(axis=-3)
    ### END SOLUTION


def average_drop(model, X, pixel_attrs):
    """Average Drop % of the masks max(a, 0) / max(a) for images X (N, C, H, W) and pixel
    attributions (N, H, W), for each image's predicted class."""
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=np.float64)
    masks = []
    for a in np.asarray(pixel_attrs, dtype=np.float64):
        masks.append(np.maximum(a, 0) / a.max() if a.max() > 0 else np.zeros_like(a))
    masks = np.stack(masks)[:, None]                  # (N, 1, H, W): the same in every channel
    full, masked = class_probabilities(model, X), class_probabilities(model, X * masks)
    c = full.argmax(axis=1)
    rows = np.arange(len(X))
    Y, O = full[rows, c], masked[rows, c]
    return float(100 * np.mean(np.maximum(0.0, Y - O) / Y))
    ### END SOLUTION


def necessity_ordering(model, x, pixel_attr, steps=20):
    """Mean predicted-class probability as the most attributed pixels are zeroed, in
    steps + 1 stages (0, P // steps, ..., all P = H·W pixels). Lower is better."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    order = np.argsort(-np.asarray(pixel_attr, dtype=np.float64).ravel(), kind="stable")
    P = order.size
    images = []
    for k in range(steps + 1):
        keep = np.ones(P)
        keep[order[: (k * P) // steps]] = 0.0
        images.append(x * keep.reshape(x.shape[1:]))
    probabilities = class_probabilities(model, np.stack(images))
    c = probabilities[0].argmax()
    return float(probabilities[:, c].mean())
    ### END SOLUTION
''')

selfcheck("2.4")

md("metrics_run_intro", r"""
Now compare saliency, integrated gradients (black baseline) and a random attribution on the
photos, each for the predicted class. The numbers are this model's; read them before
answering the questions below.
""")

code("metrics_run", """
names = list(inputs)
X_eval = np.stack([inputs[name] for name in names])
attributions = {"saliency": [], "IG (black)": [], "random": []}
rng = np.random.default_rng(1)
black = baselines["black"]
for name in tqdm(names, desc="attributions"):
    x = inputs[name]
    c = int(_scores(cnn, x[None])[0].argmax())
    classes, saliency = visualize_saliency_map(cnn, x, k=1, show=False)
    attributions["saliency"].append(pixel_attribution(saliency[0]))
    attributions["IG (black)"].append(pixel_attribution(
        visualize_integrated_gradients(cnn, x, black, resolution, c=c, show=False)))
    attributions["random"].append(rng.normal(size=(image_size, image_size)))
steps = 10 if QUICK else 20
print(f"{'method':>12} {'Average Drop %':>15} {'Necessity Ordering (mean over photos)':>38}")
for method, pixel_attrs in attributions.items():
    drop = average_drop(cnn, X_eval, np.stack(pixel_attrs))
    orderings = [necessity_ordering(cnn, x, a, steps=steps) for x, a in zip(X_eval, pixel_attrs)]
    print(f"{method:>12} {drop:15.1f} {np.mean(orderings):38.3f}")
""")

code("deletion_plot", """
x, name = X_eval[0], names[0]
c = int(_scores(cnn, x[None])[0].argmax())
fig, ax = plt.subplots(figsize=(5, 3.5))
for method, pixel_attrs in attributions.items():
    order = np.argsort(-pixel_attrs[0].ravel(), kind="stable")
    P, fractions, probabilities = order.size, np.linspace(0, 1, steps + 1), []
    for k in range(steps + 1):
        keep = np.ones(P)
        keep[order[: (k * P) // steps]] = 0
        probabilities.append(class_probabilities(cnn, (x * keep.reshape(x.shape[1:]))[None])[0, c])
    ax.plot(fractions, probabilities, marker=".", label=method)
ax.set(xlabel="fraction of pixels removed (most attributed first)",
       ylabel=f"p({class_names[c]})", title=f"deletion curves, {name}")
ax.legend()
plt.tight_layout()
plt.show()
""")

written("written_21", r"""
### Written exercise 21

Which method did best on each measure in this run, and was the random attribution clearly
worse? What does your answer say about these measures with only four images?
""", r"""
(Read the table of this run.) A faithful method should beat the random attribution on both
measures: a lower Average Drop (the kept region preserves the confidence) and a lower
Necessity Ordering (removing its top pixels first destroys the prediction faster). With four
images, and a single random draw, the differences are noisy: a difference of a few points
could reverse with other photos or another random seed, so conclusions need many images and
repeated random baselines, ideally with confidence intervals.
""")

written("written_22", r"""
### Written exercise 22

Average Drop clips negative drops at 0. What does the clipping hide, and what is the related
"Increase in Confidence" measure?
""", r"""
When the masked image gets a *higher* probability than the full one ($O > Y$), the drop is
negative; clipping counts it as 0, so Average Drop cannot reward an explanation whose region
alone is more convincing than the whole image (e.g. it removes distracting background), and a
method that often increases the score is not distinguished from one that exactly preserves
it. Grad-CAM++ reports that case separately as **Increase in Confidence**: the percentage of
images with $O_i > Y_i$ (higher is better).
""")

written("written_23", r"""
### Written exercise 23

Both measures replace pixels by 0 (here, in the model's input space). Why is that a problem,
and how could you reduce it?
""", r"""
Zeroed or masked images are out of the training distribution: the model may change its
prediction because of the artificial black blobs and sharp edges, not because information was
removed. The measures then mix faithfulness with the model's reaction to unnatural inputs, and
they favour attributions whose masks look natural. Remedies: replace removed pixels with a
blurred version, the mean colour, or an inpainting; average over several baselines; or retrain
the model on images with removed pixels (ROAR, "remove and retrain") so that removal is in
distribution.
""")

written("written_24", r"""
### Written exercise 24

An attribution can score well on these measures and still be a poor explanation for a
person. Give one reason, and one complementary check.
""", r"""
The measures test whether the model's *output* responds to the highlighted pixels, not whether
the highlighted pattern is understandable or stable: an adversarially chosen or very sparse
mask can keep the score high (the model reacts to a few texture pixels) while telling a person
nothing; and two attributions with equal scores can highlight different regions. Complementary
checks: sanity checks (randomising the model's weights or labels must change the attribution,
Adebayo et al.), stability under small input perturbations, and user studies or agreement with
known ground truth on synthetic data where the relevant features are planted.
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
