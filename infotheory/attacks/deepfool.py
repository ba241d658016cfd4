"""DeepFool (Moosavi-Dezfooli et al. 2016), multi-class, L2, batched over the samples."""

from __future__ import annotations

import torch
from torch import nn

from ._attack import Attack
from ._base import check_float, check_int, mean_logits
from ._fused import deepfool_step_


class DeepFool(Attack):
    """Iterated linearisation of the decision boundary: at each step every still-unfooled sample
    moves to the nearest boundary of its linearised classifier,
    ``r = (|f_l| / ||w_l|| + 1e-4) w_l / ||w_l||`` with ``l = argmin_k |f_k| / ||w_k||`` over the candidate
    classes (``f_k = z_k - z_y``, ``w_k = grad f_k``). The iterate is ``x + (1 + overshoot) * r_total``,
    clipped to the box. All samples of the batch are linearised together; samples drop out as soon
    as they are fooled.

    Parameters
    ----------
    steps : int
        Maximum linearisations per sample (the paper's "m").
    overshoot : float
        Relative overshoot that pushes the iterate across the boundary.
    candidates : int
        Number of classes considered (the true one and the ``candidates - 1`` with the highest
        logits at ``x``); capped at the number of classes.
    clip : (lo, hi) or None
    eot : int
        Forward passes whose logits are averaged (stochastic models); alias ``eot_samples``.
    """

    name = "deepfool"
    norm = "2"
    targeted_ok = False

    def __init__(
        self,
        steps: int = 50,
        overshoot: float = 0.02,
        candidates: int = 10,
        clip: tuple[float, float] | None = (0.0, 1.0),
        eot: int = 1,
    ) -> None:
        super().__init__(clip)
        self.eot = check_int(eot, "eot", 1)
        self.steps = check_int(steps, "steps", 1)
        self.overshoot = check_float(overshoot, "overshoot")
        self.candidates = check_int(candidates, "candidates", 2)

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        x = x.contiguous()
        x_adv = x.clone()
        r_tot = torch.zeros_like(x)
        iters = torch.zeros(n, dtype=torch.int64, device=x.device)
        with torch.no_grad():
            z0 = mean_logits(model, x, self.eot)
        k = min(self.candidates, z0.shape[1])
        # Candidate classes: the true class first, then the top others at x (fixed, as the paper).
        others = z0.scatter(1, y[:, None], float("-inf")).topk(k - 1, dim=1).indices
        cls = torch.cat([y[:, None], others], dim=1)
        active = torch.arange(n, device=x.device)
        for it in range(self.steps + 1):
            if active.numel() == 0:
                break
            xi = x_adv[active].detach().requires_grad_(True)
            z = mean_logits(model, xi, self.eot)
            yi = y[active]
            still = z.detach().argmax(1) == yi
            if it == self.steps or not bool(still.any()):
                iters[active[~still]] = it
                break
            iters[active[~still]] = it
            sel = still.nonzero()[:, 0]
            zc = z[sel].gather(1, cls[active[sel]])  # (m, k): z_y, then the candidates
            active = active[sel]
            grads = [
                torch.autograd.grad(zc[:, j].sum(), xi, retain_graph=j < k - 1)[0] for j in range(k)
            ]
            f = zc[:, 1:] - zc[:, :1]  # (m, k-1)
            deepfool_step_(grads, f, sel, active, r_tot, x, x_adv, self.overshoot, self.clip)
            iters[active] = it + 1
        return x_adv, iters
