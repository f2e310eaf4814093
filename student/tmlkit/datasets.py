"""Data the grader uses, cached per process. The grader never downloads anything."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tmlkit import data


@dataclass(frozen=True)
class Flat:
    """Images flattened to (N, D) floats in [0, 1], with int64 labels."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str


@cache
def digits(n_train: int = 5000, n_test: int = 2000, dtype=np.float64) -> Flat:
    """MNIST (a fixed subset) when a copy is at hand, else scikit-learn's 8x8 digits."""
    return _digits(n_train, n_test, np.dtype(dtype).type)


def _digits(n_train: int, n_test: int, dtype, labels_only: bool = False,
            train_classes: tuple = (), test_groups: tuple = ()) -> Flat:
    try:
        split = (data.load_mnist_labels(download=False) if labels_only
                 else data.load_mnist(download=False))
    except data.DataUnavailable:
        from sklearn.datasets import load_digits
        bunch = load_digits()
        x, y = (bunch.data / 16.0).astype(dtype), bunch.target.astype(np.int64)
        x = x[:, :0] if labels_only else x
        order = np.random.default_rng(0).permutation(len(x))
        x, y = x[order], y[order]
        cut = int(0.7 * len(x))
        return select_classes(Flat(x[:cut], y[:cut], x[cut:], y[cut:],
                                   "scikit-learn digits (MNIST is not available to this grader)"),
                              train_classes, test_groups)
    rng = np.random.default_rng(0)
    train = rng.choice(len(split.y_train), n_train, replace=False)
    test = rng.choice(len(split.y_test), n_test, replace=False)
    # Select in uint8, then scale: all of MNIST in float32 is 188 MB.
    raw = select_classes(Flat(split.x_train[train], split.y_train[train], split.x_test[test],
                              split.y_test[test], "MNIST"), train_classes, test_groups)
    del split

    def flat(images):
        scaled = images.reshape(len(images), -1).astype(dtype)
        scaled /= dtype(255.0)
        return scaled

    return Flat(flat(raw.x_train), raw.y_train, flat(raw.x_test), raw.y_test, raw.name)


def digit_labels(n_train: int, n_test: int) -> Flat:
    """What ``digits`` returns, without the images (their arrays have no columns)."""
    return _digits(n_train, n_test, np.float32, labels_only=True)


def digits_for_student(n_train: int, n_test: int, dtype: str,
                       train_classes: tuple = (), test_groups: tuple = ()) -> Flat:
    """A ``Build`` factory: the images of ``digits`` made in the student's process, so that the
    grader neither holds nor sends a large training set. Not cached: the images are freed when
    the call that built them returns. For the class selection see ``select_classes``."""
    return _digits(n_train, n_test, np.dtype(dtype).type, False, train_classes, test_groups)


def select_classes(flat: Flat, train_classes: tuple = (), test_groups: tuple = ()) -> Flat:
    """Training examples of ``train_classes``; test examples of each group of classes in
    ``test_groups`` in turn, e.g. ((1, 6), (3,)) puts the 1s and 6s first and the 3s after them.
    Empty means all."""
    train = np.isin(flat.y_train, train_classes) if train_classes else slice(None)
    test = (np.concatenate([np.flatnonzero(np.isin(flat.y_test, g)) for g in test_groups])
            if test_groups else slice(None))
    return Flat(flat.x_train[train], flat.y_train[train], flat.x_test[test], flat.y_test[test],
                flat.name)


@cache
def small_cifar(n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """A 32x32x3 uint8 image set: a CIFAR-10 subset if a copy is at hand, else synthetic."""
    rng = np.random.default_rng(0)
    train = rng.choice(data.CIFAR10_SIZES[0], n_train, replace=False)
    test = rng.choice(data.CIFAR10_SIZES[1], n_test, replace=False)
    try:
        split = data.load_cifar10_subset(train, test, download=False)
    except data.DataUnavailable:
        return (*_synthetic_images(n_train, n_test), "synthetic 32x32x3 shapes (CIFAR-10 not available)")
    return (split.x_train, split.y_train, split.x_test, split.y_test,
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
