"""A synthetic class for the similarity report: reference solutions, correct solutions written
independently of them, copies disguised by renaming, re-commenting, re-spacing and reordering,
and untouched stubs. Used by tests/test_similarity.py and benchmarks/similarity_speed.py.

The independent variants were written for this file from the docstrings alone, each in a
different style (vectorised, loop, library call), as different students would.
"""
from __future__ import annotations

import ast
import random
from pathlib import Path

import nbformat

from autograder import homeworks
from tmlkit.notebook import find_function

# Bodies only: each is placed under the stub's own signature and docstring.
VARIANTS: dict[str, dict[str, list[str]]] = {
    "hw1": {
        "softmax": [
            """
logits = np.array(Z, dtype=float)
shifted = logits - np.max(logits, axis=-1)[:, None]
e = np.exp(shifted)
totals = np.sum(e, axis=-1)
return e / totals[:, None]
""", """
Z = np.asarray(Z, dtype=np.float64)
result = np.empty_like(Z)
for i in range(Z.shape[0]):
    shifted = Z[i] - Z[i].max()
    result[i] = np.exp(shifted) / np.exp(shifted).sum()
return result
""", """
Z = np.asarray(Z, dtype=np.float64)
top = Z.max(axis=1, keepdims=True)
log_norm = top + np.log(np.sum(np.exp(Z - top), axis=1, keepdims=True))
return np.exp(Z - log_norm)
"""],
        "onehot": [
            """
return np.eye(num_classes)[np.asarray(y, dtype=int)]
""", """
labels = np.asarray(y).astype(int).ravel()
out = np.zeros((labels.size, num_classes), dtype=np.float64)
for row, label in enumerate(labels):
    out[row, label] = 1
return out
""", """
return (np.asarray(y)[:, None] == np.arange(num_classes)[None, :]).astype(np.float64)
"""],
        "loss": [
            """
logits = X @ W + b
m = logits.max(axis=1)
lse = m + np.log(np.exp(logits - m[:, None]).sum(axis=1))
correct = (logits * Y).sum(axis=1)
return float(np.mean(lse - correct))
""", """
n = X.shape[0]
Z = scores(X, W, b)
total = 0.0
for i in range(n):
    z = Z[i] - np.max(Z[i])
    log_probs = z - np.log(np.sum(np.exp(z)))
    total -= np.dot(Y[i], log_probs)
return float(total / n)
""", """
from scipy.special import logsumexp
Z = X @ W + b
return float(-np.mean(np.sum(Y * (Z - logsumexp(Z, axis=1, keepdims=True)), axis=1)))
"""],
        "backward": [
            """
n = X.shape[0]
P = softmax(X @ W + b)
delta = P - Y
dW = X.T.dot(delta) / n
db = delta.mean(axis=0)
return dW, db
""", """
probs = forward(X, W, b)
dW = np.zeros_like(W, dtype=np.float64)
db = np.zeros_like(b, dtype=np.float64)
for x_i, y_i, p_i in zip(X, Y, probs):
    err = p_i - y_i
    dW += np.outer(x_i, err)
    db += err
return dW / len(X), db / len(X)
""", """
err = (forward(X, W, b) - Y) / X.shape[0]
return np.einsum("nd,nc->dc", X, err), np.einsum("nc->c", err)
"""],
        "invert": [
            """
base = np.asarray(query(np.zeros((1, D))), dtype=float)[0]
probes = np.asarray(query(np.eye(D)), dtype=float)
return probes - base, base
""", """
rng = np.random.default_rng(0)
A = rng.normal(size=(D + 1, D))
out = np.asarray(query(A), dtype=np.float64)
design = np.hstack([A, np.ones((D + 1, 1))])
solution = np.linalg.solve(design, out)
return solution[:D], solution[D]
""", """
rows = np.concatenate([np.eye(D), np.zeros((1, D))], axis=0)
answers = np.array(query(rows), dtype=np.float64)
bias = answers[-1]
weights = answers[:-1] - bias[None, :]
return weights, bias
"""],
        "sgd": [
            """
X = np.asarray(X, dtype=np.float64)
n, d = X.shape
W = np.zeros((d, NUM_CLASSES))
b = np.zeros(NUM_CLASSES)
targets = onehot(y, NUM_CLASSES)
rng = np.random.default_rng(seed)
batches_per_epoch = int(np.ceil(n / batch_size))
total = epochs * batches_per_epoch
t = 0
for epoch in range(epochs):
    perm = rng.permutation(n)
    for k in range(batches_per_epoch):
        idx = perm[k * batch_size:(k + 1) * batch_size]
        xb, yb = X[idx], targets[idx]
        if history is not None:
            history.append(loss(xb, yb, W, b))
        gW, gb = backward(xb, yb, W, b)
        rate = lr * (1.0 - t / total)
        W = W - rate * gW
        b = b - rate * gb
        t += 1
return W, b
""", """
X = np.asarray(X, dtype=np.float64)
Y = onehot(y, NUM_CLASSES)
W = np.zeros((X.shape[1], NUM_CLASSES))
b = np.zeros(NUM_CLASSES)
rng = np.random.default_rng(seed)
pieces = (len(X) + batch_size - 1) // batch_size
steps = [chunk for _ in range(epochs)
         for chunk in np.array_split(rng.permutation(len(X)), pieces)]
for i, chunk in enumerate(steps):
    if history is not None:
        history.append(loss(X[chunk], Y[chunk], W, b))
    grad_W, grad_b = backward(X[chunk], Y[chunk], W, b)
    decay = 1 - i / len(steps)
    W -= lr * decay * grad_W
    b -= lr * decay * grad_b
return W, b
"""],
    },
    "hw3": {
        "gradients": [
            """
a1 = W1 @ x + b1
h = 1 / (1 + np.exp(-a1))
a2 = W2 @ h + b2
p = 1 / (1 + np.exp(-a2))
d_out = p - y
d_hidden = W2.T.dot(d_out) * h * (1 - h)
return {"dW2": d_out[:, None] * h[None, :], "db2": d_out,
        "dW1": d_hidden[:, None] * x[None, :], "db1": d_hidden}
""", """
inter = forward(x, W1, b1, W2, b2)
z1, y_hat = inter["z1"], inter["y_hat"]
g_a2 = y_hat - y
g_W2 = np.outer(g_a2, z1)
g_z1 = W2.T @ g_a2
g_a1 = g_z1 * sigmoid(inter["a1"]) * (1 - sigmoid(inter["a1"]))
return dict(dW1=np.outer(g_a1, x), db1=g_a1, dW2=g_W2, db2=g_a2)
"""],
        "forward_mode_derivative": [
            """
duals = []
for i in range(len(x)):
    duals.append(Dual(x[i], 1.0 if i == wrt else 0.0))
result = f(duals)
if not isinstance(result, Dual):
    return float(result), 0.0
return result.value, result.tangent
""", """
seeds = np.zeros(len(x))
seeds[wrt] = 1.0
y = f([Dual(v, t) for v, t in zip(x, seeds)])
return float(getattr(y, "value", y)), float(getattr(y, "tangent", 0.0))
"""],
        "cross_entropy": [
            """
probs = torch.as_tensor(y_hat)
labels = torch.as_tensor(y, dtype=torch.long)
picked = probs.gather(1, labels.view(-1, 1)).squeeze(1)
return -picked.log()
""", """
y_hat = torch.as_tensor(y_hat)
return torch.stack([-torch.log(y_hat[i, int(label)]) for i, label in enumerate(y)])
"""],
    },
}

_WORDS = ["val", "tmp", "arr", "mat", "res", "acc", "buf", "q", "foo", "thing", "data", "item"]
_COMMENTS = ["compute it", "step", "as in the lecture", "vectorised", "careful here", "TODO tidy",
             "works!", "numerically stable"]


def _top_function(source: str) -> ast.FunctionDef:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    return node


def reference_source(homework_id: str, name: str) -> str:
    """A graded function's source as the reference solution writes it."""
    nb = nbformat.read(homeworks.get(homework_id).solution, as_version=4)
    return find_function(nb, name).source(nb)


def variant_source(homework_id: str, name: str, index: int) -> str:
    """Variant ``index`` placed under the reference's signature and docstring (as released)."""
    function = _top_function(reference_source(homework_id, name))
    header = ast.get_source_segment(reference_source(homework_id, name), function).splitlines()
    doc_end = function.body[0].end_lineno - function.lineno + 1
    body = VARIANTS[homework_id][name][index].strip("\n").splitlines()
    return "\n".join(header[:doc_end] + ["    " + line if line else "" for line in body])


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        return node


def disguise(source: str, rng: random.Random, edits: int = 0) -> str:
    """The same function with its parameters and variables renamed, its comments replaced, and
    re-spaced (2-space indents, blank lines, no spaces after commas); ``edits`` statements of
    its own inserted at random places in the body."""
    tree = ast.parse(source)
    function = tree.body[0]
    for edit in range(edits):
        extra = ast.parse(f"unused_{edit} = {rng.randint(2, 99)} * len({rng.choice(_WORDS)!r})")
        function.body.insert(rng.randint(1, len(function.body) - 1), extra.body[0])
    bound = {a.arg for a in ast.walk(function) if isinstance(a, ast.arg)} | {
        n.id for n in ast.walk(function)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    mapping = {name: f"{rng.choice(_WORDS)}_{i}" for i, name in enumerate(sorted(bound))}
    code = ast.unparse(_Rename(mapping).visit(tree))
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        indent = "  " * ((len(line) - len(stripped)) // 4)
        if rng.random() < 0.3:
            lines.append(indent + "# " + rng.choice(_COMMENTS))
        lines.append(indent + stripped.replace(", ", ","))
        if rng.random() < 0.3:
            lines.append("")
    return "\n".join(lines)


def into_helper(source: str) -> str:
    """The same function with its work moved into a helper of the student's own, which the
    graded function calls."""
    function = _top_function(source)
    helper = f"_{function.name}_impl"
    call = ", ".join(a.arg for a in function.args.args)
    wrapper = ast.get_source_segment(source, function).splitlines()
    doc_end = function.body[0].end_lineno - function.lineno + 1
    indent = " " * function.body[0].col_offset
    return "\n".join([source.replace(f"def {function.name}(", f"def {helper}(", 1), "", ""]
                     + wrapper[:doc_end] + [f"{indent}return {helper}({call})"])


def student_notebook(homework_id: str, functions: dict[str, str], last_cell: bool = False) \
        -> nbformat.NotebookNode:
    """The released notebook with ``functions`` (name -> source) filled in: in place of each
    stub, or (``last_cell``) all together in a new last cell, which the grader's last-wins rule
    makes the ones that count."""
    nb = nbformat.read(homeworks.get(homework_id).student, as_version=4)
    if last_cell:
        nb.cells.append(nbformat.v4.new_code_cell("\n\n\n".join(functions.values())))
        return nb
    for name, source in functions.items():
        find_function(nb, name).replace(nb, source)
    return nb


def origins(homework_id: str) -> dict[str, dict[str, str]]:
    """The independent solutions of the varied functions: 'reference' and 'variantN'."""
    names = list(VARIANTS[homework_id])
    out = {"reference": {name: reference_source(homework_id, name) for name in names}}
    for index in range(max(len(v) for v in VARIANTS[homework_id].values())):
        out[f"variant{index + 1}"] = {name: variant_source(homework_id, name, index)
                                      for name in names if index < len(VARIANTS[homework_id][name])}
    return out


def write_class(homework_id: str, folder: Path, seed: int = 0) -> dict[str, str]:
    """One notebook per independent solution, a disguised copy of each (its functions renamed,
    re-commented, re-spaced, shuffled into one last cell), and two untouched stubs.
    Returns student id -> the origin it was made from ('stub' for the stubs)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for origin, functions in origins(homework_id).items():
        nbformat.write(student_notebook(homework_id, functions), folder / f"{origin}.ipynb")
        copied = {name: disguise(source, rng) for name, source in functions.items()}
        shuffled = dict(rng.sample(list(copied.items()), len(copied)))
        nbformat.write(student_notebook(homework_id, shuffled, last_cell=True),
                       folder / f"{origin}_copy.ipynb")
        made[origin] = made[f"{origin}_copy"] = origin
    for stub in ("stub1", "stub2"):
        nbformat.write(nbformat.read(homeworks.get(homework_id).student, as_version=4),
                       folder / f"{stub}.ipynb")
        made[stub] = "stub"
    return made
