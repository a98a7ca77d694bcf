"""Options shared by the commands: dataset flags, image sizes (``HxW``), ``--device`` and
``--runtime``.

Parsers keep these options as text; ``run`` converts them with ``parse_size`` / ``parse_device``,
so a bad value is a one-line ``ConfigError`` naming the option (exit code 2), like every other
input error, instead of argparse's usage dump.

Example:
    >>> parse_size("360x480")
    (360, 480)
    >>> parse_device("auto")  # 'cuda' where a GPU is available, else 'cpu'
"""

from __future__ import annotations

import argparse

from semseg.device import DEVICE_NAMES, resolve_device
from semseg.errors import ConfigError


def parse_size(text: str, option: str = "--size") -> tuple[int, int]:
    """'360x480' (or '360X480') -> (360, 480), height x width; anything else, including zero
    sizes, raises ``ConfigError`` naming ``option``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"bad {option} {text!r}; expected HxW with positive integers, "
                          "e.g. 360x480")
    return int(parts[0]), int(parts[1])


def add_device_argument(parser: argparse.ArgumentParser, default: str | None = "cpu") -> None:
    """Add ``--device`` (auto | cpu | cuda | cuda:N) to ``parser``; check it with
    ``parse_device`` in ``run``."""
    shown = f" (default {default})" if default else ""
    parser.add_argument("--device", default=default, metavar="DEVICE",
                        help=f"where the network runs: {DEVICE_NAMES}{shown}")


def parse_device(text: str, option: str = "--device") -> str:
    """The device ``text`` names, resolved ('auto' -> 'cuda' or 'cpu'); a name that is not
    auto/cpu/cuda/cuda:N, or CUDA on a machine without it, raises ``ConfigError``."""
    return str(resolve_device(text, what=option))


def add_data_args(parser: argparse.ArgumentParser, split: str = "val",
                  split_help: str = "split") -> None:
    """Add ``--data`` (required), ``--format``, ``--palette`` and ``--split`` (default
    ``split``), the dataset options of every command that reads a split."""
    parser.add_argument("--data", required=True, help="dataset root")
    parser.add_argument("--format", default="camvid", help="dataset format (default camvid)")
    parser.add_argument("--palette", help="palette file or dataset name (folder format)")
    parser.add_argument("--split", default=split, help=f"{split_help} (default {split})")


def add_runtime_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--runtime`` (torch | onnxruntime, default torch) for the commands that run one
    model: eager PyTorch or its cached ONNX export under ONNX Runtime."""
    parser.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch",
                        help="run the network in eager PyTorch or as its cached ONNX export "
                        "under ONNX Runtime (default torch)")
