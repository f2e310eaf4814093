"""Data the grader uses, cached per process. The grader never downloads anything."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from autograder import data


@dataclass(frozen=True)
class Flat:
    """Images flattened to (N, D) floats in [0, 1], with int64 labels."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str


@lru_cache(maxsize=None)
def digits(n_train: int = 5000, n_test: int = 2000, dtype=np.float64) -> Flat:
    """MNIST (a fixed subset) when a copy is at hand, else scikit-learn's 8x8 digits."""
    try:
        split = data.load_mnist(download=False)
    except data.DataUnavailable:
        from sklearn.datasets import load_digits
        bunch = load_digits()
        x, y = (bunch.data / 16.0).astype(dtype), bunch.target.astype(np.int64)
        order = np.random.default_rng(0).permutation(len(x))
        x, y = x[order], y[order]
        cut = int(0.7 * len(x))
        return Flat(x[:cut], y[:cut], x[cut:], y[cut:],
                    "scikit-learn digits (MNIST is not available to this grader)")
    rng = np.random.default_rng(0)
    train = rng.choice(len(split.x_train), n_train, replace=False)
    test = rng.choice(len(split.x_test), n_test, replace=False)

    def flat(images):
        return images.reshape(len(images), -1).astype(dtype) / dtype(255.0)

    return Flat(flat(split.x_train[train]), split.y_train[train], flat(split.x_test[test]),
                split.y_test[test], "MNIST")


@lru_cache(maxsize=None)
def small_cifar(n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """A 32x32x3 uint8 image set: a CIFAR-10 subset if a copy is at hand, else synthetic."""
    try:
        split = data.load_cifar10(download=False)
    except data.DataUnavailable:
        return (*_synthetic_images(n_train, n_test), "synthetic 32x32x3 shapes (CIFAR-10 not available)")
    rng = np.random.default_rng(0)
    train = rng.choice(len(split.x_train), n_train, replace=False)
    test = rng.choice(len(split.x_test), n_test, replace=False)
    return (split.x_train[train], split.y_train[train], split.x_test[test], split.y_test[test],
            f"a CIFAR-10 subset ({n_train} train, {n_test} test images)")


def _synthetic_images(n_train: int, n_test: int, classes: int = 10):
    # Ten classes that differ in colour and in the position of a bright square, under noise:
    # learnable by a small CNN in seconds, so a CPU run can show that the pipeline learns.
    rng = np.random.default_rng(1)
    colours = rng.uniform(0.2, 1.0, size=(classes, 3))
    n = n_train + n_test
    labels = rng.integers(0, classes, n)
    images = rng.normal(0.35, 0.12, size=(n, 32, 32, 3))
    for i, label in enumerate(labels):
        row, col = divmod(int(label) % 4, 2)
        top, left = 4 + 12 * row + rng.integers(-2, 3), 4 + 14 * col + rng.integers(-2, 3)
        images[i, top:top + 10, left:left + 10] = colours[label] + rng.normal(0, 0.05, 3)
    images = (np.clip(images, 0, 1) * 255).astype(np.uint8)
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]
