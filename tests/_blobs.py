"""A small MLP trained to 100% on separable Gaussian blobs in [0, 1]^d: the attack tests' target."""

from __future__ import annotations

import torch
from torch import nn


def trained_blobs(
    n: int, d: int, k: int, noise: float, width: int, steps: int
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    centers = torch.rand(k, d, generator=g) * 0.6 + 0.2
    y = torch.randint(0, k, (n,), generator=g)
    x = (centers[y] + noise * torch.randn(n, d, generator=g)).clamp(0, 1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, k))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for p in model.parameters():
        p.grad = None
    assert bool((model(x).argmax(1) == y).all())
    return model, x, y
