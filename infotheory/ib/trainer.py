"""The training loop: VIB or cross-entropy loss, beta warm-up, weight EMA, adversarial training, MI
tracking, atomic checkpoints with bit-for-bit resume, and data parallelism under torchrun."""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .._arrays import int_scalar
from ._state import EMA, History, load_checkpoint, save_checkpoint
from .estimate import batch_stats
from .losses import LN2, gaussian_kl, label_entropy

GEOMETRIC_START = 1e-4  # a geometric warm-up starts at this fraction of beta

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def _pair(name: str, data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(data, "x_train") and name == "train_data":
        data = (data.x_train, data.y_train)
    elif hasattr(data, "x_test") and name == "test_data":
        data = (data.x_test, data.y_test)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"{name} must hold torch tensors, got {type(x).__name__}, {type(y).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} x must be floating point, got {x.dtype}")
    if y.dtype != torch.int64 or y.ndim != 1:
        raise TypeError(
            f"{name} y must be a 1-d int64 tensor, got {y.dtype} with shape {tuple(y.shape)}"
        )
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"{name} x and y must have the same non-zero length, got {len(x)} and {len(y)}"
        )
    if x.device.type == "meta" or y.device.type == "meta":
        raise ValueError(f"{name} holds a tensor on the meta device, which holds no data")
    # one pass over the data per fit: a NaN would otherwise train (and report) NaN losses
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} x must be finite, found NaN or inf")
    if int(y.min()) < 0:
        raise ValueError(f"{name} y must be >= 0, got {int(y.min())}")
    return x, y


def _number(name: str, v: Any, lo: float, hi: float = math.inf, lo_open: bool = False) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    v = v.item() if isinstance(v, np.generic) else v  # numpy scalars as Python numbers
    v = math.inf if abs(v) > sys.float_info.max else float(v)  # ints beyond float range
    if not (v > lo if lo_open else v >= lo) or v > hi or not math.isfinite(v):
        rng = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise ValueError(f"{name} must be in {rng}, got {v}")
    return v


def _int(name: str, v: Any, lo: int, hi: int = 2**63 - 1) -> int:
    # a Python or numpy integer (torch takes 64-bit seeds and counts)
    return int_scalar(v, name, minimum=lo, maximum=hi)


def _nonfinite_loss(what: str, epoch: int, step: int | None) -> ValueError:
    where = f"step {step + 1} of epoch {epoch + 1}" if step is not None else f"epoch {epoch + 1}"
    return ValueError(
        f"the training loss is not finite ({what}) in {where}: likely causes are a non-finite "
        "model output (NaN/inf weights, or a learning rate so large that training diverged), an "
        "encoder sigma <= 0 (ln sigma in the KL), or labels outside the model's classes"
    )


def _distributed(model: nn.Module) -> tuple[int, int, nn.Module]:
    """(world size, rank, module to call): joins the torchrun process group when launched by torchrun."""
    if not dist.is_available():
        return 1, 0, model
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 1, 0, model
        cuda = next(model.parameters()).is_cuda
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    world, rank = dist.get_world_size(), dist.get_rank()
    if world == 1:
        return 1, 0, model
    from torch.nn.parallel import DistributedDataParallel

    dev = next(model.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    return world, rank, DistributedDataParallel(model, device_ids=ids)


class Trainer:
    """Train a :class:`VIB` (loss CE + beta KL, nats) or any classifier (plain CE), math.md §B3.2.

    Parameters
    ----------
    model : nn.Module
        A ``VIB`` / ``CEClassifier``, or any module mapping x to logits (trained with CE).
    beta : float
        Weight of the KL term (ignored by deterministic models).
    lr : float
        Adam learning rate (when ``optimizer`` is None).
    batch_size : int
        Global batch size (split across processes under torchrun).
    adversary : callable, optional
        An attack of ``infotheory.attacks`` (``adversary(model, x, y).x_adv``); each batch then has
        ``round(adv_ratio * batch)`` of its examples replaced by their adversarial versions.
    adv_ratio : float
        Share of each batch made adversarial, in [0, 1].
    beta_warmup_epochs : float, optional
        Ramp beta linearly from 0 over this many epochs. None: 0 for beta < 1e-2, else 1 epoch (without
        warm-up the initial KL, about 1000 nats, stalls training at large beta).
    ema : float, optional
        Decay of an exponential moving average of the weights (bias-corrected, with ramped decay); the
        test metrics and :attr:`eval_model` use the averaged weights.
    seed : int
        Seeds the shuffling and the encoder noise (the model's initialisation is the caller's).
    out : str or Path, optional
        Run folder: ``checkpoint.pt`` (every epoch), ``history.json``, ``history.csv``.
    quiet : bool
        No progress bar or epoch lines.
    optimizer : callable, optional
        ``optimizer(params) -> torch.optim.Optimizer``; default Adam(lr).
    lr_decay : float
        Learning rate multiplied by this each epoch (1: constant).
    eval_batch_size : int
        Batch size of the test evaluation.
    warmup_shape : str
        "linear": beta * step / warm-up steps; "geometric": beta * 1e-4 ** (1 - step / warm-up steps),
        which keeps beta * KL small while the classifier forms (measured on the MNIST sample at
        beta = 0.1 after 6 epochs: 63% test accuracy with 4 geometric warm-up epochs, 34% with 3 linear).
    """

    def __init__(
        self,
        model: nn.Module,
        beta: float = 1e-3,
        lr: float = 1e-3,
        batch_size: int = 100,
        adversary: Callable[..., Any] | None = None,
        adv_ratio: float = 0.5,
        beta_warmup_epochs: float | None = None,
        ema: float | None = None,
        seed: int = 0,
        out: str | Path | None = None,
        quiet: bool = False,
        *,
        optimizer: OptimizerFactory | None = None,
        lr_decay: float = 1.0,
        eval_batch_size: int = 1000,
        warmup_shape: str = "linear",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.beta = _number("beta", beta, 0.0)
        self.lr = _number("lr", lr, 0.0, lo_open=True)
        self.batch_size = _int("batch_size", batch_size, 1)
        if adversary is not None and not callable(adversary):
            raise TypeError(
                f"adversary must be callable (an attack), got {type(adversary).__name__}"
            )
        self.adversary = adversary
        self.adv_ratio = _number("adv_ratio", adv_ratio, 0.0, 1.0)
        if beta_warmup_epochs is None:
            beta_warmup_epochs = 0.0 if self.beta < 1e-2 else 1.0
        self.beta_warmup_epochs = _number("beta_warmup_epochs", beta_warmup_epochs, 0.0)
        if warmup_shape not in ("linear", "geometric"):
            raise ValueError(f"warmup_shape must be 'linear' or 'geometric', got {warmup_shape!r}")
        self.warmup_shape = warmup_shape
        self.seed = _int("seed", seed, 0)
        if out is not None and not isinstance(out, (str, os.PathLike)):
            raise TypeError(f"out must be a folder path or None, got {type(out).__name__}")
        self.out = Path(out) if out is not None else None
        self.quiet = bool(quiet)
        self.lr_decay = _number("lr_decay", lr_decay, 0.0, 1.0, lo_open=True)
        self.eval_batch_size = _int("eval_batch_size", eval_batch_size, 1)
        self.model = model
        self.stochastic = bool(getattr(model, "stochastic", False))
        params = [p for p in model.parameters() if p.is_floating_point()]
        if not params:
            raise ValueError("model has no floating-point parameters to train")
        self.device = params[0].device
        self.dtype = params[0].dtype  # floating data is cast to it (float64 data, float32 model)
        self.world, self.rank, self._net = _distributed(model)
        if optimizer is not None and not callable(optimizer):
            raise TypeError(
                "optimizer must be a callable making an optimizer from the parameters, got "
                f"{type(optimizer).__name__}"
            )
        make = optimizer if optimizer is not None else (lambda p: torch.optim.Adam(p, lr=self.lr))
        self.optimizer = make(model.parameters())
        if not hasattr(self.optimizer, "param_groups") or not callable(
            getattr(self.optimizer, "step", None)
        ):  # a torch.optim.Optimizer, or one in its image
            raise TypeError(
                "optimizer must return a torch.optim.Optimizer, got "
                f"{type(self.optimizer).__name__}"
            )
        self._base_lrs = [float(g["lr"]) for g in self.optimizer.param_groups]
        self.ema = EMA(model, ema) if ema is not None else None
        self._ema_model: nn.Module | None = None
        self.generator = torch.Generator().manual_seed(self.seed)
        # read the loss back each step where that is free: one process on the CPU (on a GPU it is
        # a sync; under torchrun one rank alone must not raise while the others wait in the
        # gradient all-reduce): elsewhere the epoch's (all-reduced) sums are checked
        self._step_check = self.world == 1 and self.device.type == "cpu"
        self._max_label = 0
        self.history = History()
        self.step = 0

    # ----------------------------------------------------------------------------------------- state
    @property
    def eval_model(self) -> nn.Module:
        """The model with the EMA weights when ``ema`` is set (a separate copy), else the model."""
        if self.ema is None or self.ema.steps == 0:
            return self.model
        if self._ema_model is None:
            self._ema_model = copy.deepcopy(self.model)
        self.ema.copy_to(self._ema_model)
        return self._ema_model

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "model_config": getattr(self.model, "config", None),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "ema_weights": self.ema.averaged() if self.ema is not None and self.ema.steps else None,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "history": self.history.records,
            "step": self.step,
            "epoch": len(self.history),
            "trainer": {"beta": self.beta, "lr": self.lr, "batch_size": self.batch_size,
                        "adv_ratio": self.adv_ratio, "beta_warmup_epochs": self.beta_warmup_epochs,
                        "warmup_shape": self.warmup_shape,
                        "seed": self.seed, "world": self.world},
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise ValueError("the checkpoint has no EMA state but this trainer uses ema")
            self.ema.load_state_dict(state["ema"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.history = History([dict(r) for r in state["history"]])
        self.step = int(state["step"])

    def save(self, path: str | Path | None = None) -> Path | None:
        """Checkpoint (atomically) to ``path`` or ``out/checkpoint.pt``; only rank 0 writes."""
        if path is None:
            if self.out is None:
                raise ValueError("save needs a path when the trainer has no out folder")
            path = self.out / "checkpoint.pt"
        if self.rank != 0:
            return None
        return save_checkpoint(path, self.state_dict())

    # ------------------------------------------------------------------------------------- training
    def _beta_at(self, step: int, steps_per_epoch: int) -> float:
        if self.beta_warmup_epochs <= 0:
            return self.beta
        f = min(1.0, (step + 1) / (self.beta_warmup_epochs * steps_per_epoch))
        if self.warmup_shape == "geometric":
            return self.beta * GEOMETRIC_START ** (1.0 - f)
        return self.beta * f

    def _forward(
        self, net: nn.Module, x: torch.Tensor, eps: torch.Tensor | None
    ) -> tuple[Any, ...]:
        if hasattr(self.model, "encode") and hasattr(self.model, "decoder"):
            return net(x, eps=eps, with_stats=True)
        return net(x), None, None

    def _adversarial(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        res = self.adversary(self.model, x, y)  # type: ignore[misc]
        x_adv = getattr(res, "x_adv", res)
        if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
            raise TypeError(
                "adversary must return an AttackResult (or tensor) with x_adv shaped like x"
            )
        return x_adv.detach()

    def _epoch(
        self, x_tr: torch.Tensor, y_tr: torch.Tensor, epoch: int, epochs: int
    ) -> dict[str, float]:
        n = len(y_tr)
        bs = self.batch_size
        steps = math.ceil(n / bs)
        for g, base in zip(self.optimizer.param_groups, self._base_lrs, strict=True):
            g["lr"] = base * self.lr_decay**epoch
        perm = torch.randperm(n, generator=self.generator)
        # sums over the epoch: clean ce, kl, correct, count; adversarial ce, kl, count
        acc = torch.zeros(7, dtype=torch.float64, device=self.device)
        self.model.train()
        bar = _progress(steps, f"epoch {epoch + 1}/{epochs}", self.quiet or self.rank != 0)
        beta = self.beta
        for i in range(steps):
            idx = perm[i * bs : (i + 1) * bs]
            b = len(idx)
            n_adv = round(self.adv_ratio * b) if self.adversary is not None else 0
            eps = (
                torch.randn((b, self.model.K), generator=self.generator)
                if self.stochastic
                else None
            )
            part = torch.tensor_split(torch.arange(b), self.world)[self.rank]
            lo, hi = (int(part[0]), int(part[-1]) + 1) if len(part) else (0, 0)
            x = x_tr[idx[lo:hi]].to(self.device, self.dtype)
            y = y_tr[idx[lo:hi]].to(self.device)
            k_adv = min(max(n_adv - lo, 0), hi - lo)  # global rows < n_adv are made adversarial
            if k_adv:
                x = torch.cat([self._adversarial(x[:k_adv], y[:k_adv]), x[k_adv:]])
            self.optimizer.zero_grad(set_to_none=True)
            if eps is not None:
                eps = eps[lo:hi].to(self.device, x.dtype)
            logits, mu, sigma = self._forward(self._net, x, eps)
            if logits.ndim != 2 or logits.shape[1] <= self._max_label:
                raise ValueError(
                    f"train_data y must be < the model's number of logits "
                    f"{tuple(logits.shape)[1:]}, got {self._max_label}"
                )
            ce = F.cross_entropy(logits, y, reduction="none")
            kl = gaussian_kl(mu, sigma) if mu is not None else torch.zeros_like(ce)
            beta = self._beta_at(self.step, steps)
            # sum / global batch, times world: DDP's gradient mean then equals the global batch mean
            loss = (ce.sum() + beta * kl.sum()) * (self.world / b)
            if self._step_check and not math.isfinite(v := float(loss.detach())):
                bar.close()
                raise _nonfinite_loss(f"loss {v}", epoch, i)
            loss.backward()
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
            self.step += 1
            with torch.no_grad():  # the first k_adv rows are adversarial, the rest clean
                hit = (logits[k_adv:].argmax(1) == y[k_adv:]).sum()
                acc += torch.stack([
                    ce[k_adv:].sum(), kl[k_adv:].sum(), hit, hit.new_tensor(len(y) - k_adv),
                    ce[:k_adv].sum(), kl[:k_adv].sum(), hit.new_tensor(k_adv),
                ]).double()  # fmt: skip
            bar.update(1)
            if not bar.disable:  # reading the loss back costs a sync per step; only for the bar
                v = float(loss.detach())
                if self.world == 1 and not math.isfinite(v):
                    bar.close()
                    raise _nonfinite_loss(f"loss {v}", epoch, i)
                bar.set_postfix(loss=f"{v / self.world:.4f}")
        bar.close()
        if self.world > 1:
            dist.all_reduce(acc)
        s = acc.cpu().tolist()  # the epoch's one sync: a NaN or inf CE / KL of any step shows here
        if not all(map(math.isfinite, (s[0], s[1], s[4], s[5]))):
            what = f"CE sum {s[0] + s[4]}, KL sum {s[1] + s[5]}"
            raise _nonfinite_loss(what, epoch, None)
        return {
            "ce": s[0] / max(s[3], 1), "kl": s[1] / max(s[3], 1), "train_acc": s[2] / max(s[3], 1),
            "ce_adv": s[4] / s[6] if s[6] else math.nan, "kl_adv": s[5] / s[6] if s[6] else math.nan,
            "beta": beta,
        }  # fmt: skip

    @torch.no_grad()
    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, *, seed: int | None = None
    ) -> dict[str, float]:
        """Accuracy, mean CE over encoder draws and mean KL (nan for deterministic models) on (x, y),
        with :attr:`eval_model` in eval mode. The encoder noise is drawn from ``seed`` (default: the trainer's seed), so the
        result does not depend on, or change, the global random state. ``x``, ``y`` are checked
        as :meth:`fit`'s data (ValueError / TypeError naming them)."""
        x, y = _pair("data", (x, y))
        seed = self.seed if seed is None else _int("seed", seed, 0)
        return self._evaluate(x, y, seed, int(y.max()))

    @torch.no_grad()
    def _evaluate(
        self, x: torch.Tensor, y: torch.Tensor, seed: int, max_label: int
    ) -> dict[str, float]:
        model = self.eval_model
        was = model.training
        model.eval()
        gen = torch.Generator().manual_seed(seed)
        correct, ce_sum, kl_sum = 0, 0.0, 0.0
        try:
            for i in range(0, len(y), self.eval_batch_size):
                xb = x[i : i + self.eval_batch_size].to(self.device, self.dtype)
                yb = y[i : i + self.eval_batch_size].to(self.device)
                c, ce, kl = batch_stats(model, xb, yb, gen, max_label)
                correct, ce_sum, kl_sum = correct + c, ce_sum + ce, kl_sum + kl
        finally:
            model.train(was)
        n = len(y)
        return {"acc": correct / n, "ce": ce_sum / n, "kl": kl_sum / n}

    def fit(
        self,
        train_data: Any,
        test_data: Any = None,
        epochs: int = 1,
        *,
        resume: bool | str | Path = False,
    ) -> History:
        """Train until ``epochs`` epochs are done in total; returns the :class:`History`.

        Parameters
        ----------
        train_data, test_data : (x, y) pairs of tensors (or a ``Dataset``)
            x float (N, ...), y int64 (N,). ``test_data`` may be None (no test metrics).
        epochs : int
            Total number of epochs (a resumed run continues up to it).
        resume : bool or path
            True: continue from ``out/checkpoint.pt`` when it exists; a path: from that checkpoint. The
            run continues bit for bit as if it had not been interrupted.

        Raises
        ------
        ValueError
            On bad data (NaN/inf x, labels < 0 or >= the model's classes / logits), and when the
            training loss is not finite (a NaN/inf model output, a diverged run, an encoder sigma
            <= 0), before the epoch is recorded or checkpointed. The loss is checked where it is
            read back anyway, never with an extra device sync: each step for one CPU process
            (and with the progress bar), else from the epoch's sums at its end, so a GPU run may
            train on for the rest of that epoch first.
        """
        x_tr, y_tr = _pair("train_data", train_data)
        test = _pair("test_data", test_data) if test_data is not None else None
        epochs = _int("epochs", epochs, 0)
        if resume is not False and resume is not None:
            path = (
                (self.out / "checkpoint.pt" if self.out else None)
                if resume is True
                else Path(resume)
            )
            if path is None:
                raise ValueError(
                    "resume=True needs the trainer's out folder; pass a checkpoint path"
                )
            if resume is not True or path.exists():
                self.load_state_dict(load_checkpoint(path))
        k = getattr(self.model, "n_classes", None)
        for name, y in (("train_data", y_tr), ("test_data", test[1] if test else None)):
            if isinstance(k, int) and y is not None and int(y.max()) >= k:
                raise ValueError(f"{name} y must be < n_classes = {k}, got {int(y.max())}")
        h_y = label_entropy(y_tr)
        # compared with the logits' width at the first step (no sync): F.cross_entropy raises an
        # IndexError on the CPU and a device-side assert on a GPU for a label >= the width
        self._max_label = int(y_tr.max())
        test_max = int(test[1].max()) if test else 0
        for epoch in range(len(self.history), epochs):
            t0 = time.perf_counter()
            tr = self._epoch(x_tr, y_tr, epoch, epochs)
            seed = self.seed + 7919 * (epoch + 1)
            te = self._evaluate(*test, seed, test_max) if test else None
            rec = _record(epoch, tr, te, h_y, self.stochastic, self.adversary is not None)
            rec["lr"] = self.optimizer.param_groups[0]["lr"]
            rec["seconds"] = time.perf_counter() - t0
            self.history.records.append(rec)
            if self.out is not None:
                self.save()
                if self.rank == 0:
                    self.history.save(self.out)
            if not self.quiet and self.rank == 0:
                _print_epoch(rec)
        return self.history


def _record(
    epoch: int, tr: dict[str, float], te: dict[str, float] | None, h_y: float, vib: bool, adv: bool
) -> dict[str, Any]:
    def opt(v: float, on: bool) -> float | None:
        return v if on and math.isfinite(v) else None

    ixt = opt(tr["kl"], vib)
    iyt = h_y - tr["ce"]
    ixt_adv = opt(tr["kl_adv"], vib and adv)
    iyt_adv = opt(h_y - tr["ce_adv"], adv)
    return {
        "epoch": epoch + 1,
        "loss": tr["ce"] + tr["beta"] * tr["kl"] if vib else tr["ce"],
        "ce": tr["ce"],
        "kl": ixt,
        "ixt": ixt,
        "iyt": iyt,
        "ixt_bits": ixt / LN2 if ixt is not None else None,
        "iyt_bits": iyt / LN2,
        "ixt_adv": ixt_adv,
        "iyt_adv": iyt_adv,
        "ixt_adv_bits": ixt_adv / LN2 if ixt_adv is not None else None,
        "iyt_adv_bits": iyt_adv / LN2 if iyt_adv is not None else None,
        "train_acc": tr["train_acc"],
        "test_acc": te["acc"] if te else None,
        "test_ixt": opt(te["kl"], vib) if te else None,
        "test_iyt": h_y - te["ce"] if te else None,
        "beta": tr["beta"] if vib else None,
    }


def _progress(total: int, desc: str, disable: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=disable, leave=False, dynamic_ncols=True)


def _print_epoch(r: dict[str, Any]) -> None:
    from tqdm.auto import tqdm

    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}"

    tqdm.write(
        f"epoch {r['epoch']}: loss {f(r['loss'])}  I(X;T) {f(r['ixt'])}  I(Y;T) {f(r['iyt'])} nats  "
        f"train {f(r['train_acc'])}  test {f(r['test_acc'])}  {r['seconds']:.1f}s"
    )
