"""Correct code written differently from the reference solutions, which must keep full marks:
tests/test_hw1.py and tests/test_hw2.py grade them, and benchmarks/load_grading.py grades them on
a loaded machine.

ALTERNATIVES[homework][name] = (parts graded, {function name: source}).
"""
from __future__ import annotations

SHAPLEY_BY_PERMUTATIONS = '''
def exact_shapley(f, x, background):
    from itertools import permutations
    x, background = np.asarray(x, dtype=float), np.asarray(background, dtype=float)
    M, cache = len(x), {}

    def v(S):
        if S not in cache:
            rows = background.copy()
            rows[:, list(S)] = x[list(S)]
            cache[S] = float(np.mean(f(rows)))
        return cache[S]

    phi = np.zeros(M)
    orders = list(permutations(range(M)))
    for order in orders:
        for position, i in enumerate(order):
            before = frozenset(order[:position])
            phi[i] += v(before | {i}) - v(before)
    return phi / len(orders)
'''

INFLUENCE_BY_HAND = '''
def get_internal_influences(model, x_pp, x, layer_name, doi, qoi, baseline=None):
    wrapper = get_model_wrapper(model, device="cpu")
    quantity = ComparativeQoI(*[int(c) for c in qoi]) if np.ndim(qoi) else ClassQoI(int(qoi))
    batch = np.asarray(x_pp, dtype=np.float32).reshape(1, *np.shape(x_pp)[-3:])
    start = np.zeros_like(batch) if baseline is None else \\
        np.asarray(baseline, dtype=np.float32).reshape(batch.shape)
    distribution = PointDoi(cut=InputCut()) if doi == "point" else \\
        LinearDoi(baseline=start, resolution=10, cut=InputCut())
    attribution = InternalInfluence(wrapper, Slice(Cut(layer_name), OutputCut()), quantity,
                                    distribution, multiply_activation=False)
    per_neuron = attribution.attributions(batch)[0].sum(axis=(1, 2))
    return per_neuron, int(np.argmax(per_neuron))
'''

# Def. 4 with torch autograd and a forward hook, no TruLens.
EXPERT_BY_HAND = '''
def expert_attribution(model, x_pp, layer_name, expert):
    module = model
    for part in layer_name.split("_"):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    dtype = next(model.parameters()).dtype
    image = torch.as_tensor(np.asarray(x_pp, dtype=np.float64).reshape(1, *np.shape(x_pp)[-3:]))
    image = image.to(dtype).requires_grad_(True)
    kept = []
    handle = module.register_forward_hook(lambda m, i, output: kept.append(output))
    try:
        model(image)
    finally:
        handle.remove()
    kept[0][0, int(expert)].sum().backward()
    return (image * image.grad)[0].detach().numpy().astype(np.float64)
'''

# Eq. 3 (the right Riemann sum) with torch autograd, in chunks of the path.
IG_RIGHT_SUM_BY_HAND = '''
def visualize_integrated_gradients(model, x, baseline, resolution, c=None, show=True):
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:])).to(dtype)
    base = torch.as_tensor(np.asarray(baseline, dtype=np.float64).reshape(x.shape)).to(dtype)
    if c is None:
        with torch.no_grad():
            c = int(model(x[None])[0].argmax())
    steps = int(resolution)
    alphas = torch.arange(1, steps + 1, dtype=dtype) / steps
    total = torch.zeros_like(x)
    for start in range(0, steps, 64):
        a = alphas[start:start + 64].reshape(-1, 1, 1, 1)
        path = (base + a * (x - base)).requires_grad_(True)
        model(path)[:, int(c)].sum().backward()
        total += path.grad.sum(dim=0)
    return ((x - base) * total / steps).detach().numpy().astype(np.float64)
'''

# Exercise 22's attributions for all images at once, with captum-free torch code: saliency
# from one batched gradient, integrated gradients from the all-zero input by the right sum.
EVALUATION_BATCHED = '''
def evaluation_attributions(model, X, resolution):
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(np.asarray(X, dtype=np.float64)).to(dtype)
    with torch.no_grad():
        classes = model(X).argmax(dim=1)
    rows = torch.arange(len(X))
    image = X.clone().requires_grad_(True)
    model(image)[rows, classes].sum().backward()
    saliency = (image * image.grad).mean(dim=1)
    total = torch.zeros_like(X)
    for k in range(1, int(resolution) + 1):
        point = (k / int(resolution) * X).requires_grad_(True)
        model(point)[rows, classes].sum().backward()
        total += point.grad
    ig = (X * total / int(resolution)).mean(dim=1)
    return saliency.detach().double().numpy(), ig.detach().double().numpy()
'''

# Average Drop and necessity ordering with masks built for all images / all stages at once.
METRICS_VECTORISED = '''
def average_drop(model, X, pixel_attrs):
    import torch
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    keep = torch.as_tensor(np.asarray(pixel_attrs) > 0).unsqueeze(1)    # (N, 1, H, W)
    with torch.no_grad():                                  # both batches in one forward pass
        both = model(torch.cat([X, X * keep]).to(dtype)).double()
    full, masked = both[:len(X)], both[len(X):]
    c = full.argmax(dim=1, keepdim=True)
    score, kept = full.gather(1, c)[:, 0], masked.gather(1, c)[:, 0]
    return float(100 * (torch.clamp(score - kept, min=0) / score).mean())


def necessity_ordering(model, x, pixel_attr):
    import torch
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(np.shape(x)[-3:]))
    C, H, W = x.shape
    N = H * W
    order = torch.as_tensor(np.argsort(-np.asarray(pixel_attr, dtype=np.float64).ravel(),
                                       kind="stable"))
    by_step = torch.zeros(N + 1, N, dtype=torch.bool)     # row i: the first i pixels of the order
    by_step[1:] = torch.tril(torch.ones(N, N, dtype=torch.bool))
    removed = torch.zeros_like(by_step)
    removed[:, order] = by_step
    images = (x.reshape(1, C, N) * ~removed[:, None, :]).reshape(N + 1, C, H, W)
    with torch.no_grad():
        scores = model(torch.cat([images, torch.zeros(1, C, H, W, dtype=x.dtype)]).to(dtype))
    c = int(scores[0].argmax())                            # R(0) is x itself
    return float(torch.clamp(scores[:-1, c].double() - scores[-1, c].double(), min=0).mean())
'''

# hw1's trainers written another way: a constant step, in-place shuffles, np.array_split
# batches and the student's own optional argument (not `history`); torch in float64, shuffled
# by the global generator that torch.manual_seed seeds. The defaults checks must still pass.
SGD_CONSTANT_STEP = '''
def sgd(X, y, epochs=5, lr=0.5, batch_size=128, seed=0, losses=None):
    X = np.asarray(X, dtype=np.float64)
    Y = onehot(y, NUM_CLASSES)
    W, b = np.zeros((X.shape[1], NUM_CLASSES)), np.zeros(NUM_CLASSES)
    rng = np.random.default_rng(seed)
    indices = np.arange(len(X))
    for _ in range(epochs):
        rng.shuffle(indices)
        for batch in np.array_split(indices, range(batch_size, len(X), batch_size)):
            dW, db = backward(X[batch], Y[batch], W, b)
            W, b = W - lr * dW, b - lr * db
        if losses is not None:
            losses.append(loss(X, Y, W, b))
    return W, b
'''

TORCH_FLOAT64 = '''
def train_torch(X, y, epochs=5, lr=0.1, batch_size=128, seed=0):
    torch.manual_seed(seed)
    inputs = torch.tensor(np.asarray(X), dtype=torch.float64)
    labels = torch.tensor(np.asarray(y)).long()
    model = nn.Linear(inputs.shape[1], NUM_CLASSES).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs)).split(batch_size):
            optimizer.zero_grad()
            F.cross_entropy(model(inputs[batch]), labels[batch]).backward()
            optimizer.step()
    return model.weight.detach().numpy().T.copy(), model.bias.detach().numpy().copy()
'''

ALTERNATIVES: dict[str, dict[str, tuple[list[str], dict[str, str]]]] = {
    "hw1": {
        "trainers with a constant step and the global torch generator": (
            ["1.1"], {"sgd": SGD_CONSTANT_STEP, "train_torch": TORCH_FLOAT64}),
    },
    "hw2": {
        "Shapley values by permutations": (["1.2"], {"exact_shapley": SHAPLEY_BY_PERMUTATIONS}),
        "influence from a hand-made Slice and DoIs, the expert map with torch autograd": (
            ["2.3"], {"get_internal_influences": INFLUENCE_BY_HAND,
                      "expert_attribution": EXPERT_BY_HAND}),
        "integrated gradients by Eq. 3 with torch autograd": (
            ["2.2"], {"visualize_integrated_gradients": IG_RIGHT_SUM_BY_HAND}),
        "Exercise 22's attributions batched, with torch autograd": (
            ["2.4"], {"evaluation_attributions": EVALUATION_BATCHED}),
        "attribution metrics with vectorised masks": (
            ["2.4"], {"average_drop": METRICS_VECTORISED.split("\n\n\ndef necessity")[0],
                      "necessity_ordering": "def necessity" +
                      METRICS_VECTORISED.split("\n\n\ndef necessity")[1]}),
    },
}
