"""The ``Attack`` base class: validation, evaluation mode, the result."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch
from torch import nn

from ._base import (
    AttackResult,
    check_inputs,
    check_labels,
    eval_mode,
    is_success,
    parse_clip,
    perturbation_norms,
    predict,
    probe_logits,
)

# Keyword spellings accepted as aliases (torchattacks / the names) -> the canonical name.
_ALIASES = {"eot_samples": "eot", "binary_search_steps": "search_steps"}


def _bind_init(init: Any) -> Any:
    """Wrap a subclass ``__init__``: an ``nn.Module`` first positional argument (or ``model=``)
    binds the attack to that model; alias keywords are mapped to their canonical names."""

    params = inspect.signature(init).parameters

    @functools.wraps(init)
    def wrapper(self: Attack, *args: Any, **kwargs: Any) -> None:
        model = kwargs.pop("model", None)
        if args and isinstance(args[0], nn.Module):
            if model is not None:
                raise TypeError(
                    f"{type(self).__name__}() got the model both positionally and as model="
                )
            model, args = args[0], args[1:]
        if model is not None:
            if not isinstance(model, nn.Module):
                raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
            self.model = model
        for alias, name in _ALIASES.items():
            if alias in kwargs:
                if name not in params:
                    raise TypeError(f"{type(self).__name__}() got an unexpected keyword {alias}=")
                if name in kwargs:
                    raise TypeError(
                        f"{type(self).__name__}() got both {name}= and its alias {alias}=; "
                        "pass only one"
                    )
                kwargs[name] = kwargs.pop(alias)
        init(self, *args, **kwargs)

    wrapper._binds_model = True  # type: ignore[attr-defined]
    return wrapper


class Attack:
    """Base class of the attacks.

    Two call styles:

    * bound (as torchattacks): ``atk = PGD(model, eps=0.3); res = atk(x, y)`` (or
      ``atk(x, y, target=t)``); ``model`` may also be passed as ``model=``;
    * unbound: ``atk = PGD(eps=0.3); res = atk(model, x, y, target=None)``.

    Calling a bound attack with a different model, or an unbound one without a model, raises
    ``TypeError``. ``model`` is any ``nn.Module`` mapping a batch to logits ``(n, n_classes)``; it
    runs in evaluation mode during the attack and every submodule's mode is restored afterwards.
    Only input gradients are computed: parameters' ``.grad`` are never written.
    """

    name = "attack"
    norm = "inf"
    targeted_ok = True
    model: nn.Module | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_binds_model", False):
            cls.__init__ = _bind_init(init)  # type: ignore[method-assign]

    def __init__(self, clip: tuple[float, float] | None) -> None:
        self.clip = parse_clip(clip)

    def _parse_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """``(model, x, y, target)`` from either call style."""
        kw = dict(kwargs)
        unknown = set(kw) - {"model", "x", "y", "target"}
        if unknown:
            raise TypeError(f"{self.name} attack got unexpected keyword(s) {sorted(unknown)}")
        model = kw.pop("model", None)
        if args and isinstance(args[0], nn.Module):
            if model is not None:
                raise TypeError("model given both positionally and as model=")
            model, args = args[0], args[1:]
        names = ("x", "y", "target")
        if len(args) > len(names):
            raise TypeError(
                f"{self.name} attack takes (x, y, target=None) after the model, "
                f"got {len(args)} positional arguments"
            )
        vals = dict(zip(names, args, strict=False))
        for k in names:
            if k in kw:
                if k in vals:
                    raise TypeError(f"{self.name} attack got {k} both positionally and as {k}=")
                vals[k] = kw[k]
        if self.model is not None:
            if model is not None and model is not self.model:
                raise TypeError(
                    f"this {type(self).__name__} is bound to a model; call it as atk(x, y) "
                    "(or pass that same model), not with a different one"
                )
            model = self.model
        if model is None:
            first = type(args[0]).__name__ if args else "nothing"
            raise TypeError(
                f"no model to attack: construct {type(self).__name__}(model, ...) and call "
                f"atk(x, y), or call atk(model, x, y) (first argument was {first}, "
                "not an nn.Module)"
            )
        if "x" not in vals or "y" not in vals:
            raise TypeError(f"{self.name} attack needs both x and y")
        return model, vals["x"], vals["y"], vals.get("target")

    def __call__(self, *args: Any, **kwargs: Any) -> AttackResult:
        model, x, y, target = self._parse_call(args, kwargs)
        return self._attack(model, x, y, target)

    def _attack(self, model: nn.Module, x: Any, y: Any, target: Any = None) -> AttackResult:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if target is not None and not self.targeted_ok:
            raise ValueError(f"{self.name} is untargeted: target must be None")
        x, y, tgt = check_inputs(x, y, self.clip, target)
        with eval_mode(model):
            z = probe_logits(model, x)
            k = z.shape[1]
            if k < 2:
                raise ValueError(f"model must return at least 2 logits (classes), got {k}")
            if bool(torch.isnan(z).any()):
                raise ValueError("model returned NaN logits for x[0]; an attack on it is undefined")
            check_labels(y, k)
            if tgt is not None:
                check_labels(tgt, k, "target")
            x_adv, iterations = self._run(model, x, y, tgt)
            x_adv = x_adv.detach()
            labels = predict(model, x_adv, getattr(self, "eot", 1))
        l2, linf = perturbation_norms(x_adv, x)
        return AttackResult(
            x_adv=x_adv,
            success=is_success(labels, y, tgt),
            norms=linf if self.norm == "inf" else l2,
            l2=l2,
            linf=linf,
            adv_labels=labels,
            iterations=iterations,
            attack=self.name,
            norm=self.norm,
        )

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={type(v).__name__ if k == 'model' else repr(v)}"
            for k, v in vars(self).items()
            if not k.startswith("_")
        )
        return f"{type(self).__name__}({fields})"
