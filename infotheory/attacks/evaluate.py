"""Robust accuracy of a model under a set of attacks, as a ``RobustnessReport``."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ._attack import Attack
from ._base import check_inputs, check_int, eval_mode, predict


@dataclass(frozen=True)
class AttackStats:
    """One attack's line of a ``RobustnessReport``.

    ``accuracy``: robust accuracy over all ``n`` samples; ``attacked``: samples the attack ran on
    (fewer than ``n`` with ``early_stop``); ``success``: samples it fooled; ``median_l2`` /
    ``median_linf``: median perturbation norms of those fooled samples (NaN when none);
    ``seconds``: wall time spent in the attack.
    """

    accuracy: float
    attacked: int
    success: int
    median_l2: float
    median_linf: float
    seconds: float


class RobustnessReport(dict):  # type: ignore[type-arg]
    """Result of ``evaluate``: a ``dict`` ``{"clean": accuracy, name: robust accuracy, ...}``
    (so ``report["pgd"]``, ``dict(report)`` and ``json.dumps(report)`` work), with details.

    Attributes
    ----------
    n : int
        Samples evaluated.
    clean : float
        Clean accuracy.
    stats : dict name -> AttackStats
        Per-attack robust accuracy, success count, median norms of the successful samples, time.
    early_stop : bool
        With ``early_stop`` a sample fooled by an earlier attack (or misclassified clean) is not
        attacked again, so an attack's accuracy means "robust to it and to all previous ones".
    seconds : float
        Total wall time.
    """

    def __init__(
        self,
        n: int,
        clean: float,
        stats: dict[str, AttackStats],
        early_stop: bool,
        seconds: float,
    ) -> None:
        super().__init__({"clean": clean, **{k: s.accuracy for k, s in stats.items()}})
        self.n = n
        self.clean = clean
        self.stats = stats
        self.early_stop = early_stop
        self.seconds = seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``n``, ``clean``, ``early_stop``, ``seconds`` and per-attack statistics."""
        return {
            "n": self.n,
            "clean": self.clean,
            "early_stop": self.early_stop,
            "seconds": self.seconds,
            "attacks": {k: asdict(s) for k, s in self.stats.items()},
        }

    def table(self) -> str:
        """Aligned text table, one row per attack after the clean row."""
        head = ["attack", "accuracy", "success", "attacked", "median L2", "median Linf", "seconds"]
        rows = [["clean", f"{self.clean:.4f}", "", str(self.n), "", "", ""]]
        for k, s in self.stats.items():
            rows.append(
                [
                    k,
                    f"{s.accuracy:.4f}",
                    str(s.success),
                    str(s.attacked),
                    f"{s.median_l2:.4g}",
                    f"{s.median_linf:.4g}",
                    f"{s.seconds:.2f}",
                ]
            )
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

        def line(r: list[str]) -> str:
            cells = [r[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
            ]
            return "  ".join(cells).rstrip()

        out = [line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
        if self.early_stop:
            out.append("early_stop: each accuracy is robustness to that attack and all above it")
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"RobustnessReport({dict.__repr__(self)}, n={self.n}, early_stop={self.early_stop})"


def _batches(data: Any, y: Any, batch_size: int) -> tuple[Iterator[tuple[Any, Any]], int | None]:
    """Batches ``(x, y)`` and the sample count when known in advance."""
    if isinstance(data, torch.Tensor):
        if y is None:
            raise TypeError("evaluate(model, x, y, attacks): y (labels) is missing")
        x, yy, _ = check_inputs(data, y, None)
        n = x.shape[0]
        return ((x[s : s + batch_size], yy[s : s + batch_size]) for s in range(0, n, batch_size)), n
    if y is not None:
        raise TypeError(
            "evaluate: pass either (model, x, y, attacks) with tensors or (model, data, attacks) "
            f"with data = (x, y) or an iterable of batches; got data of type {type(data).__name__} "
            "and a separate y"
        )
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return _batches(data[0], data[1], batch_size)
    if not isinstance(data, Iterable) or isinstance(data, (str, bytes, Mapping)):
        raise TypeError(
            "data must be a pair (x, y) of tensors or an iterable of (x, y) batches, "
            f"got {type(data).__name__}"
        )
    n = None
    dataset = getattr(data, "dataset", None)
    if dataset is not None and hasattr(dataset, "__len__"):
        n = len(dataset)

    def gen() -> Iterator[tuple[Any, Any]]:
        for i, b in enumerate(data):
            if not isinstance(b, (tuple, list)) or len(b) < 2:
                raise TypeError(
                    f"data batch {i} must be a pair (x, y) of tensors, got {type(b).__name__}"
                )
            xb, yb, _ = check_inputs(b[0], b[1], None)
            yield xb, yb

    return gen(), n


def evaluate(
    model: nn.Module,
    data: Any,
    *args: Any,
    batch_size: int = 256,
    progress: bool = True,
    early_stop: bool = False,
) -> RobustnessReport:
    """Clean and robust accuracy of ``model`` under each attack.

    Called as ``evaluate(model, data, attacks)`` with ``data`` a pair ``(x, y)`` or an iterable of
    ``(x, y)`` batches (e.g. a ``DataLoader``, whose batches are used as they come), or as
    ``evaluate(model, x, y, attacks)``.

    Parameters
    ----------
    model : nn.Module
        Returns logits; its train/eval mode is restored afterwards.
    data : (x, y), iterable of (x, y), or Tensor x (then y follows)
    attacks : mapping name -> Attack
        Run in order on every batch. Unbound attacks, or attacks bound to ``model``.
    batch_size : int
        Samples attacked at once (tensor input only).
    progress : bool
        Show a tqdm progress bar on stderr.
    early_stop : bool
        Skip samples already misclassified clean or fooled by an earlier attack of the mapping;
        each attack's accuracy then means "robust to it and to every attack before it" (the
        report's ``early_stop`` says so). Faster; the last accuracy equals the accuracy under
        the worst case over all attacks.

    Returns
    -------
    RobustnessReport
        A ``dict`` ``{"clean": accuracy, name: robust accuracy, ...}`` (fractions in [0, 1]) with
        per-attack success counts, median L2 / L-inf norms of the successful samples, seconds,
        ``table()`` and ``to_dict()``. Without ``early_stop`` robust accuracy is the fraction of
        samples the model still labels correctly at the attack's output (``1 - success rate``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if len(args) == 1:
        y, attacks = None, args[0]
    elif len(args) == 2:
        y, attacks = args
    elif len(args) == 3 and isinstance(data, torch.Tensor):  # legacy positional batch_size
        y, attacks, batch_size = args
    else:
        raise TypeError(
            "evaluate takes (model, data, attacks) or (model, x, y, attacks), "
            f"got {2 + len(args)} positional arguments"
        )
    if not isinstance(attacks, Mapping):
        raise TypeError(f"attacks must be a mapping name -> Attack, got {type(attacks).__name__}")
    check_int(batch_size, "batch_size", 1)
    for name, atk in attacks.items():
        if not isinstance(atk, Attack):
            raise TypeError(f"attacks[{name!r}] must be an Attack, got {type(atk).__name__}")
        if name == "clean":
            raise ValueError("attacks must not use the name 'clean' (it holds the clean accuracy)")
        if atk.model is not None and atk.model is not model:
            raise TypeError(f"attacks[{name!r}] is bound to a different model than model")
    batches, total = _batches(data, y, batch_size)

    from tqdm.auto import tqdm

    bar = tqdm(total=total, disable=not progress, unit="sample", desc="evaluate", file=sys.stderr)
    t_all = time.perf_counter()
    n = 0
    clean = 0
    robust = dict.fromkeys(attacks, 0)
    attacked = dict.fromkeys(attacks, 0)
    success = dict.fromkeys(attacks, 0)
    seconds = dict.fromkeys(attacks, 0.0)
    l2s: dict[str, list[torch.Tensor]] = {k: [] for k in attacks}
    linfs: dict[str, list[torch.Tensor]] = {k: [] for k in attacks}
    try:
        for xb, yb in batches:
            nb = xb.shape[0]
            with eval_mode(model):
                ok = predict(model, xb) == yb
            clean += int(ok.sum())
            alive = ok.clone() if early_stop else torch.ones_like(ok)
            for name, atk in attacks.items():
                idx = alive.nonzero()[:, 0]
                if idx.numel() == 0:
                    continue
                t0 = time.perf_counter()
                res = atk._attack(model, xb[idx], yb[idx])
                seconds[name] += time.perf_counter() - t0
                ok_adv = ~res.success
                attacked[name] += int(idx.numel())
                success[name] += int(res.success.sum())
                robust[name] += int(ok_adv.sum())
                l2s[name].append(res.l2[res.success].detach().double().cpu())
                linfs[name].append(res.linf[res.success].detach().double().cpu())
                if early_stop:
                    alive[idx[res.success]] = False
                bar.set_postfix_str(name, refresh=False)
            n += nb
            bar.update(nb)
    finally:
        bar.close()
    if n == 0:
        raise ValueError("data holds no samples")

    def median(parts: list[torch.Tensor]) -> float:
        v = torch.cat(parts) if parts else torch.empty(0, dtype=torch.float64)
        return float(v.median()) if v.numel() else math.nan

    stats = {
        k: AttackStats(
            accuracy=robust[k] / n,
            attacked=attacked[k],
            success=success[k],
            median_l2=median(l2s[k]),
            median_linf=median(linfs[k]),
            seconds=seconds[k],
        )
        for k in attacks
    }
    return RobustnessReport(n, clean / n, stats, bool(early_stop), time.perf_counter() - t_all)
