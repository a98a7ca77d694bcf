"""Peak memory of inference: live-tensor accounting for torch, resident-set growth for the rest.

Example:
    >>> forward_peak_bytes(model, torch.randn(1, 3, 360, 480))  # activations + output, bytes
    >>> with RssPeak() as rss:
    ...     session.run(None, feed)
    >>> rss.bytes, rss.method
"""

from __future__ import annotations

import platform
import resource
from pathlib import Path

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class TensorMemoryTracker(TorchDispatchMode):
    """Peak bytes of tensor storages created inside the context and still alive.

    Storages are tracked by weak reference and released when they expire; expiry is noticed at
    the next operator, which is exactly when a new allocation could raise the peak.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[StorageWeakRef, int] = {}
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for ref in [r for r in self.live if r.expired()]:
            self.current -= self.live.pop(ref)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                ref = StorageWeakRef(storage)
                if ref not in self.live:  # views and in-place results share a storage
                    self.live[ref] = storage.nbytes()
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


def state_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def forward_peak_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes of tensors allocated during one inference forward (activations and output)."""
    with torch.inference_mode(), TensorMemoryTracker() as tracker:
        model(x)
    return tracker.peak


class RssPeak:
    """Growth of the process's resident-set high-water mark inside the context, in bytes.

    On Linux the mark is reset on entry (``/proc/self/clear_refs``), so the result is the peak
    reached inside the context minus the resident size on entry. Elsewhere only the lifetime
    maximum is known and the result is a lower bound (0 when the process peaked earlier).
    """

    def __enter__(self) -> RssPeak:
        self.reset = _reset_rss_peak()
        self.start = _status_kb("VmRSS") if self.reset else _maxrss_kb()
        self.bytes = 0
        return self

    def __exit__(self, *exc: object) -> None:
        end = _status_kb("VmHWM") if self.reset else _maxrss_kb()
        self.bytes = max(0, end - self.start) * 1024

    @property
    def method(self) -> str:
        """How the number was obtained."""
        return ("resident-set high-water growth (VmHWM reset via /proc/self/clear_refs)"
                if self.reset else "ru_maxrss growth (lower bound: the mark cannot be reset)")


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (Linux >= 4.0)
        return _status_kb("VmHWM") > 0
    except OSError:
        return False


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _maxrss_kb() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if platform.system() == "Darwin" else rss  # macOS reports bytes
