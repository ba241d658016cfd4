"""Gradient-masking probe (after Athalye, Carlini and Wagner 2018): is a model's robustness real, or
does its gradient hide the adversarial direction from the attack?"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._pipeline import Settings, accuracy, is_stochastic, run_attack


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
    big = PGD(eps=1.0, alpha=2.5 / s.steps, steps=s.steps, loss="margin", eot=eot, seed=seed)
    large_eps = accuracy(model, run_attack(big, model, x, y), y)
    rows.append({"attack": "PGD 1.0 (sanity)", "loss": "margin", "eot": eot, "acc": large_eps})
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 2, x.shape, generator=g).to(x.device, x.dtype) * 2.0 - 1.0
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
