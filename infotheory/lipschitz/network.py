"""Lipschitz bounds of whole networks: the product of per-layer bounds (upper) and the largest local
Jacobian norm over given inputs (lower), so users get a bracket ``[lower, upper]`` (math.md §B4.2).

Torch is imported inside the functions: these take ``nn.Module`` objects.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from .._arrays import int_scalar, refuse_meta
from .._result import ResultMixin
from ._dense import spectral_norm
from .conv import conv_operator_norm, linear_operator_norm
from .encoder import _int_arg, _real_arg

# sup |f'| of elementwise activations (l2-Lipschitz constants of the maps they define); measured on
# a 1e-5 grid and rounded up in the last digit. GELU's covers both of torch's forms: the exact
# (erf) one, sup 1.1289041, and approximate="tanh", sup 1.1289931 (a constant that only rounds
# up the exact form's, 1.12891, is below the tanh form's sup).
_ACTIVATION_CONSTANTS = {
    "ReLU": 1.0,
    "ReLU6": 1.0,
    "Tanh": 1.0,
    "Softsign": 1.0,
    "Hardtanh": 1.0,
    "Softplus": 1.0,
    "CELU": 1.0,
    "Sigmoid": 0.25,
    "Hardsigmoid": 1.0 / 6.0,
    "GELU": 1.12900,
    "SiLU": 1.09984,
    "Mish": 1.08850,
    "Hardswish": 1.5,
    "SELU": 1.75810,
    "Softmax": 1.0,
    "Identity": 1.0,
    "Flatten": 1.0,
    "Unflatten": 1.0,
    "Dropout": 1.0,  # an identity in eval mode, where the bound applies
    "Dropout1d": 1.0,
    "Dropout2d": 1.0,
    "AlphaDropout": 1.0,
}
_KNOWN = (
    "Linear, Conv1d/2d/3d, AvgPool*, AdaptiveAvgPool*, MaxPool1d/2d, BatchNorm1d/2d/3d (eval), "
    "LeakyReLU, ELU, " + ", ".join(sorted(_ACTIVATION_CONSTANTS)) + ", nested nn.Sequential"
)


@dataclass(frozen=True)
class LayerBound(ResultMixin):
    """One layer's Lipschitz bound in l2.

    Attributes
    ----------
    name : str
        Path of the layer in the model (``"encoder.3"``).
    layer : str
        The module's class name.
    value : float
        Upper bound on the layer's Lipschitz constant.
    kind : str
        "exact" (closed form), "estimate" (upper end of a converged iterative bracket),
        "upper_bound" (certified: FFT torus, pooling coverage, a Linear layer's Cholesky-certified
        spectral norm, see ``spectral_norm(certify=...)``).
    input_shape, output_shape : tuple or None
        Per-sample shapes when ``input_shape`` was given.
    """

    name: str
    layer: str
    value: float
    kind: str
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class NetworkBound(ResultMixin):
    """Upper bound on a network's l2 Lipschitz constant.

    Attributes
    ----------
    value : float
        Product of the per-layer bounds, rounded up so that it stays a bound (never 0 unless a
        layer's bound is 0; inf where it overflows float64). For models with an ``encoder``: the
        encoder's bound, the paper's proxy for the stochastic encoder's constant.
    per_layer : list of LayerBound
    heads : dict
        For VIB-style models (an ``encoder`` whose last Linear layer outputs ``2 K`` numbers, mean
        then pre-softplus std): ``"mean"`` and ``"std"`` bounds (softplus is 1-Lipschitz) and
        ``"encoder"``; with a Linear ``decoder`` on a deterministic encoder, ``"logits"``.
    input_shape, output_shape : tuple or None
    """

    value: float
    per_layer: list[LayerBound]
    heads: dict[str, float] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None

    def __float__(self) -> float:
        return float(self.value)


def _flatten(module: Any, prefix: str) -> list[tuple[str, Any]]:
    from torch import nn

    if isinstance(module, nn.Sequential):
        out: list[tuple[str, Any]] = []
        for name, child in module.named_children():
            out += _flatten(child, f"{prefix}.{name}" if prefix else name)
        return out
    return [(prefix or type(module).__name__, module)]


def _coverage(kernel: Any, stride: Any, dilation: Any, dims: int) -> int:
    def tup(x: Any) -> tuple[int, ...]:
        return tuple(x) if isinstance(x, (tuple, list)) else (int(x),) * dims

    k, s, d = tup(kernel), tup(stride if stride is not None else kernel), tup(dilation)
    return math.prod(
        min(ki, math.ceil((di * (ki - 1) + 1) / si)) for ki, si, di in zip(k, s, d, strict=True)
    )


def _same_size(mod: Any, in_shape: tuple[int, ...]) -> bool:
    k = mod.kernel_size
    return tuple(mod.stride) == (1, 1) and all(
        2 * p == d * (kk - 1) for p, d, kk in zip(mod.padding, mod.dilation, k, strict=True)
    )


def _layer_bound(
    name: str, mod: Any, in_shape: tuple[int, ...] | None, conv_method: str, tol: float
) -> tuple[float, str]:
    import torch
    from torch import nn

    kind = type(mod).__name__
    if kind in _ACTIVATION_CONSTANTS:
        return _ACTIVATION_CONSTANTS[kind], "exact"
    if isinstance(mod, nn.LeakyReLU):
        return max(1.0, abs(float(mod.negative_slope))), "exact"
    if isinstance(mod, nn.ELU):
        return max(1.0, float(mod.alpha)), "exact"
    if isinstance(mod, nn.Linear):
        r = spectral_norm(mod.weight.detach().double(), tol=tol)
        return float(r.upper), "upper_bound" if bool(r.certified) else "estimate"
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        if mod.running_var is None:
            raise ValueError(
                f"layer {name} (BatchNorm without running statistics) has no fixed map"
            )
        scale = 1.0 / torch.sqrt(mod.running_var.detach().double() + mod.eps)
        if mod.weight is not None:
            scale = scale * mod.weight.detach().double().abs()
        return float(scale.abs().max()), "exact"
    if isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d)):
        dims = 1 if isinstance(mod, nn.MaxPool1d) else 2
        return math.sqrt(_coverage(mod.kernel_size, mod.stride, mod.dilation, dims)), "upper_bound"
    needs_shape = isinstance(
        mod,
        (
            nn.Conv1d,
            nn.Conv2d,
            nn.Conv3d,
            nn.AvgPool1d,
            nn.AvgPool2d,
            nn.AvgPool3d,
            nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d,
            nn.AdaptiveAvgPool3d,
        ),
    )
    if not needs_shape:
        raise TypeError(
            f"no Lipschitz bound is known for layer {name} ({kind}); supported: {_KNOWN}. Bound "
            "it yourself and multiply, or wrap it in a supported form"
        )
    if in_shape is None:
        raise ValueError(f"layer {name} ({kind}) needs input_shape to be bounded")
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        weight = mod.weight.detach().double().cpu()
        if (
            isinstance(mod, nn.Conv2d)
            and mod.groups == 1
            and not isinstance(mod.padding, str)
            and mod.padding_mode in ("zeros", "circular")
        ):
            fft_ok = conv_method not in ("fft", "gram") or mod.padding_mode == "zeros"
            r = conv_operator_norm(
                weight,
                in_shape,
                stride=mod.stride,
                padding=mod.padding,
                dilation=mod.dilation,
                padding_mode=mod.padding_mode,
                # FFT methods on circular padding need a same-size stride-1 layer: iterate instead
                method=conv_method if fft_ok or _same_size(mod, in_shape) else "lanczos",
                tol=tol,
            )
            return float(r.upper), "upper_bound" if r.kind == "upper_bound" else "estimate"

        def conv(x: Any) -> Any:
            return mod._conv_forward(x, weight, None)

        method = "power" if conv_method == "power" else "lanczos"
        _, hi, _ = linear_operator_norm(conv, in_shape, method=method, tol=tol)
        return hi, "estimate"
    # average pooling: linear and parameter-free
    _, hi, _ = linear_operator_norm(lambda x: mod(x), in_shape, method="lanczos", tol=tol)
    return hi, "estimate"


def _infer_shape(mod: Any, in_shape: tuple[int, ...] | None, ref: Any) -> tuple[int, ...] | None:
    """Per-sample output shape from a forward pass of zeros (``ref``: a tensor giving dtype and
    device)."""
    import torch

    if in_shape is None:
        return None
    with torch.no_grad():
        y = mod(torch.zeros((1, *in_shape), dtype=ref.dtype, device=ref.device))
    return tuple(y.shape[1:])


def lipschitz_upper_bound(
    model: Any,
    input_shape: tuple[int, ...] | None = None,
    *,
    conv_method: str = "lanczos",
    tol: float = 1e-6,
) -> NetworkBound:
    """Product of per-layer l2 Lipschitz bounds for ``nn.Sequential``-style networks.

    Parameters
    ----------
    model : nn.Module
        An ``nn.Sequential`` (nested ones are flattened), or a model with an ``encoder``
        ``nn.Sequential`` (VIB and cross-entropy models: see :class:`NetworkBound.heads`).
        Unknown layers raise ``TypeError`` naming them.
    input_shape : tuple, optional
        Per-sample input shape, e.g. ``(1, 28, 28)``; needed by convolution and average pooling.
    conv_method : {"lanczos", "power", "fft", "gram"}
        For ``Conv2d``: ``lanczos``/``power`` bound the layer's true operator norm (the upper end
        of a converged bracket); ``fft``/``gram`` give certified upper bounds (zero padding) or the
        exact value (circular padding) from the FFT blocks.
    tol : float
        Relative bracket width of the per-layer spectral norms.

    Returns
    -------
    NetworkBound
        ``value`` (the product, rounded up), ``per_layer`` and ``heads``.
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    ref = next(iter(model.parameters()), torch.zeros(()))
    if conv_method not in ("lanczos", "power", "fft", "gram"):
        raise ValueError(
            f"conv_method must be 'lanczos', 'power', 'fft' or 'gram', got {conv_method!r}"
        )
    shape = None
    if input_shape is not None:  # int() truncated 4.7 to 4; an int raised "not iterable"
        if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
            raise TypeError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
        shape = tuple(int_scalar(s, "input_shape entries") for s in input_shape)
    if shape is not None and (not shape or min(shape) < 1):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    encoder = model
    prefix = ""
    if not isinstance(model, nn.Sequential):
        enc = getattr(model, "encoder", None)
        if not isinstance(enc, nn.Sequential):
            raise TypeError(
                f"model must be an nn.Sequential or have an nn.Sequential `encoder`, got "
                f"{type(model).__name__}"
            )
        encoder, prefix = enc, "encoder"
    layers = _flatten(encoder, prefix)
    was_training = model.training
    model.eval()
    per_layer: list[LayerBound] = []
    try:
        cur = shape
        for name, mod in layers:
            value, kind = _layer_bound(name, mod, cur, conv_method, tol)
            try:
                nxt = _infer_shape(mod, cur, ref)
            except RuntimeError as e:
                raise ValueError(f"layer {name} does not accept input_shape {cur}: {e}") from e
            per_layer.append(LayerBound(name, type(mod).__name__, float(value), kind, cur, nxt))
            cur = nxt
    finally:
        model.train(was_training)
    total = _product_up([lb.value for lb in per_layer])
    heads: dict[str, float] = {}
    if prefix:
        heads["encoder"] = total
        last = layers[-1][1] if layers else None
        K = getattr(model, "K", None)
        if isinstance(last, nn.Linear) and isinstance(K, int) and last.out_features == 2 * K:
            before = [lb.value for lb in per_layer[:-1]]
            W = last.weight.detach().double()
            heads["mean"] = _product_up([*before, float(spectral_norm(W[:K], tol=tol).upper)])
            heads["std"] = _product_up([*before, float(spectral_norm(W[K:], tol=tol).upper)])
        dec = getattr(model, "decoder", None)
        if isinstance(dec, nn.Linear) and isinstance(last, nn.Linear):
            if dec.in_features == last.out_features:
                top = float(spectral_norm(dec.weight.detach().double(), tol=tol).upper)
                heads["logits"] = _product_up([total, top])
    out_shape = per_layer[-1].output_shape if per_layer else shape
    return NetworkBound(total, per_layer, heads, shape, out_shape)


def _product_up(values: list[float]) -> float:
    """The product of non-negative bounds, rounded up at each multiplication, so that it stays an
    upper bound: one ulp covers round-to-nearest's error, and a product that underflows becomes
    the smallest positive float instead of 0 (which would claim a constant function); inf where
    it overflows."""
    p = 1.0
    for v in values:
        if v == 0.0:
            return 0.0
        p = math.nextafter(p * v, math.inf)
    return p


network_bound = lipschitz_upper_bound


@dataclass(frozen=True)
class LowerBound(ResultMixin):
    """Empirical lower bound on a network's l2 Lipschitz constant.

    Attributes
    ----------
    value : float
        ``max_i ||J(x_i)||_2`` estimated from below (each entry is ``||J v||`` for a unit ``v``).
    per_sample : array, shape ``(N,)``
        Lower bounds on the local Jacobian spectral norm at each input.
    index : int
        The input attaining ``value``.
    steps : int
        Power-iteration steps per input.
    """

    value: float
    per_sample: Any
    index: int
    steps: int

    def __float__(self) -> float:
        return float(self.value)


def lipschitz_lower_bound(
    model: Any,
    x: Any,
    *,
    steps: int = 30,
    search: int = 0,
    radius: float = 0.05,
    seed: int = 0,
    batch_size: int = 256,
) -> LowerBound:
    """Largest local Jacobian spectral norm over the inputs ``x``: a lower bound on the Lipschitz
    constant (for a.e.-differentiable networks such as ReLU nets, ``L >= ||J(x)||_2`` wherever
    the Jacobian exists).

    Power iteration on ``J^T J`` with forward- and reverse-mode products (``torch.func``), per
    sample; the model runs in eval mode and must treat samples independently.

    Parameters
    ----------
    model : nn.Module
        Deterministic map (for a VIB, pass ``model.encoder``).
    x : tensor, shape ``(N, ...)``
    steps : int
        Power-iteration steps per input.
    search : int
        Rounds of a random hill climb that maximises the local norm: each round proposes
        ``x + radius * z / ||z||`` (``z`` Gaussian, per sample) and keeps it where the local norm
        grew. Works for piecewise-linear networks, whose Jacobian norm has no useful gradient.
        ``per_sample`` then holds the best norm found near each input.
    radius : float
        Step length of the search, in input units (l2).
    seed : int
    batch_size : int

    Returns
    -------
    LowerBound
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch tensor (N, ...)")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (N, ...), got shape {tuple(x.shape)}")
    refuse_meta(x, "x")
    # Python or numpy numbers; a wrong type is a TypeError (still a ValueError, as it was)
    steps = _int_arg(steps, "steps", minimum=1)
    batch_size = _int_arg(batch_size, "batch_size", minimum=1)
    search = _int_arg(search, "search", minimum=0)
    seed = _int_arg(seed, "seed", minimum=-(2**63), maximum=2**64 - 1)
    radius = _real_arg(radius, "radius", minimum=0.0, strict=True)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite")
    g = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].detach()
            best = _local_norms(model, xb, steps, g)
            for _ in range(search):
                z = torch.randn(xb.shape, generator=g, dtype=xb.dtype).to(xb.device)
                zn = z.reshape(z.shape[0], -1).norm(dim=1).clamp_min(1e-30)
                cand = xb + radius * z / zn.reshape(-1, *([1] * (z.ndim - 1)))
                val = _local_norms(model, cand, steps, g)
                up = val > best
                best = torch.where(up, val, best)
                xb = torch.where(up.reshape(-1, *([1] * (xb.ndim - 1))), cand, xb)
            out.append(best)
    finally:
        model.train(was_training)
    per = torch.cat(out)
    if not bool(torch.isfinite(per).all()):
        bad = int((~torch.isfinite(per)).nonzero()[0, 0])
        raise ValueError(
            f"the local Jacobian norm at x[{bad}] is {float(per[bad])}: the model's output or "
            "its derivative is not finite there"
        )
    i = int(per.argmax())
    return LowerBound(float(per[i]), per, i, steps)


def _local_norms(model: Any, x: Any, steps: int, g: Any) -> Any:
    import torch
    from torch.func import jvp, vjp

    def per_sample_norm(t: Any) -> Any:
        return t.reshape(t.shape[0], -1).norm(dim=1)

    def unit(t: Any) -> Any:
        n = per_sample_norm(t).clamp_min(1e-30)
        return t / n.reshape(-1, *([1] * (t.ndim - 1)))

    v = unit(torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device))
    _, pullback = vjp(model, x)
    with warnings.catch_warnings():
        # torch's first forward-mode call loads its jvp decompositions through torch.jit.script,
        # which torch itself deprecates: a warning about torch's internals, not the user's code
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")
        _, jv = jvp(model, (x,), (v,))
    for _ in range(steps):
        (w,) = pullback(jv)
        v = unit(w)
        _, jv = jvp(model, (x,), (v,))
    return per_sample_norm(jv).detach()
