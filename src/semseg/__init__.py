"""semseg: semantic segmentation — pretrained models, classic architectures, honest metrics."""

from __future__ import annotations

from typing import Any

__version__ = "0.3.0"

# Public names loaded on first use, so that `import semseg` does not import torch.
_LAZY = {
    "segment": "semseg.inference.oneliner",
    "load": "semseg.hub.loading",
    "Segmenter": "semseg.inference.segmenter",
    "create_model": "semseg.models",
    "list_models": "semseg.models",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'semseg' has no attribute {name!r}")
