"""VIB and cross-entropy classifiers with the papers' architectures (math.md §B3.2, §B5).

The encoder is a plain ``nn.Sequential`` (flatten, then Linear/ReLU layers, optionally two conv layers
first) so that ``infotheory.lipschitz`` can bound it; no BatchNorm or Dropout (the paper excludes them).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._arrays import int_scalar, real_scalar

DEFAULT_WIDTHS: tuple[int, ...] = (512,) * 3 + (256,) * 3


def _check_int(name: str, v: Any, lo: int = 1) -> int:
    # a Python or numpy integer, returned as a Python int (configs are stored and compared)
    return int_scalar(v, name, minimum=lo)


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    return tuple(_check_int("widths entries", w) for w in widths)


# 2**31 weights: 8 GiB in float32, far beyond the papers' models (2**28 would refuse a plausible
# 4096-wide MLP on raw ImageNet pixels); a typo (--K 1000000000) allocated terabytes before (a
# RuntimeError from the allocator, or the machine swapping)
_MAX_WEIGHTS = 2**31


def _mlp(in_features: int, widths: Sequence[int], out: int) -> list[nn.Module]:
    sizes = [in_features, *widths, out]
    count = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    if count > _MAX_WEIGHTS:
        raise ValueError(
            f"the layers {sizes} (in_features, widths, outputs) hold {count} weights, more than "
            f"{_MAX_WEIGHTS}: reduce widths or K"
        )
    layers: list[nn.Module] = []
    d = in_features
    for w in widths:
        layers += [nn.Linear(d, w), nn.ReLU()]
        d = w
    layers.append(nn.Linear(d, out))
    return layers


def _conv(
    in_shape: Sequence[int], channels: Sequence[int], kernel_size: int
) -> tuple[list[nn.Module], int]:
    if len(in_shape) != 3:
        raise ValueError(f"in_shape must be (C, H, W), got {tuple(in_shape)}")
    c, h, w = (_check_int("in_shape entries", s) for s in in_shape)
    layers: list[nn.Module] = []
    for ch in channels:
        _check_int("channels entries", ch)
        layers += [
            nn.Conv2d(c, ch, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        c, h, w = ch, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(
                f"in_shape {tuple(in_shape)} is too small for {len(channels)} pooled conv layers"
            )
    return [*layers, nn.Flatten()], c * h * w


def _trunk(config: dict[str, Any], out: int) -> nn.Sequential:
    if config["arch"] == "mlp":
        return nn.Sequential(nn.Flatten(), *_mlp(config["in_features"], config["widths"], out))
    conv, flat = _conv(config["in_shape"], config["channels"], config["kernel_size"])
    return nn.Sequential(*conv, *_mlp(flat, config["widths"], out))


def _arch_config(arch: str, **kw: Any) -> dict[str, Any]:
    if arch == "mlp":
        kw["in_features"] = _check_int("in_features", kw["in_features"])
    kw["n_classes"] = _check_int("n_classes", kw["n_classes"], 2)
    kw["K"] = _check_int("K", kw["K"])
    kw["widths"] = list(_check_widths(kw["widths"]))
    if arch == "cnn_mlp":
        kw["in_shape"] = [_check_int("in_shape entries", s) for s in kw["in_shape"]]
        kw["channels"] = [_check_int("channels entries", c) for c in kw["channels"]]
        kw["kernel_size"] = _check_int("kernel_size", kw["kernel_size"])
    return {"arch": arch, **kw}


def _checked_config(config: Any) -> dict[str, Any]:
    """``config`` with its architecture keys checked (TypeError/ValueError naming the key)."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    arch = config.get("arch")
    if arch not in ("mlp", "cnn_mlp"):
        raise ValueError(f"config['arch'] must be 'mlp' or 'cnn_mlp', got {arch!r}")
    keys = ("n_classes", "K", "widths") + (
        ("in_features",) if arch == "mlp" else ("in_shape", "channels", "kernel_size")
    )
    missing = [k for k in keys if k not in config]
    if missing:
        raise ValueError(f"config for arch {arch!r} misses {missing}")
    return {**config, **_arch_config(arch, **{k: config[k] for k in keys})}


class VIB(nn.Module):
    """Variational information bottleneck classifier (Alemi et al. 2016; math.md §B3.2).

    The encoder maps x to 2K numbers: the mean mu(x) and rho(x), with standard deviation
    ``sigma = softplus(rho - 5)``; t = mu + sigma * eps, eps ~ N(0, I); the decoder is linear, K -> classes.

    ``model(x)`` returns logits: one draw of t in training mode; in eval mode the log of the softmax
    averaged over ``samples`` draws (a valid logit vector whose argmax is the paper's prediction).

    Build with :meth:`mlp` or :meth:`cnn_mlp`.

    Attributes
    ----------
    encoder : nn.Sequential
        x -> (mu, rho), 2K outputs.
    decoder : nn.Linear
        t -> logits.
    K : int
        Bottleneck dimension.
    samples : int
        Draws of t averaged at evaluation.
    config : dict
        The builder arguments (``build_model(config)`` makes a fresh copy).
    """

    stochastic = True

    def __init__(
        self, config: dict[str, Any], *, samples: int = 12, std_bias: float = -5.0
    ) -> None:
        super().__init__()
        config = _checked_config(config)
        self.samples = _check_int("samples", samples)
        self.config = {"model": "vib", **config, "samples": self.samples}
        self.K = int(config["K"])
        self.n_classes = int(config["n_classes"])
        # a finite Python or numpy real (NaN, inf and ints beyond the float range fail)
        self.std_bias = real_scalar(std_bias, "std_bias")
        self.encoder = _trunk(config, 2 * self.K)
        self.decoder = nn.Linear(self.K, self.n_classes)

    @classmethod
    def mlp(
        cls,
        in_features: int,
        n_classes: int,
        K: int = 256,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        *,
        samples: int = 12,
    ) -> VIB:
        """The paper's MNIST encoder {512}xN-{256}xN-2K (N = 3), flattening its input."""
        cfg = _arch_config("mlp", in_features=in_features, n_classes=n_classes, K=K, widths=widths)
        return cls(cfg, samples=samples)

    @classmethod
    def cnn_mlp(
        cls,
        in_shape: Sequence[int] = (3, 32, 32),
        n_classes: int = 10,
        K: int = 256,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        *,
        channels: Sequence[int] = (32, 64),
        kernel_size: int = 5,
        samples: int = 12,
    ) -> VIB:
        """CIFAR-10 encoder: two conv(k, same) + ReLU + 2x2 max-pool layers, then the MLP (§B5)."""
        cfg = _arch_config(
            "cnn_mlp", in_shape=in_shape, n_classes=n_classes, K=K, widths=widths,
            channels=channels, kernel_size=kernel_size,
        )  # fmt: skip
        return cls(cfg, samples=samples)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma), each (N, K)."""
        h = self.encoder(x)
        return h[:, : self.K], F.softplus(h[:, self.K :] + self.std_bias)

    def forward(
        self, x: torch.Tensor, *, eps: torch.Tensor | None = None, with_stats: bool = False
    ) -> Any:
        """Logits (N, classes); with ``with_stats`` the tuple (logits, mu, sigma).

        ``eps`` fixes the standard-normal draws: (N, K) in training, (samples, N, K) in eval mode.
        """
        mu, sigma = self.encode(x)
        if self.training:
            if eps is None:
                eps = torch.randn_like(mu)
            logits = self.decoder(mu + sigma * eps)
        else:
            if eps is None:
                eps = torch.randn((self.samples, *mu.shape), dtype=mu.dtype, device=mu.device)
            logp = F.log_softmax(self.decoder(mu + sigma * eps), dim=-1)
            logits = torch.logsumexp(logp, dim=0) - math.log(eps.shape[0])
        return (logits, mu, sigma) if with_stats else logits


class CEClassifier(nn.Module):
    """Deterministic baseline with the same trunk as :class:`VIB`: encoder to K features, linear decoder,
    trained with plain cross-entropy."""

    stochastic = False

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        config = _checked_config(config)
        self.config = {"model": "ce", **config}
        self.K = int(config["K"])
        self.n_classes = int(config["n_classes"])
        self.encoder = _trunk(config, self.K)
        self.decoder = nn.Linear(self.K, self.n_classes)

    @classmethod
    def mlp(
        cls, in_features: int, n_classes: int, K: int = 256, widths: Sequence[int] = DEFAULT_WIDTHS
    ) -> CEClassifier:
        """The MLP trunk of :meth:`VIB.mlp`, with K deterministic features."""
        return cls(
            _arch_config("mlp", in_features=in_features, n_classes=n_classes, K=K, widths=widths)
        )

    @classmethod
    def cnn_mlp(
        cls,
        in_shape: Sequence[int] = (3, 32, 32),
        n_classes: int = 10,
        K: int = 256,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        *,
        channels: Sequence[int] = (32, 64),
        kernel_size: int = 5,
    ) -> CEClassifier:
        """The conv + MLP trunk of :meth:`VIB.cnn_mlp`."""
        cfg = _arch_config(
            "cnn_mlp", in_shape=in_shape, n_classes=n_classes, K=K, widths=widths,
            channels=channels, kernel_size=kernel_size,
        )  # fmt: skip
        return cls(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The K deterministic features (N, K)."""
        return self.encoder(x)

    def forward(
        self, x: torch.Tensor, *, eps: torch.Tensor | None = None, with_stats: bool = False
    ) -> Any:
        """Logits (N, classes); with ``with_stats`` the tuple (logits, None, None). ``eps`` is ignored."""
        logits = self.decoder(self.encoder(x))
        return (logits, None, None) if with_stats else logits


def build_model(config: dict[str, Any]) -> VIB | CEClassifier:
    """A fresh model from ``model.config`` (as stored in checkpoints)."""
    if not isinstance(config, dict) or config.get("model") not in ("vib", "ce"):
        raise ValueError(f"config must be a model config with model 'vib' or 'ce', got {config!r}")
    cfg = {k: v for k, v in config.items() if k != "model"}
    samples = cfg.pop("samples", 12)
    if cfg.get("arch") not in ("mlp", "cnn_mlp"):
        raise ValueError(f"config arch must be 'mlp' or 'cnn_mlp', got {cfg.get('arch')!r}")
    cfg = _arch_config(**cfg)
    return VIB(cfg, samples=samples) if config["model"] == "vib" else CEClassifier(cfg)
