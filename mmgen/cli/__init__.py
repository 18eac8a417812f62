"""`python -m mmgen <command> ...`: one sub-command per module in this package.

Each module defines `register(subparsers)`, which adds its parser and sets `func` (called with the parsed
args; returns an exit code or None). Modules are discovered, so a new command is a new file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mmgen",
        description="MMGen: melody-guided music generation. Run `python -m mmgen <command> --help` for details.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as err:  # our errors are ValueErrors with a readable message
        print(f"error: {err}", file=sys.stderr)
        return 1
