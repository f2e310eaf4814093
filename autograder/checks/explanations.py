"""Reference computations for the explanation homework (hw2); never shipped to students.

Everything here is an *independent* second implementation of what the students write with
trulens: brute force over permutations for Shapley values, closed-form weighted least squares for
LIME, torch autograd and captum for gradients, and plain numpy for the attribution metrics.
"""
from __future__ import annotations

from itertools import permutations
from math import factorial

import numpy as np

from tmlkit.models import linear_image_model, linear_image_weights  # noqa: F401  (for the spec)


# ---------------------------------------------------------------------------------------------
# Part 1 references
# ---------------------------------------------------------------------------------------------

def reference_local_line(query: float, X, Y, d: float) -> tuple[float, float]:
    """The weighted least-squares line y ≈ a x + b with weights exp(-(x - query)² / d), from the
    closed form: a = cov_w(x, y) / var_w(x), b = ȳ_w - a x̄_w."""
    X, Y = np.asarray(X, dtype=np.float64).ravel(), np.asarray(Y, dtype=np.float64).ravel()
    w = np.exp(-(X - query) ** 2 / d)
    w = w / w.sum()
    x_bar, y_bar = w @ X, w @ Y
    slope = (w @ ((X - x_bar) * (Y - y_bar))) / (w @ (X - x_bar) ** 2)
    return float(slope), float(y_bar - slope * x_bar)


def coalition_values(f, x: np.ndarray, background: np.ndarray) -> dict:
    """v(S) = mean over background rows b of f(x_S, b_rest), for every subset S (as a frozenset)."""
    x, background = np.asarray(x, dtype=np.float64), np.asarray(background, dtype=np.float64)
    M = len(x)
    values = {}
    for mask in range(1 << M):
        S = frozenset(i for i in range(M) if mask >> i & 1)
        rows = background.copy()
        rows[:, sorted(S)] = x[sorted(S)]
        values[S] = float(np.mean(np.asarray(f(rows), dtype=np.float64)))
    return values


def brute_force_shapley(f, x, background) -> np.ndarray:
    """Shapley values as the average marginal contribution over all M! orderings (M ≤ 7)."""
    M = len(x)
    v = coalition_values(f, x, background)
    phi = np.zeros(M)
    for order in permutations(range(M)):
        before = frozenset()
        for i in order:
            phi[i] += v[before | {i}] - v[before]
            before = before | {i}
    return phi / factorial(M)


def sign_patterned_background(M: int) -> np.ndarray:
    """All 2^M rows of ±1: every product of a non-empty set of distinct coordinates averages to
    exactly 0, as for independent zero-mean features."""
    return np.array([[1.0 if mask >> i & 1 else -1.0 for i in range(M)] for mask in range(1 << M)])


# ---------------------------------------------------------------------------------------------
# Part 2 references: gradients with torch autograd and captum (never trulens)
# ---------------------------------------------------------------------------------------------

def module_at(model, path: str):
    """``model.features.6`` for path "features.6" (trulens names it "features_6")."""
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def as_batch(x, dtype=None):
    import torch
    x = np.asarray(x, dtype=np.float64)
    tensor = torch.as_tensor(x.reshape(1, *x.shape[-3:]))
    return tensor if dtype is None else tensor.to(dtype)


def reference_saliency(model, x, classes) -> np.ndarray:
    """captum's InputXGradient, x ⊙ ∇_x f_c(x), for each class c: (len(classes), C, H, W)."""
    from captum.attr import InputXGradient
    batch = as_batch(x)
    explainer = InputXGradient(model)
    return np.stack([explainer.attribute(batch.clone().requires_grad_(), target=int(c))
                     .detach().numpy()[0] for c in classes])


def reference_integrated_gradients(model, x, baseline, c, n_steps: int = 500,
                                   method: str = "gausslegendre") -> np.ndarray:
    """captum's IntegratedGradients for class c: (C, H, W). ``method="riemann_right"`` is the
    original's Eq. 3, (x - x_b) ⊙ 1/N Σ_{i=1..N} ∇f_c(x_b + (x - x_b) i/N) with N = n_steps;
    the default, Gauss-Legendre, approximates the integral itself."""
    from captum.attr import IntegratedGradients
    attribution = IntegratedGradients(model).attribute(
        as_batch(x), baselines=as_batch(baseline), target=int(c), n_steps=n_steps,
        method=method)
    return attribution.detach().numpy()[0]


def rule_integrated_gradients(model, x, baseline, c, alphas, weights) -> np.ndarray:
    """(x - x_b) ⊙ Σ_k w_k ∇f_c(x_b + α_k (x - x_b)), with torch autograd: any quadrature rule
    for the path integral (the checks name the rule a wrong answer used)."""
    import torch
    x, baseline = as_batch(x)[0], as_batch(baseline)[0]
    alphas = torch.as_tensor(np.asarray(alphas, dtype=np.float64)).reshape(-1, 1, 1, 1)
    path = (baseline + alphas * (x - baseline)).requires_grad_()
    model(path)[:, int(c)].sum().backward()
    weights = torch.as_tensor(np.asarray(weights, dtype=np.float64)).reshape(-1, 1, 1, 1)
    return ((x - baseline) * (weights * path.grad).sum(dim=0)).detach().numpy()


def reference_evaluation_attributions(model, X, resolution: int, baseline: float = 0.0):
    """Exercise 22's pixel attributions (N, H, W) of images X (N, C, H, W), each for the class
    the model predicts for its image, as the channel mean: (saliency by captum's
    InputXGradient, integrated gradients by captum's right Riemann sum with N = resolution from
    the constant image ``baseline``, the original's all-zero baseline by default)."""
    saliency, ig = [], []
    for x in np.asarray(X, dtype=np.float64):
        c = int(np.argmax(logits(model, x)))
        saliency.append(reference_saliency(model, x, [c])[0].mean(axis=0))
        ig.append(reference_integrated_gradients(model, x, np.full_like(x, baseline), c,
                                                 resolution, "riemann_right").mean(axis=0))
    return np.stack(saliency), np.stack(ig)


def logits(model, x) -> np.ndarray:
    import torch
    with torch.no_grad():
        return model(as_batch(x, next(model.parameters()).dtype)).double().numpy()[0]


def linear_doi_points(x, baseline, resolution: int = 10) -> np.ndarray:
    """The linear DoI in input space, as TruLens's ``LinearDoi`` samples it: ``resolution``
    points x_b + α (x - x_b), α = 1, 1 - 1/(r-1), ..., 0, both ends included: (r, C, H, W)."""
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    baseline = np.zeros_like(x) if baseline is None else \
        np.asarray(baseline, dtype=np.float64).reshape(x.shape)
    alphas = [1.0] if resolution == 1 else [1 - i / (resolution - 1) for i in range(resolution)]
    return np.stack([baseline + alpha * (x - baseline) for alpha in alphas])


def _quantity(model, qoi):
    """The QoI as a forward function for captum: the logit of class qoi, or y_c1 - y_c2."""
    def quantity(inputs):
        out = model(inputs)      # one forward pass: captum hooks the layer on it
        if isinstance(qoi, (tuple, list)):
            return out[:, int(qoi[0])] - out[:, int(qoi[1])]
        return out[:, int(qoi)]
    return quantity


def reference_layer_influence(model, path: str, x, qoi, doi: str, baseline=None,
                              resolution: int = 10) -> np.ndarray:
    """Influence of each channel of the layer at ``path`` (Def. 3): ∂q/∂a, a the layer's
    output, averaged over the DoI and summed over the channel's positions: (K,). The DoI lives
    in *input* space: the point DoI is x itself, the linear DoI ``linear_doi_points`` from
    ``baseline`` (None: the all-zero input). q is the logit of class qoi, or y_c1 - y_c2 for a
    pair. captum's LayerGradientXActivation without the activation factor gives ∂q/∂a."""
    import torch
    from captum.attr import LayerGradientXActivation
    points = as_batch(x) if doi == "point" else \
        torch.as_tensor(linear_doi_points(x, baseline, resolution))
    gradients = LayerGradientXActivation(_quantity(model, qoi), module_at(model, path),
                                         multiply_by_inputs=False).attribute(points)
    influence = gradients.detach().mean(dim=0).numpy()
    return influence.reshape(influence.shape[0], -1).sum(axis=1)


def reference_expert_attribution(model, path: str, x, expert: int) -> np.ndarray:
    """Def. 4: x ⊙ ∇_x h_k(x), h_k the output of channel (neuron) k of the layer at ``path``,
    summed over its positions: (C, H, W). captum's NeuronGradient gives ∇_x h_k."""
    from captum.attr import NeuronGradient
    batch = as_batch(x)

    def channel(output):
        return output[:, int(expert)].reshape(len(output), -1).sum(dim=1)

    gradient = NeuronGradient(model, module_at(model, path)).attribute(
        batch, neuron_selector=channel)
    return (batch * gradient).detach().numpy()[0]


def channel_totals(model, path: str, x) -> np.ndarray:
    """The output of each channel of the layer at ``path``, summed over its positions: (K,)."""
    import torch
    kept = {}
    handle = module_at(model, path).register_forward_hook(
        lambda module, inputs, output: kept.update(a=output.detach()))
    try:
        with torch.no_grad():
            model(as_batch(x))
    finally:
        handle.remove()
    return kept["a"][0].reshape(kept["a"].shape[1], -1).sum(dim=1).numpy()


def channel_integrated_gradients(model, path: str, x, expert: int,
                                 resolution: int = 20) -> np.ndarray:
    """Integrated gradients of channel ``expert`` (its output summed over positions) from the
    zero input, as TruLens's LinearDoi samples the path (``resolution`` points, both ends):
    what the kit's expert map used to be, which the expert check names when it sees it."""
    import torch
    kept = {}
    handle = module_at(model, path).register_forward_hook(
        lambda module, inputs, output: kept.update(a=output))
    points = torch.as_tensor(linear_doi_points(x, None, resolution)).requires_grad_()
    try:
        model(points)
    finally:
        handle.remove()
    kept["a"][:, int(expert)].sum().backward()
    return (as_batch(x)[0] * points.grad.mean(dim=0)).detach().numpy()


# ---------------------------------------------------------------------------------------------
# Attribution metrics: Average Drop % and Necessity Ordering, as the original homework defines
# them (pre-softmax scores f_c, hard masks), in numpy from logits
# ---------------------------------------------------------------------------------------------

def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def positive_mask(pixel_attr: np.ndarray) -> np.ndarray:
    """M_A: 1 where the pixel attribution is strictly positive, 0 elsewhere: (H, W) or (N, H, W)."""
    return (np.asarray(pixel_attr, dtype=np.float64) > 0).astype(np.float64)


def removal_order(pixel_attr: np.ndarray) -> np.ndarray:
    """π_A: the flat pixel indices by decreasing attribution, ties by lower index first: (H·W,)."""
    return np.argsort(-np.asarray(pixel_attr, dtype=np.float64).ravel(), kind="stable")


def reference_average_drop(predict, X, pixel_attrs) -> float:
    """AD = 100 · mean_i max(f_c(x_i) - f_c(M_A(x_i)), 0) / f_c(x_i), with f_c the pre-softmax
    score of c_i = argmax f(x_i) and M_A zeroing (in every channel) the pixels whose attribution
    is not positive. ``predict`` maps a batch X (N, C, H, W) to logits (N, classes); the pixel
    attributions are (N, H, W). Meaningful only where every f_c(x_i) > 0 (else ValueError)."""
    X = np.asarray(X, dtype=np.float64)
    full, masked = predict(X), predict(X * positive_mask(pixel_attrs)[:, None])
    rows, c = np.arange(len(X)), full.argmax(axis=1)
    score, kept = full[rows, c], masked[rows, c]
    if (score <= 0).any():
        raise ValueError("Average Drop divides by f_c(x); it needs every top logit > 0")
    return float(100 * np.mean(np.maximum(score - kept, 0) / score))


def removal_images(x: np.ndarray, pixel_attr: np.ndarray) -> np.ndarray:
    """R(i, π_A) for i = 0..N: x (C, H, W) with its i most attributed pixels set to 0 in every
    channel: (N + 1, C, H, W), N = H·W. Row i is built from row i - 1 (one pixel more)."""
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    channels, pixels = x.shape[0], x[0].size
    images = np.repeat(x.reshape(1, channels, pixels), pixels + 1, axis=0)
    for i, p in enumerate(removal_order(pixel_attr), start=1):
        images[i:, :, p] = 0.0
    return images.reshape(pixels + 1, *x.shape)


def reference_necessity_ordering(predict, x, pixel_attr, c: int | None = None) -> float:
    """N_o = 1/(N+1) · Σ_{i=0..N} max(f_c(R(i, π_A)) - f_c(0), 0): pixels removed by decreasing
    attribution, f_c the pre-softmax score of c (default: the class predicted for x), 0 the
    all-zero image. x: (C, H, W), pixel_attr: (H, W)."""
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    scores = predict(removal_images(x, pixel_attr))      # row N is the all-zero image
    c = int(scores[0].argmax()) if c is None else int(c)
    return float(np.mean(np.maximum(scores[:, c] - scores[-1, c], 0)))


def linear_pixel_contributions(W: np.ndarray, x: np.ndarray, c: int) -> np.ndarray:
    """g_p = Σ_ch W_c[ch, p] x[ch, p] for the linear image model: (H, W). Its logit c is
    b_c + Σ_p g_p, so zeroing pixels subtracts their g_p."""
    x = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])
    return (W[c].reshape(x.shape) * x).sum(axis=0)


def linear_average_drop(W: np.ndarray, b: np.ndarray, X, pixel_attrs) -> float:
    """The closed form of Average Drop % on logits W · flatten(x) + b: the masked score loses
    exactly the contributions of the pixels whose attribution is ≤ 0."""
    drops = []
    for x, a in zip(np.asarray(X, dtype=np.float64), np.asarray(pixel_attrs, dtype=np.float64)):
        c = int(np.argmax(W @ x.ravel() + b))
        g = linear_pixel_contributions(W, x, c)
        drops.append(max(g[a <= 0].sum(), 0.0) / (b[c] + g.sum()))
    return float(100 * np.mean(drops))


def linear_necessity_ordering(W: np.ndarray, b: np.ndarray, x, pixel_attr) -> float:
    """The closed form of Necessity Ordering on logits W · flatten(x) + b: f_c(R(i)) - f_c(0)
    is the sum of the contributions of the pixels not yet removed, a suffix sum along π_A."""
    x = np.asarray(x, dtype=np.float64)
    c = int(np.argmax(W @ x.ravel() + b))
    g = linear_pixel_contributions(W, x, c).ravel()[removal_order(pixel_attr)]
    remaining = np.append(np.cumsum(g[::-1])[::-1], 0.0)     # i = 0..N
    return float(np.mean(np.maximum(remaining, 0)))


def linear_predict(W: np.ndarray, b: np.ndarray):
    return lambda X: np.asarray(X, dtype=np.float64).reshape(len(X), -1) @ W.T + b


def torch_predict(model):
    import torch

    def predict(X):
        dtype = next(model.parameters()).dtype
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(X, dtype=np.float64)).to(dtype)).double().numpy()
    return predict
