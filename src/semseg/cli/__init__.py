"""The ``semseg`` command line. Every subcommand is registered here, in ``COMMANDS``.

Each name is a module ``semseg.cli.<name>`` with ``register(subparsers)``; that function adds its
parser and sets ``func`` to a ``run(args) -> int``. Command modules import heavy libraries (torch,
cv2) inside ``run`` so that ``semseg --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from semseg import __version__
from semseg.errors import SemsegError

COMMANDS: tuple[str, ...] = (
    "datasets",
    "predict",
    "train",
    "eval",
    "pretrained",
    "background",
    "models",
    "bench",
    "compare",
    "export",
    "serve",
    "score",
    "forest",
    "points",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="semseg", description="Semantic segmentation: train, evaluate, predict, export."
    )
    parser.add_argument("--version", action="version", version=f"semseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"semseg.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SemsegError as exc:
        print(f"semseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("semseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
