"""Shared machinery of ``infotheory demo`` and the first paper's reproductions.

Data, models and training come from :mod:`infotheory.data` and :mod:`infotheory.ib`; attacks from
:mod:`infotheory.attacks`; the encoder's Lipschitz upper bound from :mod:`infotheory.lipschitz`;
feature entropies from :mod:`infotheory.estimators`. This module only wires them together and
measures: robust accuracy per attack (with perturbation norms), the variational I(X;T) and I(Y;T)
(math.md §B3.3, bits) and per-unit feature entropies (MLE, JVHW). The gradient-masking probe is
in :mod:`.paper1_masking`.

Imported only when an experiment runs (it imports torch).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Settings:
    """Sizes of one experiment. ``None`` sizes mean the whole split."""

    data: str = "default"
    n_train: int | None = None
    n_test: int | None = None
    n_attack: int = 400  # test samples attacked (the first ones of the test split)
    n_probe: int = 100  # test samples in the gradient-masking probe
    widths: tuple[int, ...] = (512,) * 3 + (256,) * 3  # the paper's {512}x3-{256}x3 encoder
    K: int = 256
    epochs: int = 8
    beta: float = 1e-3
    lr: float = 1e-3
    batch_size: int = 100
    adv_eps: float = 0.3  # FGSM adversarial training, as in Tables 2-3
    adv_ratio: float = 0.5
    steps: int = 20  # BIM / PGD iterations
    cw_steps: int = 50
    deepfool_steps: int = 100  # the paper's "m = 10^2"
    eot: int = 8  # forward samples averaged per gradient in the masking probe
    bins: int = 16  # per-unit bins for feature entropies
    seed: int = 0
    device: str = "cpu"  # where models train and attacks run ("cpu", "cuda", "cuda:N")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scaled(self, **changes: Any) -> Settings:
        return replace(self, **changes)


# --------------------------------------------------------------------------------------------------
# progress and timing


def progress(iterable: Iterable[Any], desc: str, total: int | None = None, quiet: bool = False):
    """A tqdm bar on stderr (tqdm is a dependency)."""
    from tqdm import tqdm

    return tqdm(
        iterable,
        desc=desc,
        total=total,
        disable=quiet,
        leave=False,
        dynamic_ncols=True,
        file=sys.stderr,
    )


class Clock:
    """Wall-clock seconds per named stage."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.stages: dict[str, float] = {}

    def stage(self, name: str) -> _Stage:
        return _Stage(self, name)

    @property
    def total(self) -> float:
        return time.perf_counter() - self.t0


class _Stage:
    def __init__(self, clock: Clock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        dt = time.perf_counter() - self.t
        self.clock.stages[self.name] = self.clock.stages.get(self.name, 0.0) + dt


# --------------------------------------------------------------------------------------------------
# device

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | None) -> str:
    """The ``--device`` flag: "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
    Asking for CUDA on a machine without it is a ValueError naming the flag."""
    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(
                f"--device {device}: CUDA is not available on this machine (torch "
                f"{torch.__version__}, built for CUDA: {torch.version.cuda or 'no'}); "
                "use --device cpu or --device auto"
            )
        if ":" in name and int(name[5:]) >= torch.cuda.device_count():
            raise ValueError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
        return name
    raise ValueError(f"--device must be one of auto, cpu, cuda, cuda:N; got {device!r}")


def device_or_exit(device: str | None) -> str:
    """:func:`resolve_device` for the command line: a bad ``--device`` exits with its message
    (no traceback)."""
    try:
        return resolve_device(device)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


# --------------------------------------------------------------------------------------------------
# data and models


@dataclass
class Data:
    name: str
    shape: tuple[int, ...]
    n_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def in_features(self) -> int:
        return int(np.prod(self.shape))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "n_classes": self.n_classes,
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
        }


def load_data(s: Settings) -> Data:
    """Load ``s.data`` through :func:`infotheory.data.load` and keep the first n of each split."""
    from infotheory.data import load

    ds = load(name=s.data, seed=s.seed)
    ntr = len(ds.y_train) if s.n_train is None else min(s.n_train, len(ds.y_train))
    nte = len(ds.y_test) if s.n_test is None else min(s.n_test, len(ds.y_test))
    dev = torch.device(s.device)
    return Data(
        name=str(ds.name),
        shape=tuple(int(v) for v in ds.shape),
        n_classes=int(ds.n_classes),
        x_train=ds.x_train[:ntr].to(dev),
        y_train=ds.y_train[:ntr].to(dev),
        x_test=ds.x_test[:nte].to(dev),
        y_test=ds.y_test[:nte].to(dev),
    )


def build_model(
    kind: str, data: Data, s: Settings, widths: tuple[int, ...] | None = None, seed: int = 0
) -> nn.Module:
    """``kind`` is "vib" or "ce": the paper's MLP (VIB encoder or the same deterministic trunk);
    on colour images (CIFAR-10) two convolutional layers come first (``cnn_mlp``)."""
    from infotheory.ib import VIB, CEClassifier

    if kind not in ("vib", "ce"):
        raise ValueError(f"kind must be 'vib' or 'ce', got {kind!r}")
    cls = VIB if kind == "vib" else CEClassifier
    widths = tuple(s.widths if widths is None else widths)
    torch.manual_seed(seed)
    if data.shape[0] == 3:
        model = cls.cnn_mlp(tuple(data.shape), data.n_classes, K=s.K, widths=widths)
    else:
        model = cls.mlp(data.in_features, data.n_classes, K=s.K, widths=widths)
    return model.to(data.x_train.device)


def is_stochastic(model: nn.Module) -> bool:
    """VIB models set ``stochastic = True`` (CE models have ``encode`` too, deterministic)."""
    return bool(getattr(model, "stochastic", False))


def train(
    model: nn.Module,
    data: Data,
    s: Settings,
    *,
    beta: float | None = None,
    adversarial: bool = False,
    adv_ratio: float | None = None,
    epochs: int | None = None,
    seed: int = 0,
    quiet: bool = True,
) -> list[dict[str, Any]]:
    """Train with :class:`infotheory.ib.Trainer` (FGSM adversarial training when asked); returns
    the per-epoch history records."""
    epochs = s.epochs if epochs is None else epochs
    trainer = make_trainer(
        model,
        s,
        beta=beta,
        adversarial=adversarial,
        adv_ratio=adv_ratio,
        seed=seed,
        quiet=quiet,
        epochs=epochs,
    )
    hist = trainer.fit((data.x_train, data.y_train), (data.x_test, data.y_test), epochs)
    return [dict(r) for r in hist.records]


def make_trainer(
    model: nn.Module,
    s: Settings,
    *,
    beta: float | None = None,
    adversarial: bool = False,
    adv_ratio: float | None = None,
    seed: int = 0,
    quiet: bool = True,
    epochs: int | None = None,
) -> Any:
    """An :class:`infotheory.ib.Trainer`; its ``fit(train, test, epochs)`` trains up to ``epochs``
    in total, so calling it with 1, 2, ... measures the model after every epoch. ``epochs`` (the
    budget, default ``s.epochs``) sizes the beta warm-up of large betas (:func:`beta_warmup`)."""
    from infotheory.attacks import FGSM
    from infotheory.ib import Trainer

    beta = s.beta if beta is None else beta
    kwargs: dict[str, Any] = {
        "beta": beta,
        **beta_warmup(beta, s.epochs if epochs is None else epochs),
        "lr": s.lr,
        "batch_size": s.batch_size,
        "seed": seed,
        "quiet": quiet,
    }
    if adversarial:
        kwargs["adversary"] = FGSM(eps=s.adv_eps, seed=seed)
        kwargs["adv_ratio"] = s.adv_ratio if adv_ratio is None else adv_ratio
    return Trainer(model, **kwargs)


# beta from which training warms beta up geometrically (below it, the Trainer's default: none)
WARMUP_FROM_BETA = 1e-2
WARMUP_FRACTION = 0.5  # of the epoch budget


def beta_warmup(beta: float, epochs: int) -> dict[str, Any]:
    """Trainer keywords of the beta warm-up used here: for beta >= 1e-2, a geometric warm-up (beta
    * 1e-4 ** (1 - step / warm-up steps)) over half the epoch budget (at least one epoch). With the
    Trainer's default one-epoch linear warm-up, VIB training at beta = 0.1 on the MNIST sample
    collapses to ~12% accuracy; the geometric one lets the classifier form first."""
    if beta < WARMUP_FROM_BETA:
        return {"beta_warmup_epochs": 0.0}
    return {
        "beta_warmup_epochs": max(1.0, WARMUP_FRACTION * epochs),
        "warmup_shape": "geometric",
    }


def warmup_note(s: Settings, epochs: int | None = None) -> str:
    """One sentence for a report's setup section."""
    w = beta_warmup(1.0, s.epochs if epochs is None else epochs)["beta_warmup_epochs"]
    return (
        f"Beta warm-up: for beta >= {WARMUP_FROM_BETA:g}, geometric from 1e-4 * beta to beta over "
        f"the first {w:g} of {s.epochs if epochs is None else epochs} epochs (without it, beta = 0.1"
        " collapses to chance-level accuracy here); smaller betas are used from the first step."
    )


# The first paper's four settings of Tables 2-3: name -> (kind, adversarially trained).
TABLE_CONFIGS: dict[str, tuple[str, bool]] = {
    "IB": ("vib", False),
    "CE": ("ce", False),
    "IB+adv": ("vib", True),
    "CE+adv": ("ce", True),
}


def train_table_models(
    data: Data, s: Settings, *, quiet: bool = False, clock: Clock | None = None
) -> tuple[dict[str, nn.Module], dict[str, list[dict]], dict[str, float]]:
    """Train the four models of Tables 2-3; returns models, histories and seconds per model."""
    models, histories, seconds = {}, {}, {}
    for name in progress(list(TABLE_CONFIGS), "training", quiet=quiet):
        kind, adv = TABLE_CONFIGS[name]
        t = time.perf_counter()
        model = build_model(kind, data, s, seed=s.seed)
        histories[name] = train(model, data, s, adversarial=adv, seed=s.seed, quiet=quiet)
        models[name] = model
        seconds[name] = time.perf_counter() - t
        if clock is not None:
            clock.stages["training"] = clock.stages.get("training", 0.0) + seconds[name]
    return models, histories, seconds


def attack_table_models(
    models: dict[str, nn.Module],
    data: Data,
    s: Settings,
    *,
    quiet: bool = False,
    keep: Iterable[str] = (),
) -> tuple[dict[str, dict[str, float]], dict[str, dict], dict[str, dict[str, torch.Tensor]]]:
    """Robust accuracy of every model under the Table 2 attack suite."""
    x, y = data.x_test[: s.n_attack], data.y_test[: s.n_attack]
    robust, norms, kept = {}, {}, {}
    for name, model in models.items():
        robust[name], norms[name], kept[name] = evaluate(
            model, x, y, attack_suite(s, seed=s.seed), desc=f"attacking {name}", quiet=quiet,
            keep=keep,
        )  # fmt: skip
    return robust, norms, kept


# --------------------------------------------------------------------------------------------------
# predictions and attacks


def _batches(n: int, size: int) -> Iterator[slice]:
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


@torch.no_grad()
def logits(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    was = model.training
    model.eval()
    try:
        return torch.cat([model(x[b]) for b in _batches(len(x), batch)])
    finally:
        model.train(was)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Percent of ``x`` classified as ``y`` (stochastic models: their eval-mode averaged logits)."""
    return 100.0 * float((logits(model, x).argmax(-1) == y).float().mean())


def attack_suite(s: Settings, seed: int = 0) -> dict[str, Any]:
    """The columns of Tables 2-3: FGSM at eps .1/.3/.5, DeepFool, CW-L2 (c = 0.1), BIM and PGD at
    eps .2 (L-inf on [0, 1] pixels)."""
    from infotheory.attacks import BIM, CW, FGSM, PGD, DeepFool

    alpha = 2.5 * 0.2 / s.steps
    return {
        "fgsm_0.1": FGSM(eps=0.1, seed=seed),
        "fgsm_0.3": FGSM(eps=0.3, seed=seed),
        "fgsm_0.5": FGSM(eps=0.5, seed=seed),
        "deepfool": DeepFool(steps=s.deepfool_steps, overshoot=0.02),
        "cw": CW(c=0.1, steps=s.cw_steps, lr=0.01),
        "bim_0.2": BIM(eps=0.2, alpha=alpha, steps=s.steps, seed=seed),
        "pgd_0.2": PGD(eps=0.2, alpha=alpha, steps=s.steps, random_start=True, seed=seed),
    }


def attack_settings(s: Settings) -> dict[str, str]:
    a = 2.5 * 0.2 / s.steps
    return {
        "fgsm_0.1": "FGSM, L-inf eps 0.1, CE loss",
        "fgsm_0.3": "FGSM, L-inf eps 0.3, CE loss",
        "fgsm_0.5": "FGSM, L-inf eps 0.5, CE loss",
        "deepfool": f"DeepFool (L2), {s.deepfool_steps} iterations, overshoot 0.02",
        "cw": f"CW-L2, c = 0.1, {s.cw_steps} Adam steps, lr 0.01, kappa 0",
        "bim_0.2": f"BIM, L-inf eps 0.2, {s.steps} steps of {a:.4g}",
        "pgd_0.2": f"PGD, L-inf eps 0.2, {s.steps} steps of {a:.4g}, random start",
    }


def run_attack(atk: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 250):
    """Adversarial examples for all of ``x`` (in batches)."""
    out = []
    for b in _batches(len(x), batch):
        res = atk(model, x[b], y[b])
        out.append(res.x_adv.detach())
    return torch.cat(out)


def perturbation_norms(x: torch.Tensor, x_adv: torch.Tensor, fooled: torch.Tensor) -> dict:
    """Median L2 and L-inf size of the perturbations of the ``fooled`` samples."""
    d = (x_adv - x).flatten(1)
    l2, linf = d.norm(dim=1), d.abs().amax(dim=1)
    if not bool(fooled.any()):
        return {"l2_median": float("nan"), "linf_median": float("nan"), "fooled": 0}
    return {
        "l2_median": float(l2[fooled].median()),
        "linf_median": float(linf[fooled].median()),
        "fooled": int(fooled.sum()),
    }


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: dict[str, Any],
    *,
    desc: str = "attacks",
    quiet: bool = False,
    keep: Iterable[str] = (),
) -> tuple[dict[str, float], dict[str, dict], dict[str, torch.Tensor]]:
    """Robust accuracy (%) per attack plus "clean"; median norms of the perturbations that turned
    a correct prediction into a wrong one; the adversarial examples of the attacks in ``keep``."""
    keep = set(keep)
    clean_ok = logits(model, x).argmax(-1) == y
    acc = {"clean": 100.0 * float(clean_ok.float().mean())}
    norms: dict[str, dict] = {}
    kept: dict[str, torch.Tensor] = {}
    for name in progress(list(attacks), desc, quiet=quiet):
        t = time.perf_counter()
        x_adv = run_attack(attacks[name], model, x, y)
        seconds = time.perf_counter() - t
        pred = logits(model, x_adv).argmax(-1)
        acc[name] = 100.0 * float((pred == y).float().mean())
        norms[name] = {**perturbation_norms(x, x_adv, clean_ok & (pred != y)), "seconds": seconds}
        if name in keep:
            kept[name] = x_adv
    return acc, norms, kept


# --------------------------------------------------------------------------------------------------
# Lipschitz and information


def lipschitz(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Upper bound on the encoder's L2 Lipschitz constant (product of per-layer spectral norms,
    the paper's proxy for the stochastic encoder's constant, math.md §B4.2), with the VIB mean and
    std heads' bounds where the model has them."""
    from infotheory.lipschitz import network_bound

    try:
        r = network_bound(model, input_shape=input_shape)
    except (TypeError, ValueError) as err:
        return {"value": float("nan"), "per_layer": [], "heads": {}, "error": str(err)}
    return {
        "value": float(r.value),
        "per_layer": [float(lb.value) for lb in r.per_layer],
        "heads": {k: float(v) for k, v in r.heads.items()},
    }


@torch.no_grad()
def kl_rate_bits(model: nn.Module, x: torch.Tensor, batch: int = 500) -> float | None:
    """Variational upper bound I(X;T) <= mean KL(N(mu, sigma^2) || N(0, I)) in bits (math.md
    §B3.2-3); ``None`` for deterministic models."""
    if not is_stochastic(model):
        return None
    was = model.training
    model.eval()
    try:
        total = 0.0
        for b in _batches(len(x), batch):
            mu, sigma = model.encode(x[b])
            mu, sigma = mu.double(), sigma.double()
            kl = 0.5 * (sigma**2 + mu**2 - 1.0 - 2.0 * torch.log(sigma)).sum(-1)
            total += float(kl.sum())
    finally:
        model.train(was)
    return total / len(x) / LN2


@torch.no_grad()
def iyt_bits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int) -> float:
    """Variational lower bound I(Y;T) >= H(Y) - CE, bits, with H(Y) = log2(n_classes)."""
    ce = torch.nn.functional.cross_entropy(logits(model, x).double(), y)
    return math.log2(n_classes) - float(ce) / LN2


def last_linear(model: nn.Module) -> nn.Linear:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("model has no nn.Linear layer")
    return layers[-1]


@torch.no_grad()
def last_hidden(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The features entering the model's final linear layer (its decoder's input)."""
    captured: list[torch.Tensor] = []

    def grab(_m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        t = inp[0].detach()
        # a stochastic model decodes (draws, batch, K) at once: keep one draw of T
        captured.append(t[0] if t.ndim == 3 else t)

    hook = last_linear(model).register_forward_hook(grab)
    try:
        logits(model, x)
    finally:
        hook.remove()
    return torch.cat(captured)


def feature_entropy(model: nn.Module, x: torch.Tensor, bins: int) -> dict[str, float]:
    """Mean per-unit entropy (bits) of the discretised last hidden layer, MLE and JVHW. The sum over
    units upper-bounds the joint entropy H(T) = I(X;T) of a deterministic encoder; the joint itself
    saturates at log2(n) with n test samples."""
    from infotheory.estimators import discretize, entropy

    feats = last_hidden(model, x).double().cpu().numpy()
    codes = np.asarray(discretize(feats, bins=bins))
    out: dict[str, float] = {}
    for method in ("mle", "jvhw"):
        per_unit = [
            float(entropy(np.ascontiguousarray(codes[:, j]), method=method, base=2))
            for j in range(codes.shape[1])
        ]
        out[method] = float(np.mean(per_unit))
    out["units"] = int(codes.shape[1])
    return out
