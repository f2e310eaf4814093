"""Dataset loaders shared by the notebooks and the grader.

Each loader looks, in order, at an explicit ``data_dir``, then ``$TML_DATA_DIR``, for a local copy
(``mnist.npz``, and ``cifar10-uint8/`` as written by ``save_local_copies`` or the JPEG
``cifar10-jpeg.npz`` of the course's offline data). Without a
local copy it falls back to torchvision's download, which is what happens in Colab. Images come
back as uint8 arrays so the caller decides on scaling.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ENV = "TML_DATA_DIR"
CACHE_ENV = "TML_CACHE_DIR"
CIFAR10_SIZES = (50_000, 10_000)     # train, test
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class DataUnavailable(RuntimeError):
    """No local copy was found and the download failed (e.g. no network)."""


@dataclass(frozen=True)
class Split:
    """A labelled image dataset. x: (N, H, W) or (N, H, W, 3) uint8; y: (N,) int64."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The local data folder: ``explicit`` if given, else ``$TML_DATA_DIR``, else None."""
    chosen = explicit if explicit is not None else os.environ.get(DATA_ENV)
    return Path(chosen).expanduser() if chosen else None


def cache_dir() -> Path:
    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "tml-kit"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _local_file(name: str, explicit) -> Path | None:
    folder = data_dir(explicit)
    if folder is not None and (folder / name).is_file():
        return folder / name
    return None


def mnist_available(explicit=None) -> bool:
    return _local_file("mnist.npz", explicit) is not None


def cifar10_available(explicit=None) -> bool:
    return (_raw_cifar(explicit) is not None
            or _local_file("cifar10-jpeg.npz", explicit) is not None)


# Exact CIFAR-10 pixels as .npy files, written by save_local_copies. Memory-mapped, so that a
# subset reads only its own images.
RAW_CIFAR = "cifar10-uint8"
_SPLIT_FIELDS = ("x_train", "y_train", "x_test", "y_test")


def _raw_cifar(explicit) -> Path | None:
    folder = data_dir(explicit)
    if folder is not None and (folder / RAW_CIFAR / "x_train.npy").is_file():
        return folder / RAW_CIFAR
    return None


DATASETS = ("mnist", "cifar10")


def save_local_copies(folder: str | os.PathLike, datasets: tuple[str, ...] = DATASETS) -> Path:
    """Write MNIST (``mnist.npz``) and/or CIFAR-10 (``cifar10-uint8/*.npy``) into ``folder``,
    downloading them if needed. Gradescope's setup.sh does this once, for the datasets its
    homework grades with, so that grading, with ``$TML_DATA_DIR`` set to the folder, neither
    imports torchvision nor holds all of CIFAR-10."""
    unknown = set(datasets) - set(DATASETS)
    if unknown:
        raise ValueError(f"unknown datasets {sorted(unknown)}; known: {DATASETS}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "mnist" in datasets:
        mnist = load_mnist()
        np.savez(folder / "mnist.npz", **{name: getattr(mnist, name) for name in _SPLIT_FIELDS})
    if "cifar10" in datasets:
        (folder / RAW_CIFAR).mkdir(exist_ok=True)
        cifar = load_cifar10()
        for name in _SPLIT_FIELDS:
            np.save(folder / RAW_CIFAR / f"{name}.npy", getattr(cifar, name))
    return folder


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = True) -> Split:
    """MNIST as uint8 (N, 28, 28) images and int64 labels (60,000 train, 10,000 test)."""
    local = _local_file("mnist.npz", data_dir)
    if local is not None:
        with np.load(local) as f:
            return Split(f["x_train"], f["y_train"].astype(np.int64),
                         f["x_test"], f["y_test"].astype(np.int64), source=str(local))
    return _torchvision_split("MNIST", download)


def load_mnist_labels(data_dir: str | os.PathLike | None = None, download: bool = True) -> Split:
    """MNIST's labels alone: the image arrays of the result have no pixels, only their length."""
    local = _local_file("mnist.npz", data_dir)
    if local is None:
        full = load_mnist(data_dir, download)
        return Split(_no_pixels(full.x_train), full.y_train, _no_pixels(full.x_test),
                     full.y_test, full.source)
    with np.load(local) as f:    # reads only the members asked for
        y_train, y_test = f["y_train"].astype(np.int64), f["y_test"].astype(np.int64)
    return Split(_no_pixels(y_train), y_train, _no_pixels(y_test), y_test, source=str(local))


def _no_pixels(images: np.ndarray) -> np.ndarray:
    return np.empty((len(images), 0), dtype=np.uint8)


def load_cifar10(data_dir: str | os.PathLike | None = None, download: bool = True) -> Split:
    """CIFAR-10 as uint8 (N, 32, 32, 3) images and int64 labels (50,000 train, 10,000 test)."""
    raw = _raw_cifar(data_dir)
    if raw is not None:
        return Split(*(np.load(raw / f"{name}.npy") for name in _SPLIT_FIELDS), source=str(raw))
    local = _local_file("cifar10-jpeg.npz", data_dir)
    if local is not None:
        return _decoded_cifar_jpeg(local)
    return _torchvision_split("CIFAR10", download)


def load_cifar10_subset(train: np.ndarray, test: np.ndarray,
                        data_dir: str | os.PathLike | None = None, download: bool = True) -> Split:
    """The CIFAR-10 images at the indices ``train`` and ``test``. From the local copy only these
    are decoded, so a small subset costs a few MB rather than the 184 MB of all 60,000."""
    raw = _raw_cifar(data_dir)
    if raw is not None:
        mapped = {name: np.load(raw / f"{name}.npy", mmap_mode="r") for name in _SPLIT_FIELDS}
        return Split(np.asarray(mapped["x_train"][train]), np.asarray(mapped["y_train"][train]),
                     np.asarray(mapped["x_test"][test]), np.asarray(mapped["y_test"][test]),
                     source=str(raw))
    local = _local_file("cifar10-jpeg.npz", data_dir)
    if local is None:
        full = load_cifar10(data_dir, download)
        return Split(full.x_train[train], full.y_train[train], full.x_test[test],
                     full.y_test[test], source=full.source)
    with np.load(local) as f:
        return Split(_decode_jpegs(f["train_jpeg"], f["train_offsets"], train),
                     f["y_train"][train].astype(np.int64),
                     _decode_jpegs(f["test_jpeg"], f["test_offsets"], test),
                     f["y_test"][test].astype(np.int64), source=str(local))


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, indices=None) -> np.ndarray:
    from PIL import Image
    indices = np.arange(len(offsets) - 1) if indices is None else np.asarray(indices)
    images = np.empty((len(indices), 32, 32, 3), dtype=np.uint8)
    for row, i in enumerate(indices):
        raw = blob[offsets[i]:offsets[i + 1]].tobytes()
        images[row] = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
    return images


def _decoded_cifar_jpeg(path: Path) -> Split:
    # Decoding 60,000 JPEGs takes ~15 s, so the arrays are cached beside the other downloads.
    stat = path.stat()
    cached = cache_dir() / f"cifar10-decoded-{stat.st_size}.npz"
    if cached.is_file():
        with np.load(cached) as f:
            return Split(f["x_train"], f["y_train"], f["x_test"], f["y_test"], source=str(path))
    with np.load(path) as f:
        split = dict(x_train=_decode_jpegs(f["train_jpeg"], f["train_offsets"]),
                     y_train=f["y_train"].astype(np.int64),
                     x_test=_decode_jpegs(f["test_jpeg"], f["test_offsets"]),
                     y_test=f["y_test"].astype(np.int64))
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, **split)
    tmp.replace(cached)
    return Split(**split, source=str(path))


def _torchvision_split(name: str, download: bool) -> Split:
    root = cache_dir() / "torchvision"
    folder = root / ("cifar-10-batches-py" if name == "CIFAR10" else name)
    if not download and not folder.exists():
        raise DataUnavailable(f"{name} is not available: no local copy in ${DATA_ENV} or {root}, "
                              "and downloading was not allowed.")
    import torchvision

    dataset = getattr(torchvision.datasets, name)
    try:
        train = dataset(root, train=True, download=download)
        test = dataset(root, train=False, download=download)
    except Exception as error:  # network errors come in many types
        raise DataUnavailable(
            f"{name} is not available: no local copy in ${DATA_ENV} and the download failed "
            f"({type(error).__name__}: {error}). Set {DATA_ENV} to a folder holding the offline "
            f"copy, or run where the internet is reachable.") from error

    def arrays(ds):
        return np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)

    (x_train, y_train), (x_test, y_test) = arrays(train), arrays(test)
    return Split(x_train, y_train, x_test, y_test, source=f"torchvision:{root}")
