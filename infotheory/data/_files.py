"""Readers for data sets on disk: MNIST IDX files and CIFAR-10 python batches."""

from __future__ import annotations

import gzip
import math
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

# IDX type codes (http://yann.lecun.com/exdb/mnist/): code -> big-endian numpy dtype
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed, told apart by its first bytes).

    Raises ValueError naming the file when the header or the size is wrong.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = math.prod(dims)  # exact: int64 wrapped (0 or negative sizes) for huge headers
    if len(raw) != header + count * dtype.itemsize:
        raise ValueError(
            f"{path}: IDX size mismatch: header says {dims} ({count * dtype.itemsize} bytes of data), "
            f"file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)


def _find_mnist_file(folders: list[Path], stem: str) -> Path | None:
    # the original names, the variant with a dot ('train-images.idx3-ubyte'), each plain or .gz
    dotted = stem.replace("-idx", ".idx")
    for folder in folders:
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            p = folder / name
            if p.is_file():
                return p
    return None


def read_mnist(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from the four IDX files in ``path``, ``path/raw`` or ``path/MNIST/raw`` (torchvision).

    Returns x_train, y_train, x_test, y_test with images as float32 (N, 1, 28, 28) in [0, 1].
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"mnist: folder {str(root)!r} does not exist")
    folders = [root, root / "raw", root / "MNIST" / "raw"]
    out: dict[str, np.ndarray] = {}
    for key, stem in _MNIST_FILES.items():
        f = _find_mnist_file(folders, stem)
        if f is None:
            where = ", ".join(str(d) for d in folders)
            raise FileNotFoundError(f"mnist: missing file {stem!r} (or {stem}.gz) in {where}")
        a = read_idx(f)
        if key.startswith("x"):
            if a.ndim != 3:
                raise ValueError(f"{f}: images must be a 3-d IDX array, got shape {a.shape}")
            a = (a.astype(np.float32) / 255.0)[:, None, :, :]
        else:
            if a.ndim != 1:
                raise ValueError(f"{f}: labels must be a 1-d IDX array, got shape {a.shape}")
            a = a.astype(np.int64)
        out[key] = a
    for part in ("train", "test"):
        if len(out["x_" + part]) != len(out["y_" + part]):
            raise ValueError(
                f"mnist: {part} images and labels differ in count: "
                f"{len(out['x_' + part])} vs {len(out['y_' + part])}"
            )
    return out["x_train"], out["y_train"], out["x_test"], out["y_test"]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: a CIFAR batch file cannot run code."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(f: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with f.open("rb") as fh:
            d = _ArrayUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"{f}: not a CIFAR-10 python batch ({e})") from e
    if not isinstance(d, dict):
        raise ValueError(f"{f}: not a CIFAR-10 python batch (expected a dict)")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{f}: CIFAR-10 batch lacks 'data' or 'labels'")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{f}: CIFAR-10 batch must hold data (N, 3072) and N labels, "
            f"got data {data.shape} and {labels.shape[0]} labels"
        )
    x = (data.astype(np.float32) / 255.0).reshape(-1, 3, 32, 32)
    return x, labels


def read_cifar10(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 from ``cifar-10-batches-py`` (``path`` is that folder or its parent).

    Returns x_train, y_train, x_test, y_test with images as float32 (N, 3, 32, 32) in [0, 1].
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"cifar10: folder {str(root)!r} does not exist")
    if not (root / "test_batch").exists() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for n in names:
        if not (root / n).is_file():
            raise FileNotFoundError(f"cifar10: missing file {n!r} in {root}")
    parts = [_read_cifar_batch(root / n) for n in names]
    x_tr = np.concatenate([p[0] for p in parts[:5]])
    y_tr = np.concatenate([p[1] for p in parts[:5]])
    return x_tr, y_tr, parts[5][0], parts[5][1]
