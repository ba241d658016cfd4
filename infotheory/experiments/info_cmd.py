"""``infotheory info``: the build and runtime configuration."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of aligned text")


def run(args: argparse.Namespace) -> int:
    from .. import show_config

    cfg = show_config()
    if args.json:
        print(json.dumps(cfg, indent=2))
    else:
        width = max(len(k) for k in cfg)
        for k, v in cfg.items():
            print(f"{k:<{width}}  {v}")
    return 0
