"""Name -> constructor registry: the only string lookup of models in semseg.

Example:
    >>> from semseg.models import create_model, list_models
    >>> model = create_model("unet", num_classes=11)
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from semseg.errors import ModelError


@dataclass(frozen=True)
class ModelEntry:
    """A registered constructor and the paper it implements."""

    name: str
    builder: Callable[..., nn.Module]
    paper: str  # citation, e.g. "Ronneberger et al., U-Net, MICCAI 2015"
    paper_params: float | None = None  # parameter count the paper reports (for docs/models.md)
    paper_gflops: float | None = None  # GFLOPs the paper reports, with its input size in `note`
    note: str = ""  # what the paper's figure refers to (input size, class count, variant)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    paper: str = "",
    paper_params: float | None = None,
    paper_gflops: float | None = None,
    note: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that registers a model constructor under ``name``."""

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, fn, paper, paper_params, paper_gflops, note)
        return fn

    return decorator


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered model names matching a shell-style pattern."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; raises ``ModelError`` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; available: {', '.join(list_models())}"
        ) from None


def create_model(name: str, num_classes: int, in_channels: int = 3, **kwargs) -> nn.Module:
    """Build a registered model mapping (N, in_channels, H, W) to (N, num_classes, H, W) logits."""
    if num_classes < 1:
        raise ModelError(f"num_classes must be >= 1, got {num_classes}")
    if in_channels < 1:
        raise ModelError(f"in_channels must be >= 1, got {in_channels}")
    check_model_kwargs(name, kwargs)
    return model_entry(name).builder(num_classes=num_classes, in_channels=in_channels, **kwargs)


def check_model_kwargs(name: str, kwargs: dict) -> None:
    """``ModelError`` listing the accepted parameters when ``kwargs`` has an unknown one."""
    accepted = model_parameters(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown and not _takes_var_kwargs(model_entry(name).builder):
        raise ModelError(f"model {name!r} has no parameter(s) {', '.join(unknown)}; accepted: "
                         f"{', '.join(accepted) or 'none'}")


def _takes_var_kwargs(fn: Callable[..., nn.Module]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in inspect.signature(fn).parameters.values())


def model_parameters(name: str) -> list[str]:
    """Keyword arguments a registered model accepts beyond ``num_classes`` and ``in_channels``."""
    params = inspect.signature(model_entry(name).builder).parameters
    return [n for n, p in params.items() if n not in ("num_classes", "in_channels")
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
