"""The one model loader: ``load(name_or_path) -> (model, spec)`` for every command and the API.

Resolution rule (``resolve``), the same everywhere:

1. an existing file -> a semseg checkpoint (``.pt`` training checkpoint, ``.safetensors``
   release weights), read without running any code in it;
2. something that looks like a path (has a ``/`` or a model-file suffix ``.pt``/``.pth``/
   ``.safetensors``) but does not exist -> ``InputFileError`` "<x>: model file not found";
3. a registered pretrained name (``semseg pretrained``) -> ``semseg.hub.pretrained`` (cache, mirror,
   download);
4. an architecture name (``semseg models``), only where the caller passes ``allow_arch=True``
   (bench, export, latency scripts) -> randomly initialized weights;
5. anything else -> one ``ModelError`` line: neither a file nor a pretrained name (nor an
   architecture where allowed), with the close matches.

Overrides (keyword arguments of ``load``):

- ``input_size``: ``(H, W)`` the model expects, or ``None`` for any size; replaces the spec's
  input size whatever the source (the weights do not depend on it);
- ``num_classes`` (default 11, CamVid's classes), ``in_channels`` (default 3) and
  ``arch_kwargs`` (constructor arguments such as ``{"output_stride": 16}``): architecture names
  only, since they change the shapes of trained weights.

Example:
    >>> model, spec = load("default")  # the bundled CamVid model
    >>> model, spec = load("unet", allow_arch=True, num_classes=3)  # random init
    >>> resolve("runs/x/best.pt")
    Traceback (most recent call last):
    semseg.errors.InputFileError: runs/x/best.pt: model file not found
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from semseg.errors import ConfigError, InputFileError, ModelError

if TYPE_CHECKING:
    from torch import nn

    from semseg.hub.checkpoint import ModelSpec

MODEL_SUFFIXES = (".pt", ".pth", ".safetensors")
ARCH_OVERRIDES = ("num_classes", "in_channels", "arch_kwargs")  # random init only
OVERRIDES = ("input_size", *ARCH_OVERRIDES)
DEFAULT_NUM_CLASSES = 11  # CamVid, the default dataset
Source = Literal["checkpoint", "pretrained", "architecture"]


def looks_like_path(name: str) -> bool:
    """True for a string with a path separator or a model-file suffix."""
    return "/" in name or os.sep in name or Path(name).suffix.lower() in MODEL_SUFFIXES


def resolve(name_or_path: str | os.PathLike, allow_arch: bool = False) -> Source:
    """Which source ``name_or_path`` names under the rule above; raises when it names none."""
    from semseg.hub.pretrained import list_pretrained
    from semseg.models import list_models

    name = str(name_or_path)
    path = Path(name_or_path)
    if path.is_file():
        return "checkpoint"
    folder = InputFileError(f"{name}: a folder, not a model file (.pt or .safetensors)")
    if looks_like_path(name) or isinstance(name_or_path, os.PathLike):
        raise folder if path.is_dir() else InputFileError(f"{name}: model file not found")
    if name in list_pretrained():
        return "pretrained"
    if allow_arch and name in list_models():
        return "architecture"
    if path.is_dir():
        raise folder
    raise ModelError(_unknown(name, allow_arch))


def _unknown(name: str, allow_arch: bool) -> str:
    from semseg.hub.pretrained import list_pretrained
    from semseg.models import list_models

    pretrained = list_pretrained()
    known = pretrained + (list_models() if allow_arch else [])
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    what = ("a model file, a pretrained name or an architecture" if allow_arch
            else "a model file or a pretrained name")
    hint = f"did you mean {', '.join(close)}? " if close else ""
    if not allow_arch and name in list_models():
        hint = (f"{name!r} is an architecture, which has no trained weights here (train one with "
                f"`semseg train --arch {name}`); ")
    archs = " and the architectures of `semseg models`" if allow_arch else ""
    return (f"unknown model {name!r}: not {what}; {hint}pretrained names: "
            f"{', '.join(pretrained)}{archs}")


def load(
    name_or_path: str | os.PathLike, *, device: str = "cpu", allow_arch: bool = False,
    **overrides: Any,
) -> tuple[nn.Module, ModelSpec]:
    """The model in eval mode on ``device`` and the ``ModelSpec`` that rebuilds and labels it.

    ``overrides`` may be ``input_size`` (any source) and ``num_classes``, ``in_channels``,
    ``arch_kwargs`` (architecture names only); see the module docstring.
    """
    from dataclasses import replace

    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ConfigError(f"unknown model override(s) {', '.join(unknown)}; accepted: "
                          f"{', '.join(OVERRIDES)}")
    source = resolve(name_or_path, allow_arch)
    arch_only = {k: v for k, v in overrides.items() if k in ARCH_OVERRIDES and v not in (None, {})}
    if arch_only and source != "architecture":
        raise ConfigError(f"model arguments {arch_only} apply only to architecture names, "
                          f"not to {str(name_or_path)!r} (a {source} model)")
    if source == "checkpoint":
        from semseg.hub.checkpoint import load_model

        model, spec, _ = load_model(name_or_path)
    elif source == "pretrained":
        from semseg.hub.pretrained import load_pretrained

        model, spec = load_pretrained(str(name_or_path))
    else:
        model, spec = _random_init(str(name_or_path), **{k: overrides.get(k)
                                                          for k in ARCH_OVERRIDES})
    if "input_size" in overrides:
        size = overrides["input_size"]
        spec = replace(spec, input_size=tuple(size) if size else None)
    return model.to(device).eval(), spec


def _random_init(arch: str, num_classes: int | None, in_channels: int | None,
                 arch_kwargs: dict[str, Any] | None) -> tuple[nn.Module, ModelSpec]:
    from semseg.data.camvid import INFO as CAMVID_INFO
    from semseg.data.info import DatasetInfo, default_palette
    from semseg.hub.checkpoint import ModelSpec

    n = DEFAULT_NUM_CLASSES if num_classes is None else num_classes
    if n < 1:
        raise ConfigError(f"number of classes must be >= 1, got {n}")
    info = CAMVID_INFO if n == CAMVID_INFO.num_classes else DatasetInfo(
        name="untrained", classes=tuple(f"class{i}" for i in range(n)),
        palette=default_palette(n))
    spec = ModelSpec(arch=arch, info=info, in_channels=3 if in_channels is None else in_channels,
                     arch_kwargs=dict(arch_kwargs or {}))
    try:
        return spec.build(), spec
    except TypeError as exc:  # a constructor argument of the right name but the wrong type
        raise ConfigError(f"{arch}: bad model arguments {arch_kwargs}: {exc}") from None
