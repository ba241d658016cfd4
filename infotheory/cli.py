"""The ``infotheory`` command. Each subcommand lives in its own module with ``add_arguments(parser)``
and ``run(args) -> int``; this file only lists them, so that importing the CLI stays cheap."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("infotheory.experiments.info_cmd", "print the build and runtime configuration"),
    "demo": ("infotheory.experiments.demo", "run the main job on embedded data and write a report"),
    "reproduce": ("infotheory.experiments.reproduce", "reproduce a table or figure of the papers"),
    "train": ("infotheory.experiments.train_cmd", "train a VIB or CE model into a run folder"),
    "attack": ("infotheory.experiments.attack_cmd", "robust accuracy of a trained model"),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="infotheory",
        description="Information-theoretic adversarial robustness: optimal attacks, estimators, "
        "Lipschitz bounds and VIB training.",
    )
    p.add_argument("--version", action="version", version=f"infotheory {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (ValueError, OSError) as e:  # bad arguments or files: a message, not a traceback
        print(f"infotheory {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
