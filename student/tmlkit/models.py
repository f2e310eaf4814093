"""Trusted model factories. Checks pass ``Build(small_cnn, args)`` and the student's process
constructs the model itself, so no model object ever crosses the boundary."""
from __future__ import annotations

import numpy as np


def tiny_mlp(seed: int, d_in: int = 4, hidden: int = 8, d_out: int = 3):
    import torch
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, d_out)).double()


def small_cnn(seed: int, in_channels: int = 3, size: int = 16, num_classes: int = 5,
              width: int = 4, double: bool = True):
    """A seeded small CNN: ``features`` (conv-ReLU-pool-conv-ReLU-pool-conv-ReLU), ``flatten``
    to z, then ``classifier``, the linear layer W z + b (W of shape (num_classes, F)).

    Layers by path: features.0 conv, .1 ReLU, .2 max-pool, .3 conv, .4 ReLU, .5 max-pool,
    .6 conv, .7 ReLU; the last feature map is (2 width, size/4, size/4). The model is in eval
    mode, in float64 unless ``double=False``.
    """
    from collections import OrderedDict

    import torch
    nn = torch.nn
    torch.manual_seed(seed)
    features = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU())
    model = nn.Sequential(OrderedDict(
        features=features, flatten=nn.Flatten(),
        classifier=nn.Linear(2 * width * (size // 4) ** 2, num_classes)))
    model.eval()
    return model.double() if double else model


def linear_image_model(seed: int, channels: int = 3, size: int = 8, classes: int = 4,
                       scale: float = 3.0, double: bool = True, bias_shift: float = 0.0):
    """logits = W · flatten(x) + b: a model whose outputs under any masking are known in closed
    form (see ``linear_image_weights``). W has shape (classes, channels·size²)."""
    import torch
    W, b = linear_image_weights(seed, channels, size, classes, scale, bias_shift)
    layer = torch.nn.Linear(W.shape[1], classes).double()   # float64 first: W exactly
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(W))
        layer.bias.copy_(torch.as_tensor(b))
    model = torch.nn.Sequential(torch.nn.Flatten(), layer)
    model.eval()
    return model if double else model.float()


def linear_image_weights(seed: int, channels: int = 3, size: int = 8, classes: int = 4,
                         scale: float = 3.0, bias_shift: float = 0.0) \
        -> tuple[np.ndarray, np.ndarray]:
    """The W (classes, D) and b (classes,) of ``linear_image_model``, drawn with numpy; every
    bias is raised by ``bias_shift`` (Average Drop needs positive top logits)."""
    rng = np.random.default_rng(seed)
    D = channels * size * size
    return (rng.normal(scale=scale / np.sqrt(D), size=(classes, D)),
            rng.normal(size=classes) + bias_shift)
