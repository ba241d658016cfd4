"""One projected gradient step, in place: ``x <- clip(proj_{B(x0, eps)}(x + alpha * dir(g)), lo, hi)``.

``dir`` is ``sign(g)`` for the L-inf norm and ``g / ||g||_2`` (per sample) for L2. The eager torch
sequence below is the reference and the fallback for inputs the kernel cannot take.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _arrays, _core


def torch_step_(
    x: torch.Tensor,
    grad: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    alpha: torch.Tensor,
    norm: str,
    clip: tuple[float, float] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager torch version of the step (several passes over memory); returns (l2, linf) norms of
    ``x - x0`` after the step."""
    n = x.shape[0]
    view = (n,) + (1,) * (x.dim() - 1)
    if norm == "inf":
        x.add_(grad.sign() * alpha.view(view))
        delta = torch.maximum(torch.minimum(x - x0, eps.view(view)), -eps.view(view))
    else:
        gn = grad.reshape(n, -1).norm(dim=1)
        scale = torch.where(gn > 0, alpha / gn, torch.zeros_like(gn))
        x.add_(grad * scale.view(view))
        delta = x - x0
        dn = delta.reshape(n, -1).norm(dim=1)
        factor = torch.where(dn > eps, eps / dn, torch.ones_like(dn))
        delta = delta * factor.view(view)
    torch.add(x0, delta, out=x)
    if clip is not None:
        x.clamp_(clip[0], clip[1])
    d = (x - x0).reshape(n, -1)
    return d.norm(dim=1), d.abs().amax(dim=1)


def random_start_(
    x: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    clip: tuple[float, float] | None,
    gen: torch.Generator | None,
) -> None:
    """``x <- clip(x0 + u)`` with ``u`` uniform in the eps-ball: a uniform cube for L-inf; for L2 a
    Gaussian direction with radius ``eps * U^(1/d)`` (uniform in volume, not on the sphere)."""
    n = x.shape[0]
    d = x[0].numel()
    view = (n,) + (1,) * (x.dim() - 1)
    if norm == "inf":
        u = torch.rand(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        u.mul_(2).sub_(1).mul_(eps.view(view))
    else:
        u = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        un = u.reshape(n, -1).norm(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
        r = torch.rand(n, generator=gen, dtype=x.dtype, device=x.device).pow(1.0 / d)
        u.mul_((eps * r / un).view(view))
    torch.add(x0, u, out=x)
    if clip is not None:
        x.clamp_(clip[0], clip[1])


def default_alpha(eps: float | torch.Tensor, steps: int) -> float | torch.Tensor:
    """Madry et al.'s rule of thumb: 2.5 * eps / steps, enough to cross the ball and come back."""
    return eps * (2.5 / max(steps, 1))


def attack_step(
    x: Any,
    grad: Any,
    x0: Any,
    eps: Any,
    alpha: Any,
    norm: str = "inf",
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> tuple[Any, Any]:
    """One fused projected-gradient step, in place on ``x``:
    ``x <- clip(proj_{B(x0, eps)}(x + alpha * dir(grad)), lo, hi)``.

    ``dir`` is ``sign(grad)`` for ``norm="inf"`` and ``grad / ||grad||_2`` per sample for
    ``norm="2"`` (no step where the gradient is zero). The projection is onto the eps-ball around
    ``x0`` in that norm, then the box clips; for ``x0`` in the box the result stays in the ball.

    Parameters
    ----------
    x : array, shape ``(n, ...)``, float32 or float64, C-contiguous, writable
        Current iterate; updated in place (numpy array, torch CPU tensor or CUDA tensor). Never
        copied: a wrong dtype raises TypeError, a non-contiguous array ValueError.
    grad, x0 : arrays like ``x``
        Loss gradient at ``x`` and the clean input (same dtype, shape, contiguity rules).
    eps, alpha : float or array of shape ``(n,)``
        Budget and step size, per sample if arrays.
    norm : "inf" or "2"
    clip : (lo, hi) or None

    Returns
    -------
    (l2, linf) : arrays of shape ``(n,)``
        Norms of ``x - x0`` after the step, in ``x``'s array type and dtype.

    Notes
    -----
    Non-finite input gives what the eager torch step (``torch_step_``) gives, coordinate for
    coordinate: NaN in ``x`` or ``x0`` stays NaN (the clamps do not turn it into a bound), and so
    does NaN or inf in ``grad`` for ``norm="2"`` (its coordinate of ``grad * 0``); ``torch.sign``
    of NaN is 0, so a NaN gradient coordinate makes no L-inf step. Both norms are NaN for a sample
    with a NaN coordinate. For finite input the L-inf step's result equals the eager step's bit
    for bit.
    """
    from ._base import parse_clip, parse_norm

    nm = parse_norm(norm)
    box = parse_clip(clip)
    lo, hi = box if box is not None else (-np.inf, np.inf)
    fast = _fast_cpu_args(x, grad, x0, eps, alpha)
    if fast is not None:  # valid CPU tensors: the kernel's own checks suffice
        l2, linf = np.empty_like(fast[3]), np.empty_like(fast[3])
        _core.attack_step(*fast, float(lo), float(hi), nm, l2, linf)
        # the kernel wrote through a numpy view: tell autograd, as torch's own in-place ops do,
        # so that a graph which saved x raises instead of differentiating the new values
        _increment_version(x)
        return torch.from_numpy(l2), torch.from_numpy(linf)
    xa = _arrays.float_array(x, "x", allow_copy=False, min_ndim=1, allow_empty=True)
    same = (xa.np_dtype,)
    ga = _arrays.float_array(grad, "grad", allow_copy=False, dtypes=same, allow_empty=True)
    ba = _arrays.float_array(x0, "x0", allow_copy=False, dtypes=same, allow_empty=True)
    for a in (ga, ba):
        if a.backend != xa.backend:
            raise ValueError(f"{a.name} is a {a.backend} array but x is a {xa.backend} array")
        if a.shape != xa.shape:
            raise ValueError(f"{a.name} must have x's shape {xa.shape}, got {a.shape}")
    n = xa.shape[0]
    e = xa.like(eps, "eps", (n,))
    al = xa.like(alpha, "alpha", (n,))
    _check_budgets(e, al)
    l2, linf = xa.empty((n,)), xa.empty((n,))
    if xa.backend == "cuda":
        _cuda_step(xa.array, ga.array, ba.array, e, al, float(lo), float(hi), nm, l2, linf)
    else:
        _core.attack_step(xa.array, ga.array, ba.array, e, al, float(lo), float(hi), nm, l2, linf)
    if xa.backend != "numpy":
        _increment_version(x)
    return xa.wrap(l2), xa.wrap(linf)


_increment_version = torch.autograd.graph.increment_version


_NP_DTYPE = {torch.float32: np.float32, torch.float64: np.float64}
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _fast_cpu_args(x: Any, grad: Any, x0: Any, eps: Any, alpha: Any) -> tuple[Any, ...] | None:
    """Zero-copy kernel arguments for the common call (CPU tensors of one float dtype,
    C-contiguous, one shape; budgets non-negative finite numbers or (n,) tensors of that dtype,
    which the kernel checks), else None: the general path then validates, explains what is
    wrong, or serves other inputs."""
    if not (
        isinstance(x, torch.Tensor)
        and isinstance(grad, torch.Tensor)
        and isinstance(x0, torch.Tensor)
        and x.dim() >= 1
        and x.is_cpu
        and x.dtype in _NP_DTYPE
        and x.is_contiguous()
    ):
        return None
    for t in (grad, x0):
        if not (t.is_cpu and t.dtype == x.dtype and t.shape == x.shape and t.is_contiguous()):
            return None
    n, dt = x.shape[0], _NP_DTYPE[x.dtype]
    budgets = []
    for v in (eps, alpha):
        if isinstance(v, float | int) and not isinstance(v, bool):
            if not (0 <= v <= _FLOAT_MAX):  # NaN fails; ints beyond the float range too
                return None
            b = np.full(n, v, dtype=dt)
        elif (
            isinstance(v, torch.Tensor)
            and v.is_cpu
            and v.dtype == x.dtype
            and v.shape == (n,)
            and v.is_contiguous()
        ):
            b = v.detach().numpy()
        else:
            return None
        budgets.append(b)
    try:
        return (x.detach().numpy(), grad.detach().numpy(), x0.detach().numpy(), *budgets)
    except RuntimeError:  # a lazy conj/neg bit: the general path names the argument
        return None


def _cuda_step(
    x: Any,
    grad: Any,
    x0: Any,
    eps: Any,
    alpha: Any,
    lo: float,
    hi: float,
    nm: str,
    l2: Any,
    linf: Any,
) -> None:
    """The CUDA kernel on torch's current stream (its binding checks every argument)."""
    stream = _arrays.cuda_stream(x)
    caps = [_arrays.dlpack(t, stream) for t in (x, grad, x0, eps, alpha, l2, linf)]
    _core.attack_step_cuda(*caps[:5], lo, hi, nm, *caps[5:], stream)


def _check_budgets(eps: Any, alpha: Any) -> None:
    """ValueError unless both are finite and non-negative; on a GPU one device sync, not two."""
    if _arrays.is_tensor(eps):
        ok = ((eps >= 0) & torch.isfinite(eps)).all() & ((alpha >= 0) & torch.isfinite(alpha)).all()
        if bool(ok):
            return
    for name, v in (("eps", eps), ("alpha", alpha)):
        good = (v >= 0) & (torch.isfinite(v) if _arrays.is_tensor(v) else np.isfinite(v))
        if not bool(good.all()):
            raise ValueError(f"{name} must be finite and non-negative")


def kernel_takes(x: torch.Tensor) -> bool:
    """Whether the fused kernel can run on ``x`` (else the eager torch step is used)."""
    if x.dtype not in (torch.float32, torch.float64) or not x.is_contiguous():
        return False
    if x.device.type == "cpu":
        return True
    return x.device.type == "cuda" and bool(_core.WITH_CUDA)


class Stepper:
    """The step of one attack run, set up once: ``stepper(grad)`` updates ``x`` in place.

    The attacks own ``x``, ``x0``, ``eps`` and ``alpha`` for the whole run (contiguous, one dtype,
    one device), so everything about them is checked and turned into kernel arguments here, once.
    Each call then checks only the gradient (dtype, layout, device) and hands the kernel a
    zero-copy view of it; a gradient the kernel cannot take, or a run the kernel cannot serve,
    goes through the eager torch step instead (same results).
    """

    __slots__ = ("_args", "_call", "_dtype", "_eager", "_plan", "x")

    def __init__(
        self,
        x: torch.Tensor,
        x0: torch.Tensor,
        eps: torch.Tensor,
        alpha: torch.Tensor,
        norm: str,
        clip: tuple[float, float] | None,
    ) -> None:
        self.x = x
        self._dtype = x.dtype
        self._eager = (x0, eps, alpha, norm, clip)
        self._call = None
        self._plan = None
        self._args: tuple[Any, ...] = ()
        if not (
            kernel_takes(x)
            and x0.is_contiguous()
            and x0.dtype == x.dtype
            and x0.device == x.device
            and x0.shape == x.shape
        ):
            return
        lo, hi = clip if clip is not None else (-np.inf, np.inf)
        if x.device.type == "cpu":
            dt = np.float32 if x.dtype == torch.float32 else np.float64
            e = np.ascontiguousarray(eps.detach().numpy(), dtype=dt)
            a = np.ascontiguousarray(alpha.detach().numpy(), dtype=dt)
            xn, x0n = x.detach().numpy(), x0.detach().numpy()
            self._plan = _core.AttackStepPlan(xn, x0n, e, a, float(lo), float(hi), norm)
        else:
            from ._base import parse_norm

            n = x.shape[0]
            e = torch.broadcast_to(eps.to(x.dtype), (n,)).contiguous()
            a = torch.broadcast_to(alpha.to(x.dtype), (n,)).contiguous()
            if e.device != x.device or a.device != x.device:
                return
            _check_budgets(e, a)  # once a run, not once a step (each check is a device sync)
            l2, linf = x.new_empty((n,)), x.new_empty((n,))
            self._args = (x0, e, a, float(lo), float(hi), parse_norm(norm), l2, linf)
            self._call = self._cuda

    def _cuda(self, grad: torch.Tensor) -> None:
        # everything but the gradient was checked at construction; the kernel's binding checks the
        # gradient's shape, dtype, device and layout again at the C++ boundary
        x0, e, a, lo, hi, nm, l2, linf = self._args
        _cuda_step(self.x, grad, x0, e, a, lo, hi, nm, l2, linf)

    def __call__(self, grad: torch.Tensor) -> None:
        # CPU: the plan checks the gradient's shape (and again its dtype and layout); CUDA: the
        # public wrapper checks everything
        if (
            self._plan is not None
            and grad.dtype == self._dtype
            and not grad.requires_grad
            and grad.is_contiguous()
            and grad.is_cpu
        ):
            self._plan(grad.numpy())
        elif (
            self._call is not None
            and grad.dtype == self._dtype
            and not grad.requires_grad
            and grad.is_contiguous()
            and grad.device == self.x.device
        ):
            self._call(grad)
        else:
            x0, eps, alpha, norm, clip = self._eager
            torch_step_(self.x, grad, x0, eps, alpha, norm, clip)


def step_(
    x: torch.Tensor,
    grad: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    alpha: torch.Tensor,
    norm: str,
    clip: tuple[float, float] | None,
) -> None:
    """One step as the attacks take it: the fused kernel where it takes the input, else eager
    torch. An attack loop builds one :class:`Stepper` instead and calls it every step."""
    Stepper(x, x0, eps, alpha, norm, clip)(grad.detach())
