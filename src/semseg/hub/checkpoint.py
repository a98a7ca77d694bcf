"""Self-describing checkpoints: enough to rebuild the model, label it, normalize its input.

Two files kinds:
- training checkpoints (``.pt``, ``torch.save``): model spec, weights, optimizer, scheduler, scaler,
  RNG states, epoch, config and metrics, so ``--resume`` continues exactly;
- released weights (``.safetensors``, fp16): spec and metrics as JSON in the header metadata.

Both are written atomically (temporary file + rename).

Example:
    >>> model, spec, meta = load_model("model.safetensors")
    >>> spec.info.classes
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semseg.data.info import DatasetInfo
from semseg.errors import InputFileError, ModelError
from semseg.fileio.images import atomic_write

FORMAT = "semseg-checkpoint"
VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild a model and read its output: architecture, labels, input conventions."""

    arch: str
    info: DatasetInfo
    in_channels: int = 3
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None  # (H, W) the model expects; None: any size
    num_outputs: int | None = None  # logits channels when they differ from len(info.classes)

    @property
    def out_channels(self) -> int:
        """Channels of the model's logits."""
        return self.num_outputs or self.info.num_classes

    def build(self) -> nn.Module:
        """A freshly initialized model of this spec."""
        from semseg.models import create_model

        return create_model(self.arch, self.out_channels, self.in_channels, **self.arch_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        d = asdict(self)
        d["info"] = self.info.to_dict()
        d["input_size"] = list(self.input_size) if self.input_size else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Inverse of ``to_dict``."""
        size = d.get("input_size")
        return cls(
            arch=d["arch"],
            info=DatasetInfo.from_dict(d["info"]),
            in_channels=int(d.get("in_channels", 3)),
            arch_kwargs=dict(d.get("arch_kwargs") or {}),
            input_size=tuple(size) if size else None,
            num_outputs=d.get("num_outputs"),
        )


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states (CUDA too when available) as tensors and plain types,
    so that a checkpoint holding them loads with ``torch.load(weights_only=True)``."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {
        "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64),
                   "gauss_next": gauss},
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _python_state(s: Any) -> tuple:
    if isinstance(s, dict):
        return (s["version"], tuple(int(v) for v in s["state"].tolist()), s["gauss_next"])
    return s  # written before checkpoints were weights-only: a plain tuple already


def _numpy_state(s: Any) -> tuple:
    if isinstance(s, dict):
        return (s["name"], np.asarray(s["keys"].numpy(), dtype=np.uint32), s["pos"],
                s["has_gauss"], s["cached_gaussian"])
    name, keys, pos, has_gauss, cached = s
    return (str(name), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    random.setstate(_python_state(state["python"]))
    np.random.set_state(_numpy_state(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, model: nn.Module, spec: ModelSpec, **extra: Any) -> Path:
    """Write a training checkpoint atomically; ``extra`` holds epoch, config, metrics, states."""
    payload = {"format": FORMAT, "version": VERSION, "spec": spec.to_dict(),
               "state_dict": model.state_dict(), **extra}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def _legacy_numpy_globals() -> list[Any]:
    """The reviewed NumPy names that checkpoints of semseg < 0.x used for the NumPy RNG state
    (a uint32 array): array reconstruction, ndarray, dtype and the uint32 dtype class. They build
    plain arrays only; no callable that could run code is on this list."""
    from numpy.dtypes import UInt32DType

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return [_reconstruct, np.ndarray, np.dtype, UInt32DType]


def load_weights_only(p: Path) -> Any:
    """``torch.load(weights_only=True)``: tensors and plain Python data only, never code.

    Checkpoints written before RNG states were stored as tensors hold one NumPy uint32 array;
    they load with exactly the NumPy names of ``_legacy_numpy_globals`` allowed, nothing more.
    """
    import pickle
    import warnings

    with warnings.catch_warnings():  # torch warns about foreign pickle protocols; it refuses them
        warnings.simplefilter("ignore", UserWarning)
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "numpy" not in str(exc):
                raise
        with torch.serialization.safe_globals(_legacy_numpy_globals()):
            return torch.load(p, map_location="cpu", weights_only=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a training checkpoint (``.pt``) without running any code in it.

    Only tensors and plain Python data are read (``weights_only=True``); a file whose pickle
    names anything else (a function such as ``os.system``, a class, a tensor subclass) is
    refused before any of it is executed.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: checkpoint not found")
    try:
        ckpt = load_weights_only(p)
    except Exception as exc:  # torch raises many types for corrupt or refused files
        raise InputFileError(f"{p}: {refusal(exc)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputFileError(f"{p}: not a semseg checkpoint (no '{FORMAT}' marker)")
    return ckpt


def refusal(exc: Exception) -> str:
    """One line on why ``torch.load(weights_only=True)`` did not read a file."""
    import pickle
    import re

    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) and "weights_only" in text.lower():
        found = re.search(r"(?:GLOBAL|global|Unsupported class|type) ([\w.]+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (f"refused: the file asks to run or build Python objects{what} that are not "
                "tensors or plain data; semseg never executes code from a checkpoint "
                "(save weights with semseg, or as safetensors)")
    reason = f"{type(exc).__name__}: {text}".splitlines()[0]
    return f"not a readable checkpoint ({reason})"


def save_release(
    path: str | Path, model: nn.Module, spec: ModelSpec, metrics: dict | None = None
) -> Path:
    """Write fp16 safetensors weights with the spec and metrics in the header."""
    from safetensors.torch import save_file

    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous()
               for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "spec": json.dumps(spec.to_dict()),
            "metrics": json.dumps(metrics or {})}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def _read_release(p: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:
        raise InputFileError(f"{p}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT or "spec" not in meta:
        raise InputFileError(f"{p}: safetensors file without semseg metadata")
    return tensors, {"spec": json.loads(meta["spec"]), "metrics": json.loads(meta["metrics"])}


def load_model(path: str | Path) -> tuple[nn.Module, ModelSpec, dict[str, Any]]:
    """Rebuild a model in eval mode from a ``.pt`` or ``.safetensors`` file.

    Returns the model (float32), its spec, and the remaining metadata (metrics, epoch, config).
    """
    p = Path(path)
    if p.suffix == ".safetensors":
        if not p.is_file():
            raise InputFileError(f"{p}: weights file not found")
        state, meta = _read_release(p)
    else:
        ckpt = load_checkpoint(p)
        state = ckpt["state_dict"]
        meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer",
                                                           "scheduler", "scaler", "rng")}
    spec = ModelSpec.from_dict(meta["spec"])
    return build_with_weights(spec, state, p), spec, meta


def build_with_weights(spec: ModelSpec, state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    """``spec``'s model in eval mode holding ``state`` (as float32); ``ModelError`` naming
    ``path`` when the tensors do not fit the architecture."""
    model = spec.build()
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{path}: weights do not match architecture {spec.arch!r}: {first}"
                         ) from None
    return model.eval()
