"""Shared machinery of the attacks: the result, argument checks, losses, EOT gradients, mode restore."""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import _arrays

_NORMS = {"inf": "inf", "linf": "inf", "l_inf": "inf", "2": "2", "l2": "2"}
_LOSSES = ("ce", "margin")


@dataclass(frozen=True)
class AttackResult:
    """What an attack returns.

    Attributes
    ----------
    x_adv : Tensor, like ``x``
        Adversarial inputs (for a sample the attack did not fool: its final iterate, never zeros);
        also available as ``adv``.
    success : bool Tensor, shape ``(n,)``
        ``model(x_adv)`` predicts a label other than ``y`` (targeted: predicts ``target``).
    norms : Tensor, shape ``(n,)``
        Perturbation norm ``||x_adv - x||`` in the attack's norm (L-inf for ``norm="inf"``, else L2).
    l2, linf : Tensor, shape ``(n,)``
        Both norms of the perturbation, per sample.
    adv_labels : int64 Tensor, shape ``(n,)``
        Predicted labels at ``x_adv``.
    iterations : int64 Tensor, shape ``(n,)``
        Iterations each sample used (gradient steps; DeepFool: linearisations; CW: optimiser steps
        summed over the binary search).
    attack, norm : str
        Attack name and its norm (``"inf"`` or ``"2"``).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    norms: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    adv_labels: torch.Tensor
    iterations: torch.Tensor
    attack: str
    norm: str

    @property
    def adv(self) -> torch.Tensor:
        """Alias of ``x_adv`` (the issue's and torchattacks' name)."""
        return self.x_adv

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if self.success.numel() else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: rates and norm statistics (no tensors)."""
        ok = self.success
        n = int(ok.numel())
        norms_ok = self.norms[ok].double()
        return {
            "attack": self.attack,
            "norm": self.norm,
            "n": n,
            "success_rate": self.success_rate,
            "median_norm": float(norms_ok.median()) if norms_ok.numel() else math.nan,
            "mean_norm": float(norms_ok.mean()) if norms_ok.numel() else math.nan,
            "median_l2": float(self.l2[ok].double().median()) if norms_ok.numel() else math.nan,
            "median_linf": float(self.linf[ok].double().median()) if norms_ok.numel() else math.nan,
            "mean_iterations": float(self.iterations.double().mean()) if n else 0.0,
        }


def parse_norm(norm: str | float) -> str:
    key = str(norm).lower().replace("-", "_")
    if key in ("inf", "math.inf", "float('inf')"):
        return "inf"
    if key in ("2", "2.0"):
        return "2"
    if key not in _NORMS:
        raise ValueError(f"norm must be 'inf' (or 'linf') or '2' (or 'l2'), got {norm!r}")
    return _NORMS[key]


def parse_loss(loss: str) -> str:
    if loss not in _LOSSES:
        raise ValueError(f"loss must be 'ce' or 'margin', got {loss!r}")
    return loss


def parse_clip(clip: tuple[float, float] | None) -> tuple[float, float] | None:
    if clip is None:
        return None
    try:
        lo, hi = (_float(v) for v in clip)
    except (TypeError, ValueError) as e:
        raise ValueError(f"clip must be a pair (lo, hi) of numbers or None, got {clip!r}") from e
    if not (lo < hi) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"clip must satisfy lo < hi with finite bounds, got {clip!r}")
    return lo, hi


def _float(value: Any) -> float:
    """``float(value)``, with integers beyond the float range as +-inf (not OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_int(value: Any, name: str, minimum: int, maximum: int = 2**63 - 1) -> int:
    # torch takes 64-bit counts and seeds
    return _arrays.int_scalar(value, name, minimum=minimum, maximum=maximum)


def check_float(value: Any, name: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = _float(value)
    if not math.isfinite(v) or v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {op} {minimum}, got {value}")
    return v


def check_budget(eps: Any, name: str) -> float | torch.Tensor:
    """A non-negative scalar, or a per-sample tensor (checked against the batch later)."""
    if isinstance(eps, torch.Tensor):
        if eps.is_complex() or eps.dtype == torch.bool:
            raise TypeError(f"{name} must be real numbers, got dtype {eps.dtype}")
        if eps.dim() > 1:
            raise ValueError(
                f"{name} must be a scalar or a per-sample vector, got {tuple(eps.shape)}"
            )
        _arrays.refuse_meta(eps, name)
        e = eps.detach()
        if not bool(torch.isfinite(e).all()) or bool((e < 0).any()):
            raise ValueError(f"{name} must be finite and non-negative, got {e.min().item()}")
        return e
    return check_float(eps, name)


def per_sample(value: float | torch.Tensor, n: int, like: torch.Tensor, name: str) -> torch.Tensor:
    """``value`` as a contiguous ``(n,)`` tensor of ``like``'s dtype and device."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.dim() == 1 and t.shape[0] not in (1, n):
        raise ValueError(f"{name} has {t.shape[0]} entries but the batch has {n} samples")
    return t.reshape(-1).expand(n).contiguous()


def check_inputs(
    x: Any, y: Any, clip: tuple[float, float] | None, target: Any = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"x must have a non-empty batch axis, got shape {tuple(x.shape)}")
    _arrays.refuse_meta(x, "x")
    labels = []
    for name, v in (("y", y), ("target", target)):
        if v is None:
            labels.append(None)
            continue
        if not isinstance(v, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of class indices, got {type(v).__name__}"
            )
        if v.is_floating_point() or v.is_complex() or v.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer class indices, got dtype {v.dtype}")
        _arrays.refuse_meta(v, name)
        if v.shape != (x.shape[0],):
            raise ValueError(
                f"{name} must have shape ({x.shape[0]},) to match x's batch, got {tuple(v.shape)}"
            )
        if bool((v < 0).any()):
            raise ValueError(f"{name} must be >= 0, got {int(v.min())}")
        labels.append(v.to(device=x.device, dtype=torch.int64))
    x = x.detach()
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite, found NaN or inf")
    if clip is not None:
        lo, hi = clip
        big = torch.finfo(x.dtype).max
        if not hi - lo <= big:  # the box (and its width, which CW divides by) must fit x's dtype
            raise ValueError(
                f"clip=({lo}, {hi}) is wider than x's dtype {x.dtype} can hold (max {big:g}); "
                "narrow the box or pass clip=None"
            )
        xmin, xmax = float(x.min()), float(x.max())
        if xmin < lo or xmax > hi:
            raise ValueError(
                f"x must lie in the box clip=({lo}, {hi}), got values in [{xmin}, {xmax}]; "
                "pass clip=None for unbounded inputs or normalise inside the model"
            )
    return x, labels[0], labels[1]


def check_labels(y: torch.Tensor, n_classes: int, name: str = "y") -> None:
    if int(y.max()) >= n_classes:
        raise ValueError(
            f"{name} must be < {n_classes} (the model's logit count), got {int(y.max())}"
        )


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode while attacking; every submodule's own mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.enable_grad():
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return _checked_logits(model(x), x.shape[0])


def _checked_logits(out: Any, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != n:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model must return logits of shape (n, n_classes), got {shape}")
    if not out.is_floating_point():
        raise TypeError(f"model must return floating-point logits, got dtype {out.dtype}")
    return out


def probe_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The logits of ``x[:1]`` (no grad), checked as :func:`logits_of` does. An error raised inside
    the user's model keeps its type and traceback, with a note saying which call raised it."""
    x1 = x[:1]
    try:
        with torch.no_grad():
            out = model(x1)
    except Exception as e:
        if hasattr(e, "add_note"):  # Python >= 3.11
            e.add_note(
                f"(infotheory: raised by the model on x[:1], shape {tuple(x1.shape)}, dtype "
                f"{x1.dtype}, device {x1.device}: the attack's first call, which checks the model)"
            )
        raise
    return _checked_logits(out, 1)


def mean_logits(model: nn.Module, x: torch.Tensor, eot: int) -> torch.Tensor:
    """Logits averaged over ``eot`` forward passes (differentiable): the expectation a stochastic
    model's decision follows, for the attacks that work on logits (DeepFool, CW)."""
    z = logits_of(model, x)
    for _ in range(eot - 1):
        z = z + logits_of(model, x)
    return z / eot if eot > 1 else z


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample ``max_{j != y} z_j - z_y``: positive exactly when the prediction is not ``y``."""
    zy = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return other - zy


def attack_loss(
    logits: torch.Tensor, y: torch.Tensor, loss: str, target: torch.Tensor | None
) -> torch.Tensor:
    """Summed per-sample loss the attack ascends (sum: each sample's gradient is its own)."""
    if target is None:
        if loss == "ce":
            return nn.functional.cross_entropy(logits, y, reduction="sum")
        return margin(logits, y).sum()
    if loss == "ce":
        return -nn.functional.cross_entropy(logits, target, reduction="sum")
    return -margin(logits, target).sum()


def loss_grad(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    eot: int,
    target: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the loss averaged over ``eot`` forward passes, w.r.t. the input only (model
    parameters' ``.grad`` stay untouched), and the mean softmax of those passes (for success)."""

    def one() -> tuple[torch.Tensor, torch.Tensor]:
        xr = x.detach().requires_grad_(True)
        logits = logits_of(model, xr)
        (g,) = torch.autograd.grad(attack_loss(logits, y, loss, target), xr)
        return g, logits.detach() if eot == 1 else logits.detach().softmax(1)

    grad, probs = one()
    for _ in range(eot - 1):
        g, p = one()
        # out of place: autograd may hand back a broadcast view (the gradient of x.sum(), say),
        # which an in-place add refuses
        grad = grad + g
        probs.add_(p)
    if eot > 1:
        grad.div_(eot)
    return grad, probs


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, eot: int = 1) -> torch.Tensor:
    """Labels from the logits (``eot`` > 1: from the mean softmax of ``eot`` passes). NaN logits
    raise ValueError (argmax would pick the NaN: an arbitrary label, silently)."""
    if eot == 1:
        z = logits_of(model, x)
    else:
        z = sum(logits_of(model, x).softmax(1) for _ in range(eot))  # type: ignore[assignment]
    bad = torch.isnan(z).any(1)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        if bool(torch.isnan(x[i]).any()):  # the usual cause inside an attack: say so
            raise ValueError(
                f"input {i} of the batch holds NaN: an attack's iterate becomes NaN where the "
                "model's loss gradient is not finite (NaN or inf; e.g. sqrt or log at 0)"
            )
        raise ValueError(f"model returned NaN logits for input {i} of the batch")
    return z.argmax(1)


def is_success(pred: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    return pred != y if target is None else pred == target


def perturbation_norms(x_adv: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = (x_adv - x).flatten(1)
    return d.norm(dim=1), d.abs().amax(dim=1) if d.shape[1] else d.new_zeros(d.shape[0])


def generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
