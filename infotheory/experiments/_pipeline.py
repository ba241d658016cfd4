"""Shared machinery of ``infotheory demo`` and the first paper's reproductions.

Data, models and training come from :mod:`infotheory.data` and :mod:`infotheory.ib`; attacks from
:mod:`infotheory.attacks`; the encoder's Lipschitz upper bound from :mod:`infotheory.lipschitz`;
feature entropies from :mod:`infotheory.estimators`. This module only wires them together and
measures: robust accuracy per attack (with perturbation norms), the variational I(X;T) and I(Y;T)
(math.md §B3.3, bits), per-unit feature entropies (MLE, JVHW) and a gradient-masking probe (loss,
expectation over samples, transfer, noise and large-eps checks, after Athalye et al. 2018).

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
    n_attack: int = 500  # test samples attacked (the first ones of the test split)
    n_probe: int = 150  # test samples in the gradient-masking probe
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
    return Data(
        name=str(ds.name),
        shape=tuple(int(v) for v in ds.shape),
        n_classes=int(ds.n_classes),
        x_train=ds.x_train[:ntr],
        y_train=ds.y_train[:ntr],
        x_test=ds.x_test[:nte],
        y_test=ds.y_test[:nte],
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
        return cls.cnn_mlp(tuple(data.shape), data.n_classes, K=s.K, widths=widths)
    return cls.mlp(data.in_features, data.n_classes, K=s.K, widths=widths)


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
    trainer = make_trainer(
        model, s, beta=beta, adversarial=adversarial, adv_ratio=adv_ratio, seed=seed, quiet=quiet
    )
    epochs = s.epochs if epochs is None else epochs
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
) -> Any:
    """An :class:`infotheory.ib.Trainer`; its ``fit(train, test, epochs)`` trains up to ``epochs``
    in total, so calling it with 1, 2, ... measures the model after every epoch."""
    from infotheory.attacks import FGSM
    from infotheory.ib import Trainer

    kwargs: dict[str, Any] = {
        "beta": s.beta if beta is None else beta,  # the trainer warms large betas up itself
        "lr": s.lr,
        "batch_size": s.batch_size,
        "seed": seed,
        "quiet": quiet,
    }
    if adversarial:
        kwargs["adversary"] = FGSM(eps=s.adv_eps, seed=seed)
        kwargs["adv_ratio"] = s.adv_ratio if adv_ratio is None else adv_ratio
    return Trainer(model, **kwargs)


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
        x_adv = run_attack(attacks[name], model, x, y)
        pred = logits(model, x_adv).argmax(-1)
        acc[name] = 100.0 * float((pred == y).float().mean())
        norms[name] = perturbation_norms(x, x_adv, clean_ok & (pred != y))
        if name in keep:
            kept[name] = x_adv
    return acc, norms, kept


# --------------------------------------------------------------------------------------------------
# Lipschitz and information


def encoder_of(model: nn.Module) -> nn.Module:
    enc = getattr(model, "encoder", None)
    return enc if isinstance(enc, nn.Module) else model


def lipschitz(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Upper bound on the encoder's Lipschitz constant (L2, product of per-layer spectral norms,
    the paper's proxy for the stochastic encoder's constant, math.md §B4.2)."""
    import infotheory.lipschitz as lip

    enc = encoder_of(model)
    bound = getattr(lip, "network_bound", None)
    try:
        if bound is not None:
            r = bound(enc, input_shape=input_shape)
            value = r.value
            per_layer = [float(getattr(v, "value", v)) for v in r.per_layer]
        else:  # only dense layers: the product of their spectral norms (ReLU is 1-Lipschitz)
            layers = [m for m in enc.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
            if any(isinstance(m, nn.Conv2d) for m in layers):
                raise NotImplementedError("convolutional encoder needs lipschitz.network_bound")
            per_layer = [float(lip.spectral_norm(m.weight.detach().double()).value) for m in layers]
            value = float(np.prod(per_layer))
    except (TypeError, ValueError, NotImplementedError, RuntimeError) as err:
        return {"value": float("nan"), "per_layer": [], "error": str(err)}
    return {
        "value": float(value),
        "per_layer": [float(v) for v in np.asarray(per_layer, dtype=float).ravel()],
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

    feats = last_hidden(model, x).double().numpy()
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


# --------------------------------------------------------------------------------------------------
# gradient-masking probe


def masking_probe(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    s: Settings,
    *,
    eps: float = 0.3,
    source: nn.Module | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """FGSM at ``eps`` under CE and margin loss, with and without expectation over ``s.eot``
    samples (stochastic models); PGD with the margin loss; PGD at eps = 1 (any model falls to
    ~0% there); uniform sign noise of the same size; FGSM transferred from ``source``. Gradient
    masking shows as a stronger margin/EOT/transfer/noise attack than the plain white-box one."""
    from infotheory.attacks import FGSM, PGD

    eots = (1, s.eot) if is_stochastic(model) else (1,)
    rows = []
    for loss in ("ce", "margin"):
        for eot in eots:
            xa = run_attack(FGSM(eps=eps, loss=loss, eot=eot, seed=seed), model, x, y)
            rows.append(
                {"attack": f"FGSM {eps:g}", "loss": loss, "eot": eot, "acc": accuracy(model, xa, y)}
            )
    eot = eots[-1]
    alpha = 2.5 * eps / s.steps
    pgd = PGD(eps=eps, alpha=alpha, steps=s.steps, loss="margin", eot=eot, seed=seed)
    rows.append(
        {
            "attack": f"PGD {eps:g}",
            "loss": "margin",
            "eot": eot,
            "acc": accuracy(model, run_attack(pgd, model, x, y), y),
        }
    )
    big = PGD(eps=1.0, alpha=0.1, steps=s.steps, loss="margin", eot=eot, seed=seed)
    large_eps = accuracy(model, run_attack(big, model, x, y), y)
    rows.append({"attack": "PGD 1.0 (sanity)", "loss": "margin", "eot": eot, "acc": large_eps})
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 2, x.shape, generator=g).to(x.dtype) * 2.0 - 1.0
    noise_acc = accuracy(model, (x + eps * noise).clamp(0.0, 1.0), y)
    rows.append({"attack": f"sign noise {eps:g}", "loss": "-", "eot": 0, "acc": noise_acc})
    transfer_acc = None
    if source is not None:
        xt = run_attack(FGSM(eps=eps, seed=seed), source, x, y)
        transfer_acc = accuracy(model, xt, y)
        rows.append(
            {"attack": f"FGSM {eps:g} transferred", "loss": "ce", "eot": 1, "acc": transfer_acc}
        )

    plain = rows[0]["acc"]
    best_fgsm = min(r["acc"] for r in rows if r["attack"] == f"FGSM {eps:g}")
    # a difference counts when it exceeds 5 points and two binomial standard errors
    p = min(max(plain / 100.0, 0.05), 0.95)
    tol = max(5.0, 200.0 * math.sqrt(p * (1.0 - p) / max(1, len(y))))
    findings = []
    if best_fgsm < plain - tol:
        findings.append(
            f"FGSM under margin loss / EOT reaches {best_fgsm:.1f}% against {plain:.1f}% "
            "for the plain CE attack: the plain gradient is masked"
        )
    if transfer_acc is not None and transfer_acc < plain - tol:
        findings.append(
            f"a transferred FGSM ({transfer_acc:.1f}%) beats the white-box one ({plain:.1f}%)"
        )
    if noise_acc < plain - tol:
        findings.append(f"random sign noise ({noise_acc:.1f}%) beats FGSM ({plain:.1f}%)")
    if large_eps > 10.0:
        findings.append(f"PGD at eps = 1 leaves {large_eps:.1f}% accuracy (should be ~0%)")
    return {
        "eps": eps,
        "n": len(y),
        "rows": rows,
        "plain_fgsm": plain,
        "strongest_fgsm": best_fgsm,
        "threshold": tol,
        "masking_suspected": bool(findings),
        "findings": findings,
    }
