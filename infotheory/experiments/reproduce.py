"""``infotheory reproduce NAME``: the papers' tables and figures.

Each target is a function ``target(opts: Options) -> dict`` that writes PNG + JSON/CSV + a markdown
section into ``opts.out`` and returns a summary. Targets are registered without a shared list: every
module ``infotheory/experiments/repro_*.py`` defines ``TARGETS = {name: ("module:function", "one
line")}`` (cheap to import: no torch at module level), and this module merges them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

# name -> ("module:function", one-line description)
TARGETS: dict[str, tuple[str, str]] = {}


def _discover() -> None:
    from infotheory import experiments

    for info in sorted(pkgutil.iter_modules(experiments.__path__), key=lambda i: i.name):
        if info.name.startswith("repro_"):
            mod = importlib.import_module(f"infotheory.experiments.{info.name}")
            for name, entry in getattr(mod, "TARGETS", {}).items():
                if name in TARGETS:
                    raise RuntimeError(f"reproduce target {name!r} is registered twice")
                TARGETS[name] = entry


_discover()


@dataclass(frozen=True)
class Options:
    out: Path
    seed: int = 0
    quick: bool = False
    full: bool = False
    data: str | None = None
    epochs: int | None = None
    device: str = "auto"


def _count(hi: int | None = None, text: str = ""):  # type: ignore[no-untyped-def]
    """argparse type: an int >= 0 (below ``hi``, written ``text``, when given). The seed feeds
    numpy and torch, which refuse a negative one with a message that does not name the flag."""

    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {s!r}") from None
        if v < 0 or (hi is not None and v >= hi):
            rng = f"in [0, {text})" if hi is not None else ">= 0"
            raise argparse.ArgumentTypeError(f"must be {rng}, got {v}")
        return v

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=sorted(TARGETS), help="which table or figure")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default ./reproduce-NAME)"
    )
    p.add_argument("--seed", type=_count(2**63, "2**63"), default=0)  # torch: 64-bit seeds
    size = p.add_mutually_exclusive_group()  # both were accepted, and ran the slow settings
    size.add_argument("--quick", action="store_true", help="smallest settings (smoke run)")
    size.add_argument("--full", action="store_true", help="the paper's full settings (slow)")
    p.add_argument(
        "--data", default=None, help="data set: mnist-sample, digits, mnist:PATH, cifar10:PATH"
    )
    p.add_argument("--epochs", type=_count(), default=None)
    p.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )


def resolve(name: str):
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose from {', '.join(sorted(TARGETS))}")
    module, func = TARGETS[name][0].split(":")
    return getattr(importlib.import_module(module), func)


def run(args: argparse.Namespace) -> int:
    out = args.out or Path(f"reproduce-{args.name}")
    opts = Options(
        out=out,
        seed=args.seed,
        quick=args.quick,
        full=args.full,
        data=args.data,
        epochs=args.epochs,
        device=args.device,
    )
    resolve(args.name)(opts)
    print(f"results written to {out.resolve()}")
    return 0
