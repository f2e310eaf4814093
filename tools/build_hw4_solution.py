"""Write solutions/hw4_gradcam_sparse_lime.ipynb, the reference solution of Homework 4, from the
cell sources below.

    python tools/build_hw4_solution.py          # (re)write the notebook
    python tools/build_hw4_solution.py --check  # exit 1 if the committed notebook differs

The notebook is saved without outputs. Solution cells carry nbgrader metadata and
``### BEGIN SOLUTION`` / ``<!-- BEGIN SOLUTION -->`` markers; ``python -m autograder release``
turns them into the student notebook. Cell ids are fixed so that the output is reproducible.
"""
from __future__ import annotations

import sys

from notebook_builder import NotebookBuilder

BUILDER = NotebookBuilder("hw4", "hw4_gradcam_sparse_lime.ipynb")
md, code, solution = BUILDER.md, BUILDER.code, BUILDER.solution
written, selfcheck = BUILDER.written, BUILDER.selfcheck


# =============================================================================================
# Introduction and set-up
# =============================================================================================

md("intro", r"""
# Homework 4: Grad-CAM and sparse LIME

Two ways of explaining what an image classifier looks at:

* **Part 1: gradients and Grad-CAM.** Differentiate a softmax classifier with respect to its
  features, then build Grad-CAM heat maps for a small convolutional network, for photos and for
  a short "video".
* **Part 2: LIME as an optimisation problem.** Fit local surrogate models by weighted least
  squares, ridge, lasso and greedy best-subset selection, use them to explain the same network
  with superpixels, and compare the L0, L1 and L2 versions of the problem.

### How grading works

* **Functions are graded one by one**, by an autograder that does *not* run your notebook top
  to bottom. It keeps only the imports, the function and class definitions, and constants
  (`UPPER_CASE = ...` assignments and plain literals) of your code cells, then calls your
  functions on its own inputs. So keep every function's **name and signature exactly** as
  given, and never use a variable computed elsewhere in the notebook inside a function.
* The grader gives your Grad-CAM functions a model it builds itself (a small random CNN from
  `tmlkit.models.small_cnn`) and one of that model's layers; arrays arrive as numpy
  arrays. Whatever your function returns should be a numpy array (a torch tensor is converted).
* Replace every `raise NotImplementedError()` with your code. You may add helper functions.
* **Written questions (a) to (e)** go in the markdown cells marked *Your answer*; they are
  graded by hand.
* **Self-checks:** the cells `selfcheck("hw4", ...)` run the autograder's public checks on
  your functions here. Hidden checks use fresh random models and problems.

Everything runs on a CPU in a few minutes. With `TML_QUICK=1` the notebook uses smaller data
and fewer samples (the course uses this to test it).
""")

BUILDER.setup()

code("imports", """
import os
import time
from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
""")

code("imaging_imports", """
import skimage.data
from skimage.segmentation import mark_boundaries, slic
from skimage.transform import resize
""")

code("kit_imports", """
from tmlkit.datasets import small_cifar
from tmlkit.models import small_cnn
from tmlkit.selfcheck import selfcheck
""")

code("constants", """
QUICK = os.environ.get("TML_QUICK") == "1"   # smaller data and fewer samples, for automated runs
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")
torch.set_num_threads(min(4, os.cpu_count() or 1))
""")

# =============================================================================================
# Part 1.1: gradient of a softmax output
# =============================================================================================

md("part1_intro", r"""
## Part 1: Gradients and Grad-CAM

Our classifier is a small CNN: convolution layers map an image $x$ to feature maps, which are
flattened into a vector $z \in \mathbb{R}^F$; a linear layer and a softmax then give the class
probabilities

$$
s = W z + b, \qquad \hat y = \operatorname{softmax}(s), \qquad
\hat y_c = \frac{e^{s_c}}{\sum_k e^{s_k}} .
$$

**Convention.** $W$ has shape $(C, F)$, as the `weight` of `torch.nn.Linear`: row $W_c$ holds
the weights of class $c$. $b$ has shape $(C,)$.

The model you will explain is built by `small_cnn` (run the next cell to see it): its layers
are `model.features` (conv, ReLU, max-pool, conv, ReLU, max-pool, conv, ReLU), `model.flatten`
and `model.classifier`, so `model.features[7]` is the last ReLU, whose output is the last
feature map.
""")

code("show_model", """
print(small_cnn(0))
""")

written("written_a", r"""
### Written (a): the gradient of a softmax output

Show that $\dfrac{\partial \hat y_c}{\partial z} = \hat y_c \Big(W_c - \sum_k \hat y_k W_k\Big)$
(a vector in $\mathbb{R}^F$). *Hint:* start from $\partial \hat y_c / \partial s_j$.
""", r"""
For the softmax, $\dfrac{\partial \hat y_c}{\partial s_j} = \hat y_c(\delta_{cj} - \hat y_j)$:
differentiate $\hat y_c = e^{s_c} / \sum_k e^{s_k}$ with the quotient rule; the numerator gives
$\delta_{cj}\hat y_c$ and the denominator $-\hat y_c \hat y_j$. Since $s_j = W_j \cdot z + b_j$,
$\partial s_j / \partial z = W_j$, so by the chain rule

$$
\frac{\partial \hat y_c}{\partial z} = \sum_j \hat y_c(\delta_{cj} - \hat y_j)\, W_j
= \hat y_c\Big(W_c - \sum_k \hat y_k W_k\Big).
$$

The gradient is class $c$'s weight vector minus the probability-weighted mean of all classes'
weight vectors, scaled by $\hat y_c$: it vanishes when the model is either sure of $c$ or sure
it is not $c$ (saturation), one reason why raw gradients are noisy explanations.
""")

md("ex_grad", r"""
### Exercise 1 (code)

Implement `score_grad_wrt_features(W, b, z, c)`, returning $\partial \hat y_c / \partial z$ as a
numpy array of shape $(F,)$ for `W` of shape $(C, F)$, `b` of shape $(C,)$, `z` of shape $(F,)$
and an integer class `c`. Compute the softmax stably (subtract the maximum score). The check
compares your gradient with PyTorch's autograd in float64, to a relative error of $10^{-8}$.
""")

solution("score_grad", '''
def score_grad_wrt_features(W, b, z, c):
    """Gradient of softmax(W z + b)[c] with respect to z; W is (C, F) as in nn.Linear."""
    ### BEGIN SOLUTION
    W, b, z = (np.asarray(a, dtype=np.float64) for a in (W, b, z))
    s = W @ z + b
    p = np.exp(s - s.max())
    p /= p.sum()
    return p[c] * (W[c] - p @ W)
    ### END SOLUTION
''')

selfcheck("1.1")

# =============================================================================================
# Part 1.2: Grad-CAM
# =============================================================================================

md("gradcam_intro", r"""
### Grad-CAM

Pick a convolutional layer and let $A^k$ ($k = 1, \dots, K$) be its $K$ output feature maps,
each of size $h \times w$, for the input $x$. Let $y^c$ be the model's score for class $c$
(the logit $s_c$, before the softmax, as in the Grad-CAM paper). Grad-CAM weighs each map by the
spatial average of the gradient of the score,

$$
\alpha_k^c = \frac{1}{h w} \sum_{i=1}^{h} \sum_{j=1}^{w} \frac{\partial y^c}{\partial A^k_{ij}},
\qquad
L^c = \operatorname{ReLU}\Big(\sum_k \alpha_k^c A^k\Big) \in \mathbb{R}^{h \times w}.
$$

**Normalisation.** For display, the map is usually divided by its maximum so that it lies in
$[0, 1]$ (if the maximum is 0, the map stays all zeros). Implementations differ here: captum's
`LayerGradCam` returns the *unnormalised* $L^c$ (and applies the ReLU only with
`relu_attributions=True`), while `pytorch-grad-cam` min-max normalises each map to $[0, 1]$.
In this homework `gradcam(..., normalize=True)` (the default) divides by the maximum and
`normalize=False` returns the unnormalised $L^c$, which must match captum's
`LayerGradCam(model, layer).attribute(x, target=c, relu_attributions=True)`.
""")

md("ex_gradcam", r"""
### Exercise 2 (code)

Implement `gradcam(model, layer, x, c, normalize=True)`:

* `model` is a `torch.nn.Module` mapping a batch `(N, C_in, H, W)` to class scores `(N, C)`;
  `layer` is one of its sub-modules (for example `model.features[7]`). Use the model's own
  parameter dtype for the input (the grader's models are float64).
* `x` is a numpy array holding **one** image, of shape `(C_in, H, W)` or `(1, C_in, H, W)`;
  `c` is the class index.
* Return a numpy array of shape `(h, w)`: the map at the layer's own resolution (do not
  upsample; the plots do that).

*Hint:* `layer.register_forward_hook(hook)` lets you keep the layer's output $A$ during the
forward pass; then `torch.autograd.grad(scores[0, c], A)` gives $\partial y^c / \partial A$.
Remove the hook afterwards (`handle.remove()`), even when something fails.

Then implement `gradcam_video(model, layer, frames, c, normalize=True)`: `frames` has shape
`(T, C_in, H, W)`; return the `(T, h, w)` stack of the frames' maps, each computed **on its own
frame only**, exactly as `gradcam` would.
""")

solution("gradcam", '''
def gradcam(model, layer, x, c, normalize=True):
    """Grad-CAM map (h, w) of class c at `layer` for one image x, (C, H, W) or (1, C, H, W).

    normalize=True divides the map by its maximum (if positive), so it lies in [0, 1];
    normalize=False returns ReLU(sum_k alpha_k A^k) as captum's LayerGradCam does.
    """
    ### BEGIN SOLUTION
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(np.asarray(x)).to(dtype)
    if x.ndim == 3:
        x = x[None]
    kept = {}

    def keep_output(module, inputs, output):
        kept["A"] = output

    handle = layer.register_forward_hook(keep_output)
    try:
        scores = model(x)
    finally:
        handle.remove()
    A = kept["A"]
    (dA,) = torch.autograd.grad(scores[0, int(c)], A)
    alpha = dA.mean(dim=(2, 3), keepdim=True)           # (1, K, 1, 1): spatial mean
    cam = torch.relu((alpha * A).sum(dim=1))[0]          # (h, w)
    cam = cam.detach().cpu().numpy()
    if normalize and cam.max() > 0:
        cam = cam / cam.max()
    return cam
    ### END SOLUTION
''')

selfcheck("1.2")

solution("gradcam_video", '''
def gradcam_video(model, layer, frames, c, normalize=True):
    """Grad-CAM maps (T, h, w) of class c for frames (T, C, H, W), one frame at a time."""
    ### BEGIN SOLUTION
    return np.stack([gradcam(model, layer, frame, c, normalize=normalize)
                     for frame in np.asarray(frames)])
    ### END SOLUTION
''')

selfcheck("1.3")

# =============================================================================================
# Part 1: Grad-CAM on photos
# =============================================================================================

md("train_intro", r"""
### A CNN to explain

Pretrained ImageNet weights cannot be downloaded on the course machines, so we train the same
`small_cnn` architecture (wider, in float32) for a short time on CIFAR-10: 32×32 images of ten
classes (`small_cifar` falls back to a synthetic image set when no CIFAR-10 copy is at hand).
It will reach only about 50% test accuracy: **the heat maps below explain this weak model, not
a good one**. They show which regions drive *its* score, which need not be where a human would
look; with a random, untrained network they would mean nothing about the photos at all.
""")

code("train_cnn", """
def to_input(images):
    \"\"\"uint8 or [0, 1] images (N, H, W, 3) -> a float32 tensor (N, 3, H, W), centred.\"\"\"
    images = np.asarray(images)
    images = images / 255.0 if images.dtype == np.uint8 else images
    return torch.as_tensor(images.transpose(0, 3, 1, 2) - 0.5, dtype=torch.float32)


n_train, n_test = (3_000, 500) if QUICK else (30_000, 2_000)
x_train, y_train, x_test, y_test, data_name = small_cifar(n_train, n_test)
cnn = small_cnn(0, in_channels=3, size=32, num_classes=10, width=16, double=False)
optimizer = torch.optim.Adam(cnn.parameters(), lr=2e-3)
budget_s = 10 if QUICK else 60
generator = torch.Generator().manual_seed(0)
inputs, labels = to_input(x_train), torch.as_tensor(y_train, dtype=torch.long)
started, epochs = time.perf_counter(), 0
cnn.train()
while time.perf_counter() - started < budget_s and epochs < 20:
    for batch in torch.randperm(len(inputs), generator=generator).split(128):
        optimizer.zero_grad()
        F.cross_entropy(cnn(inputs[batch]), labels[batch]).backward()
        optimizer.step()
        if time.perf_counter() - started > budget_s:
            break
    epochs += 1
cnn.eval()
with torch.no_grad():
    test_accuracy = (cnn(to_input(x_test)).argmax(1).numpy() == y_test).mean()
print(f"{data_name}: {epochs} epoch(s) in {time.perf_counter() - started:.0f} s, "
      f"test accuracy {test_accuracy:.1%}")
""")

md("photos_intro", r"""
Now four photos that ship with scikit-image. Each is cropped to a square, resized to 32×32 for
the network (and to 128×128 for display), and explained for the class the network predicts.
The map is taken at `cnn.features[7]`, the last ReLU (8×8), and upsampled bilinearly.
""")

code("photos", """
def square(image):
    \"\"\"The central square crop of an (H, W, 3) image.\"\"\"
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def upsample(cam, size):
    \"\"\"Bilinear upsampling of an (h, w) map to (size, size).\"\"\"
    cam = torch.as_tensor(np.asarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def predict_proba(images):
    \"\"\"The CNN's class probabilities for images (N, H, W, 3) in [0, 1], any size.\"\"\"
    small = np.stack([resize(image, (32, 32), anti_aliasing=True) for image in images])
    with torch.no_grad():
        return torch.softmax(cnn(to_input(small)), dim=1).numpy()


photo_names = ["chelsea", "coffee", "astronaut", "rocket"]
photos = {name: resize(square(getattr(skimage.data, name)()), (128, 128), anti_aliasing=True)
          for name in photo_names}
layer = cnn.features[7]
fig, axes = plt.subplots(2, len(photos), figsize=(3 * len(photos), 6.2))
predicted = {}
for column, (name, photo) in enumerate(photos.items()):
    probabilities = predict_proba(photo[None])[0]
    c = int(probabilities.argmax())
    predicted[name] = c
    x = to_input(resize(photo, (32, 32), anti_aliasing=True)[None])[0].numpy()
    cam = upsample(gradcam(cnn, layer, x, c), 128)
    axes[0, column].imshow(photo)
    axes[0, column].set_title(f"{name}: {CIFAR_CLASSES[c]} ({probabilities[c]:.0%})")
    axes[1, column].imshow(photo)
    axes[1, column].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    axes[1, column].set_title("Grad-CAM")
for ax in axes.ravel():
    ax.axis("off")
plt.tight_layout()
plt.show()
""")

written("written_b", r"""
### Written (b): what each part of Grad-CAM does

Explain the roles of the feature maps $A^k$, of the weights $\alpha_k^c$ and of the ReLU in
$L^c = \operatorname{ReLU}(\sum_k \alpha_k^c A^k)$. Why is the heat map coarse, and what would
change if you took $A$ from an earlier layer?
""", r"""
* **$A^k$: where.** Each feature map is a detector of one pattern, applied everywhere; its
  value at $(i, j)$ says how strongly the pattern is present at that place in the image. The
  maps keep spatial layout, which the flattened features and the classifier no longer expose
  separately, and the last convolutional layer holds the most class-specific patterns.
* **$\alpha_k^c$: which.** The spatially averaged gradient measures how much the class score
  $y^c$ rises when channel $k$ is turned up everywhere (it is the first-order importance of
  the whole channel; for a network ending in global average pooling and a linear layer it is
  exactly that layer's weight, up to a constant). Negative $\alpha_k^c$ marks patterns that
  speak *against* $c$.
* **ReLU: for, not against.** After the weighted sum, positive values are regions whose
  features raise $y^c$; negative values are regions that lower it (typically evidence for
  other classes). The ReLU keeps only evidence *for* the class, which is what the map should
  show; without it, the normalised map is dominated by whatever has the largest magnitude,
  which may be counter-evidence.

The map has the resolution of the chosen layer (8×8 here for a 32×32 input, after two
poolings), so upsampling gives blobs, not edges. An earlier layer gives a finer map but its
channels are generic (edges, colours), and the gradient of $y^c$ there reflects far more than
the class, so the map becomes noisier and less class-discriminative.
""")

# =============================================================================================
# Part 1.3: a video
# =============================================================================================

md("video_intro", r"""
### A short "video"

A stand-in for a video: the cat photo, shrunk to 20×20, slides from left to right over a
32×32 canvas of its own mean colour, over 7 frames. `gradcam_video` gives one map per frame;
if the network responds to the cat rather than to the frame's position, the heat map should
move along with it. The last plot compares the horizontal centre of mass of each map with
the cat's centre, and the cell reports how closely the two move together for this network.
""")

code("video", """
cat = resize(square(skimage.data.chelsea()), (20, 20), anti_aliasing=True)
offsets = np.arange(0, 13, 2)
canvas = np.ones((32, 32, 3)) * cat.mean(axis=(0, 1))
frames_rgb = []
for offset in offsets:
    frame = canvas.copy()
    frame[6:26, offset:offset + 20] = cat
    frames_rgb.append(frame)
frames_rgb = np.stack(frames_rgb)
frames = to_input(frames_rgb).numpy()
c_video = predicted["chelsea"]
maps = gradcam_video(cnn, cnn.features[7], frames, c_video)
print("frames", frames.shape, "-> maps", maps.shape, "for class", CIFAR_CLASSES[c_video])

fig, axes = plt.subplots(2, len(frames), figsize=(1.9 * len(frames), 4))
for t in range(len(frames)):
    axes[0, t].imshow(frames_rgb[t])
    axes[0, t].set_title(f"t = {t}")
    axes[1, t].imshow(frames_rgb[t])
    axes[1, t].imshow(upsample(maps[t], 32), cmap="jet", alpha=0.5, vmin=0, vmax=1)
for ax in axes.ravel():
    ax.axis("off")
plt.tight_layout()
plt.show()

columns = (np.arange(8) + 0.5) * 4                  # pixel centre of each of the 8 map columns
centre = [(m.sum(axis=0) @ columns) / max(m.sum(), 1e-12) for m in maps]
plt.figure(figsize=(5, 3))
plt.plot(offsets + 10, centre, "o-", label="Grad-CAM centre of mass")
plt.plot(offsets + 10, offsets + 10, "--", label="centre of the cat")
plt.xlabel("cat centre (pixel column)")
plt.ylabel("map centre (pixel column)")
plt.legend()
plt.show()

# Say what this network does, whichever network it is.
moved = np.ptp(centre)
r = np.corrcoef(offsets + 10, centre)[0, 1] if moved > 1e-9 else float("nan")
print(f"The cat moves {np.ptp(offsets)} px; the map's centre moves {moved:.1f} px "
      f"(correlation with the cat's centre: {r:.2f}).")
if r > 0.9 and moved > 0.5 * np.ptp(offsets):
    print("Here the heat map follows the cat.")
elif r > 0.9:
    print("Here the heat map moves with the cat, but less far: part of the evidence stays put "
          "(on the background or the frame's edges), and the 8×8 map is coarse.")
else:
    print("Here the heat map does not follow the cat: this network's evidence for the class is "
          "not (only) on the cat.")
""")

# =============================================================================================
# Part 2: LIME as an optimisation problem
# =============================================================================================

md("part2_intro", r"""
## Part 2: LIME as an optimisation problem

LIME explains a prediction $f(x_0)$ by a simple model $g$ that imitates $f$ near $x_0$. In an
*interpretable representation* (here: one number per superpixel, how much of it is shown), it
draws perturbed points $x_1, \dots, x_m$ around $x_0$, queries $y_i = f(x_i)$, weighs each
point by its proximity $w_i = \pi(x_i, x_0)$, and solves

$$
g^\star = \arg\min_{g \in G} \; \sum_{i=1}^m w_i \big(y_i - g(x_i)\big)^2 + \Omega(g).
$$

With linear $g(x) = x \cdot \beta$ (we centre the data, so no intercept is needed), this is a
weighted regression; the complexity penalty $\Omega$ decides its flavour:

| surrogate | problem |
| --- | --- |
| weighted least squares | $\min_\beta \sum_i w_i (y_i - x_i\cdot\beta)^2$ |
| ridge ($L_2$) | $\min_\beta \sum_i w_i (y_i - x_i\cdot\beta)^2 + \lambda \lVert\beta\rVert_2^2$ (as scikit-learn's `Ridge` with `sample_weight`, no intercept) |
| lasso ($L_1$) | $\min_\beta \frac{1}{2\sum_i w_i}\sum_i w_i (y_i - x_i\cdot\beta)^2 + \lambda \lVert\beta\rVert_1$ (as scikit-learn's `Lasso` with `sample_weight`, no intercept) |
| sparse ($L_0$) | $\min_\beta \sum_i w_i (y_i - x_i\cdot\beta)^2$ subject to $\lVert\beta\rVert_0 \le k$ |

Note the two scalings: scikit-learn's `Lasso` rescales the weights to sum to the number of
samples and divides the squared error by twice that number, which is the same as dividing by
$2\sum_i w_i$; its `Ridge` does not rescale at all.

In every function below, `X` is $(m, d)$, `y` is $(m,)$ and the weights `w` are $(m,)$,
positive.

### Exercise 3 (code): perturbations

Implement `lime_samples(x0, m, sigma, seed=0)`: `m` points $x_0 + \sigma\varepsilon$ with
independent standard normal $\varepsilon \in \mathbb{R}^d$, as an $(m, d)$ array. Draw them
from `np.random.default_rng(seed)`; `seed` may also be a `numpy.random.Generator`, which is
then used as it is (the grader passes integers: a Generator cannot cross into the grader's
sandbox). The same seed must give the same samples.
""")

solution("lime_samples", '''
def lime_samples(x0, m, sigma, seed=0):
    """m Gaussian perturbations x0 + sigma * N(0, I), shape (m, d); seed: int or Generator."""
    ### BEGIN SOLUTION
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    return x0 + sigma * rng.standard_normal((int(m), x0.size))
    ### END SOLUTION
''')

selfcheck("2.1")

md("ex_wls", r"""
### Exercise 4 (code): closed forms

* `weighted_least_squares(X, y, w)`: $\beta^\star = (X^\top W X)^{-1} X^\top W y$ with
  $W = \operatorname{diag}(w)$, the minimiser of $\sum_i w_i (y_i - x_i\cdot\beta)^2$. Do
  **not** form $X^\top W X$: scale row $i$ of $X$ and $y_i$ by $\sqrt{w_i}$ and call
  `np.linalg.lstsq` (written question (c) asks why). When $X$ has fewer rows than columns,
  return lstsq's minimum-norm solution.
* `ridge_lime(X, y, w, lam)`: $\beta^\star = (X^\top W X + \lambda I)^{-1} X^\top W y$. The same
  trick works: append the $d$ rows $\sqrt{\lambda} I$ to the scaled $X$ and $d$ zeros to the
  scaled $y$.

The checks compare with `np.linalg.lstsq` on the weighted problem (relative error
$\le 10^{-8}$; $\le 10^{-6}$ on a matrix of condition number $10^7$) and with
`sklearn.linear_model.Ridge(alpha=lam, fit_intercept=False)` fitted with `sample_weight=w`.
""")

solution("weighted_least_squares", '''
def weighted_least_squares(X, y, w):
    """argmin_beta sum_i w_i (y_i - X_i beta)^2, by lstsq on sqrt(w)-scaled rows."""
    ### BEGIN SOLUTION
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    root = np.sqrt(w)
    return np.linalg.lstsq(root[:, None] * X, root * y, rcond=None)[0]
    ### END SOLUTION
''')

solution("ridge_lime", '''
def ridge_lime(X, y, w, lam):
    """argmin_beta sum_i w_i (y_i - X_i beta)^2 + lam ||beta||_2^2 (sklearn Ridge, no intercept)."""
    ### BEGIN SOLUTION
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    root, d = np.sqrt(w), X.shape[1]
    A = np.vstack([root[:, None] * X, np.sqrt(lam) * np.eye(d)])
    return np.linalg.lstsq(A, np.concatenate([root * y, np.zeros(d)]), rcond=None)[0]
    ### END SOLUTION
''')

md("conditioning_intro", r"""
How much does it matter? Läuchli's matrix, a row of ones over $\epsilon I$, has condition
number about $1/\epsilon$; $X^\top X = \mathbf{1}\mathbf{1}^\top + \epsilon^2 I$ has condition
number about $1/\epsilon^2$, and for $\epsilon \le 10^{-8}$ it is exactly singular in float64.
""")

code("conditioning", """
rng = np.random.default_rng(0)
for eps in (1e-4, 1e-6, 1e-7, 1e-9):
    X_bad = np.vstack([np.ones((1, 4)), eps * np.eye(4)])
    beta_true = rng.normal(size=4)
    y_bad, w_bad = X_bad @ beta_true, rng.uniform(0.5, 2, len(X_bad))
    stable = weighted_least_squares(X_bad, y_bad, w_bad)
    try:
        normal = np.linalg.solve(X_bad.T @ (w_bad[:, None] * X_bad), X_bad.T @ (w_bad * y_bad))
        normal_error = f"{np.abs(normal - beta_true).max():.1e}"
    except np.linalg.LinAlgError as error:
        normal_error = f"fails ({error})"
    print(f"eps={eps:.0e}  cond(X)={np.linalg.cond(X_bad):.1e}  "
          f"lstsq error {np.abs(stable - beta_true).max():.1e}  normal equations error {normal_error}")
""")

written("written_c", r"""
### Written (c): why scale the rows instead of forming $X^\top W X$?

Use the output above. Why is `lstsq` on $\sqrt{W}X$ accurate where the normal equations are
not? When does this matter for LIME?
""", r"""
Solving the normal equations works with $X^\top W X$, whose condition number is
$\kappa(\sqrt{W}X)^2$. A backward-stable solver then loses about $\log_{10}\kappa^2$ digits:
with $\kappa = 10^7$ only about 2 of float64's 16 digits survive (the errors of order
$10^{-3}$ above), and for $\kappa \ge 10^8$ the matrix $X^\top X = \mathbf{1}\mathbf{1}^\top +
\epsilon^2 I$ rounds to the singular $\mathbf{1}\mathbf{1}^\top$, so `solve` fails. `lstsq`
works on $\sqrt{W}X$ itself (an orthogonal factorisation / SVD), so the error grows with
$\kappa$, not $\kappa^2$; since $\sum_i w_i (y_i - x_i\cdot\beta)^2 = \lVert \sqrt{W}y -
\sqrt{W}X\beta\rVert^2$, scaling the rows by $\sqrt{w_i}$ turns the weighted problem into an
ordinary least-squares problem without squaring anything. (It also handles rank deficiency,
returning the minimum-norm solution.)

In LIME, ill-conditioning is the norm rather than the exception: superpixel features of
neighbouring regions are strongly correlated, a kernel with a small width gives most samples
a tiny weight (so the effective number of rows is small), and with fewer effective samples
than features $X^\top W X$ is singular.
""")

selfcheck("2.2")

md("ex_lasso", r"""
### Exercise 5 (code): lasso by coordinate descent

Implement `lasso_lime(X, y, w, lam)`, minimising

$$
\frac{1}{2\sum_i w_i}\sum_i w_i (y_i - x_i\cdot\beta)^2 + \lambda\lVert\beta\rVert_1,
$$

which is exactly what `sklearn.linear_model.Lasso(alpha=lam, fit_intercept=False)` minimises
when fitted with `sample_weight=w`. Use **cyclic coordinate descent**: with $v = w / \sum_i
w_i$ and the partial residual $r^{(j)} = y - \sum_{l \ne j} x_{:,l}\beta_l$, the exact minimiser
over $\beta_j$ alone is

$$
\beta_j = \frac{S_\lambda\big(\sum_i v_i x_{ij} r^{(j)}_i\big)}{\sum_i v_i x_{ij}^2},
\qquad S_\lambda(t) = \operatorname{sign}(t)\max(|t| - \lambda, 0).
$$

Sweep over $j$ until no coefficient moves by more than a small tolerance (say $10^{-10}$).
Keep the residual up to date instead of recomputing $X\beta$. The check asks for agreement with
scikit-learn to $10^{-4}$.
""")

solution("lasso_lime", '''
def lasso_lime(X, y, w, lam, tol=1e-10, max_sweeps=10_000):
    """argmin_beta (1 / (2 sum(w))) sum_i w_i (y_i - X_i beta)^2 + lam ||beta||_1,
    by cyclic coordinate descent (sklearn Lasso with sample_weight, no intercept)."""
    ### BEGIN SOLUTION
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    v = w / w.sum()
    d = X.shape[1]
    beta, residual = np.zeros(d), y.copy()
    curvature = (v[:, None] * X ** 2).sum(axis=0)
    for _ in range(max_sweeps):
        largest_step = 0.0
        for j in range(d):
            if curvature[j] == 0:
                continue
            rho = np.dot(v * X[:, j], residual) + curvature[j] * beta[j]
            new = np.sign(rho) * max(abs(rho) - lam, 0.0) / curvature[j]
            step = new - beta[j]
            if step != 0.0:
                residual -= step * X[:, j]
                beta[j] = new
                largest_step = max(largest_step, abs(step))
        if largest_step <= tol * max(1.0, np.abs(beta).max()):
            break
    return beta
    ### END SOLUTION
''')

selfcheck("2.3")

md("ex_sparse", r"""
### Exercise 6 (code): sparse LIME by greedy forward selection

The $L_0$ problem (best subset selection) is NP-hard in general; LIME's "forward selection"
approximates it greedily. Implement `sparse_lime(X, y, w, k)`: start from the empty support;
`k` times, add the feature $j$ whose inclusion gives the smallest weighted residual
$\sum_i w_i (y_i - x_i\cdot\beta)^2$ after **refitting all selected coefficients** by
weighted least squares; return the full coefficient vector $\beta \in \mathbb{R}^d$ with
zeros outside the support (so at most `k` nonzeros).

The checks count the nonzeros, ask for the true support of problems with a planted sparse
$\beta$ (some with a *decoy*: a feature as correlated with $y$ as a true one, but redundant once
that one is selected, so ranking features by their correlation with $y$ is not enough), and
compare your weighted residual with the brute-force best subset on problems with at most 10
features (within 1%).
""")

solution("sparse_lime", '''
def sparse_lime(X, y, w, k):
    """Greedy forward selection: beta (d,) with at most k nonzeros, refit by WLS at each step."""
    ### BEGIN SOLUTION
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w))
    root, d = np.sqrt(w), X.shape[1]
    support, beta = [], np.zeros(d)
    for _ in range(min(int(k), d)):
        best = None
        for j in range(d):
            if j in support:
                continue
            trial = support + [j]
            coef = np.linalg.lstsq(root[:, None] * X[:, trial], root * y, rcond=None)[0]
            rss = float(np.sum(w * (y - X[:, trial] @ coef) ** 2))
            if best is None or rss < best[0]:
                best = (rss, j, coef)
        support.append(best[1])
        beta = np.zeros(d)
        beta[support] = best[2]
    return beta
    ### END SOLUTION
''')

selfcheck("2.4")

# =============================================================================================
# Part 2: LIME on images
# =============================================================================================

md("lime_images_intro", r"""
### LIME on the photos

The interpretable features are $S \approx 30$ SLIC superpixels. A sample is a vector
$z \in [0, 1]^S$: superpixel $s$ is shown as the blend $z_s \cdot \text{photo} + (1 - z_s)\cdot
\text{its mean colour}$, so $z_0 = \mathbf{1}$ is the photo itself. We draw
$z = \operatorname{clip}(\mathbf{1} + \sigma\varepsilon, 0, 1)$ with `lime_samples`, ask the
CNN for the probability of its predicted class, weigh the samples with the kernel
$w_i = \exp(-\lVert z_i - \mathbf{1}\rVert^2 / (2\sigma^2 S))$, centre $X$ and $y$ with the
weights (this replaces the intercept), and fit `sparse_lime` with $k = 5$.

As a second reference, the `lime` package's `LimeImageExplainer` explains the same prediction
with the same superpixels; it switches superpixels fully on or off (binary samples) and fits a
weighted ridge regression. Its top five superpixels are shown next to ours and next to
Grad-CAM.
""")

code("lime_images", """
from lime import lime_image

N_SAMPLES = 300 if QUICK else 1000
SIGMA = 0.5


def perturb(photo, segments, z):
    \"\"\"Images (n, H, W, 3): superpixel s blended between its mean colour (z_s = 0) and the photo.\"\"\"
    mean = np.zeros_like(photo)
    for s in range(segments.max() + 1):
        mean[segments == s] = photo[segments == s].mean(axis=0)
    alpha = np.asarray(z)[:, segments][..., None]          # (n, H, W, 1)
    return alpha * photo + (1 - alpha) * mean


def lime_problem(photo, segments, c, m=N_SAMPLES, sigma=SIGMA, seed=0):
    \"\"\"Centred LIME regression data (X, y, w) for class c of the CNN around the photo.\"\"\"
    S = segments.max() + 1
    Z = np.clip(lime_samples(np.ones(S), m, sigma, seed=seed), 0, 1)
    y = predict_proba(perturb(photo, segments, Z))[:, c]
    w = np.exp(-np.sum((Z - 1) ** 2, axis=1) / (2 * sigma ** 2 * S))
    X = Z - np.average(Z, axis=0, weights=w)
    return X, y - np.average(y, weights=w), w


def top_mask(segments, chosen):
    return np.isin(segments, list(chosen))


explainer = lime_image.LimeImageExplainer(random_state=0)
lime_data = {}
fig, axes = plt.subplots(len(photos), 4, figsize=(12, 3 * len(photos)))
for row, (name, photo) in enumerate(photos.items()):
    c = predicted[name]
    segments = slic(photo, n_segments=30, compactness=10, start_label=0)
    X, y, w = lime_problem(photo, segments, c)
    lime_data[name] = (X, y, w, segments)
    ours = np.flatnonzero(sparse_lime(X, y, w, 5)).tolist()
    reference = explainer.explain_instance(photo, predict_proba, labels=(c,), top_labels=None,
                                           hide_color=None, num_samples=N_SAMPLES,
                                           segmentation_fn=lambda image: segments, random_seed=0)
    theirs = [int(s) for s, weight in sorted(reference.local_exp[c], key=lambda p: -p[1])[:5]]
    x = to_input(resize(photo, (32, 32), anti_aliasing=True)[None])[0].numpy()
    cam = upsample(gradcam(cnn, cnn.features[7], x, c), 128)
    inside = [cam[top_mask(segments, chosen)].mean() for chosen in (ours, theirs)]
    print(f"{name} ({CIFAR_CLASSES[c]}): sparse LIME {sorted(ours)}, lime package "
          f"{sorted(theirs)}, overlap {len(set(ours) & set(theirs))}/5; mean Grad-CAM inside "
          f"them {inside[0]:.2f} / {inside[1]:.2f} (whole image {cam.mean():.2f})")
    panels = [(mark_boundaries(photo, segments), "superpixels"),
              (photo * top_mask(segments, ours)[..., None], "sparse LIME, k = 5"),
              (photo * top_mask(segments, theirs)[..., None], "lime package, top 5"),
              (photo, "Grad-CAM")]
    for ax, (image, title) in zip(axes[row], panels):
        ax.imshow(image)
        ax.set_title(f"{name}: {title}" if title == "superpixels" else title)
        ax.axis("off")
    axes[row, 3].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
plt.tight_layout()
plt.show()
""")

md("paths_intro", r"""
### Sparsity paths: $L_0$, $L_1$ and $L_2$

For the cat photo, follow each surrogate's coefficients as the constraint loosens: $k = 0,
\dots, S$ for greedy $L_0$, a decreasing $\lambda$ for the lasso and for ridge. The last panel
counts the nonzero coefficients.
""")

code("paths", """
X, y, w, segments = lime_data["chelsea"]
n_features = X.shape[1]
ks = np.arange(n_features + 1)
l0_path = np.array([sparse_lime(X, y, w, k) for k in ks])
lasso_lams = np.logspace(0, -5, 12 if QUICK else 30) * np.abs(X.T @ (w * y)).max() / w.sum()
l1_path = np.array([lasso_lime(X, y, w, lam) for lam in lasso_lams])
ridge_lams = np.logspace(3, -4, 30) * w.sum()
l2_path = np.array([ridge_lime(X, y, w, lam) for lam in ridge_lams])

fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
axes[0].plot(ks, l0_path)
axes[0].set(xlabel="k (at most k nonzeros)", ylabel="coefficient", title="L0: greedy forward selection")
axes[1].semilogx(lasso_lams, l1_path)
axes[1].invert_xaxis()
axes[1].set(xlabel="λ (decreasing)", title="L1: lasso")
axes[2].semilogx(ridge_lams, l2_path)
axes[2].invert_xaxis()
axes[2].set(xlabel="λ (decreasing)", title="L2: ridge")
for path, label in ((l1_path, "lasso"), (l2_path, "ridge")):
    axes[3].plot(np.linspace(0, 1, len(path)), (np.abs(path) > 1e-10).sum(axis=1), label=label)
axes[3].plot(ks / n_features, ks, label="greedy L0")
axes[3].set(xlabel="constraint loosens →", ylabel="nonzero coefficients", title="sparsity")
axes[3].legend()
plt.tight_layout()
plt.show()
""")

written("written_d", r"""
### Written (d): reading the sparsity paths

Describe how the three paths differ. Which penalties give exact zeros, and why? Does the
lasso select the same superpixels, in the same order, as greedy $L_0$? When would you prefer
each for an explanation shown to a user?
""", r"""
* **$L_2$ (ridge)** shrinks all coefficients smoothly towards zero as $\lambda$ grows, but
  none of them becomes exactly zero: the penalty's gradient $2\lambda\beta_j$ vanishes at 0,
  so there is no force that pins a coefficient there. The explanation stays dense (all $S$
  superpixels).
* **$L_1$ (lasso)** gives exact zeros: the subgradient of $|\beta_j|$ at 0 is the whole
  interval $[-1, 1]$, so $\beta_j = 0$ is optimal whenever the feature's correlation with the
  residual is below $\lambda$ (the soft threshold). Coefficients enter one by one as $\lambda$
  decreases, the path is piecewise linear, and the selected ones are shrunk (biased towards
  0) compared with least squares.
* **$L_0$ (greedy)** sets the support size directly; the selected coefficients are the
  unshrunk least-squares values, so they jump when a new feature enters and changes the refit.

The first few features are usually the same for lasso and greedy $L_0$ (the superpixels most
correlated with the output), but the order can differ when superpixels are correlated: the
lasso's shrinkage lets a correlated neighbour in earlier or later. For a user-facing
explanation with a fixed budget of, say, five regions, $L_0$ gives exactly that many with
honest magnitudes; the lasso is convex (unique, stable under small changes of the samples,
cheap to compute for all $\lambda$ at once); ridge is best when the goal is an accurate local
surrogate rather than a short list.
""")

written("written_e", r"""
### Written (e): LIME versus Grad-CAM

Compare the LIME explanations with the Grad-CAM maps above. Where do they agree or
disagree, and why might they? Which would you trust more, and what would you check before
trusting either? (Two or three paragraphs.)
""", r"""
Grad-CAM is a *local gradient* explanation read off the network's internals at one layer: it
is cheap (one forward and backward pass), deterministic, but coarse (8×8 here) and only
first-order: it says which regions' features would raise the logit if amplified, not what
happens when the region is removed. LIME is a *black-box, perturbation* explanation: it
measures how the probability changes when superpixels are greyed out, so it captures
interactions of finite size, is tied to the superpixel segmentation, depends on the sampling
(σ, kernel width, number of samples, random seed) and on the baseline used to hide a region
(the mean colour here, which is itself an out-of-distribution image).

How well they agree depends on the run, and the agreement is weak. In a quick run of this
notebook, the two LIME variants chose 3 to 5 of the same 5 superpixels (one uses continuous
blends and an $L_0$ fit, the other binary masks and ridge), while the mean Grad-CAM value
inside the LIME superpixels was only slightly above the image average for three photos and
below it for the rocket. Both explain a weak 32×32 CIFAR-10 network applied to photos whose
objects are mostly not among its classes (the cat was labelled "frog" in that run), so
neither tells us what a good classifier looks at; disagreement between them is itself
evidence that the model relies on diffuse cues rather than on the object.

Before trusting either: check stability (re-run LIME with other seeds and sample sizes; look
at Grad-CAM for nearby inputs and for other layers), run sanity checks (randomise the
model's weights or the labels: a faithful explanation must change), and measure faithfulness
directly, e.g. deletion/insertion curves (remove the top-ranked regions and see how fast the
class probability drops). The explanation that better predicts those interventions is the
one to trust for this model.
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
