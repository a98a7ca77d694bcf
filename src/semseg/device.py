"""Device names, the same for every command and config: ``auto | cpu | cuda | cuda:N``.

``auto`` is the first CUDA GPU when one is available, else the CPU. A CUDA name on a machine
without CUDA (or ``cuda:N`` past the last GPU) is a ``ConfigError`` saying what exists.

Example:
    >>> check_device_name("cuda:1")
    'cuda:1'
    >>> resolve_device("auto")  # device(type='cpu') on a machine without a GPU
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from semseg.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(name: str, what: str = "device") -> str:
    """``name`` if it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; otherwise ``ConfigError``
    (its message starts with ``what``, e.g. ``--device``)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{what} {name!r}: expected {DEVICE_NAMES}")
    return name


def resolve_device(name: str, what: str = "device") -> torch.device:
    """The torch device ``name`` stands for (``auto``: CUDA when available, else CPU)."""
    import torch

    check_device_name(name, what)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"{what} {name!r}: no CUDA GPU is available (use cpu or auto)")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"{what} {name!r}: this machine has {count} CUDA GPU(s), "
                              f"cuda:0 to cuda:{count - 1}")
    return device
