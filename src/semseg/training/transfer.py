"""Initialise a model for training from another trained model (``TrainConfig.init``).

Two cases, chosen by the source's architecture:

- **Same architecture** (fine-tuning, e.g. the Cityscapes ESPNetv2 on CamVid): the whole network
  is copied. Tensors that differ only along class dimensions (the classifier's weight and bias,
  ``K_src`` channels in the source, ``K_dst`` in the target) are re-indexed through
  ``semseg.data.label_maps``: a target class takes the row of the source class that maps
  one-to-one onto it (Cityscapes "vegetation" for CamVid "tree"), or the mean of the rows of every
  source class mapped onto it (Cityscapes "rider", "motorcycle" and "bicycle" for CamVid
  "bicyclist"); a class with no counterpart, or every class when no label map joins the two
  label sets, keeps its fresh initialisation. Any other mismatch is an error naming the tensor.
- **Another architecture sharing modules** (an encoder, e.g. the COCO/VOC DeepLabv3-MobileNetV2
  encoder for ``deeplabv3plus_mobilenetv2``): every tensor whose name and shape match is
  copied, the rest keeps its initialisation; nothing matching is an error.

Example:
    >>> report = init_from(model, spec, "espnetv2-cityscapes")
    >>> report.remapped
    ['bu_dec_l4.merge_layer.3.weight', 'bu_dec_l4.merge_layer.3.bias']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from semseg.data.info import DatasetInfo
from semseg.errors import ConfigError, ModelError
from semseg.hub.checkpoint import ModelSpec


@dataclass
class InitReport:
    """What ``init_from`` did: tensors copied, re-indexed by class, skipped (other shape) or
    missing from the source, and class rows left at their fresh values."""

    source: str
    copied: list[str] = field(default_factory=list)
    remapped: list[str] = field(default_factory=list)
    skipped_shape: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    fresh_classes: list[str] = field(default_factory=list)

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Top-level modules that received tensors, e.g. ("encoder",)."""
        return tuple(sorted({k.split(".")[0] for k in self.copied + self.remapped}))

    def summary(self) -> str:
        """One line for the training log."""
        fresh = f"; fresh classifier rows: {', '.join(self.fresh_classes)}" \
            if self.fresh_classes else ""
        partial = (f", {len(self.skipped_shape)} of another shape and {len(self.missing)} "
                   "absent left as they were") if self.skipped_shape or self.missing else ""
        return (f"initialised from {self.source}: {len(self.copied)} tensors copied into "
                f"{', '.join(self.prefixes)}, {len(self.remapped)} re-indexed by "
                f"class{partial}{fresh}")


def class_sources(src: DatasetInfo, dst: DatasetInfo) -> list[list[int]]:
    """For each class of ``dst``, the indices of the ``src`` classes its classifier row takes."""
    if src.classes == dst.classes:
        return [[i] for i in range(dst.num_classes)]
    from semseg.data.label_maps import TABLES

    forward = TABLES.get((src.name, dst.name))
    backward = TABLES.get((dst.name, src.name))
    if forward is None and backward is None:  # unrelated label sets: a fresh classifier
        return [[] for _ in dst.classes]
    rows: list[list[int]] = []
    for name in dst.classes:
        one = backward.get(name) if backward else None
        if one is not None:
            rows.append([src.classes.index(one)])
        else:
            rows.append([i for i, s in enumerate(src.classes)
                         if forward and forward.get(s) == name])
    return rows


def _reindex(tensor: torch.Tensor, dim: int, k_src: int, rows: list[list[int]]) -> torch.Tensor:
    """Pick (or average) source slices along ``dim`` per target class; zeros where none."""
    parts = []
    for sources in rows:
        idx = torch.tensor([s for s in sources if s < k_src], dtype=torch.long)
        shape = list(tensor.shape)
        shape[dim] = 1
        parts.append(tensor.index_select(dim, idx).mean(dim, keepdim=True) if idx.numel()
                     else tensor.new_zeros(shape))
    return torch.cat(parts, dim)


def transfer_state(
    model: nn.Module, spec: ModelSpec, src_state: dict[str, torch.Tensor], src_spec: ModelSpec,
    source: str,
) -> InitReport:
    """Load ``src_state`` into ``model`` (in place), re-indexing class dimensions."""
    rows = class_sources(src_spec.info, spec.info)
    k_src, k_dst = src_spec.out_channels, spec.out_channels
    report = InitReport(source, fresh_classes=[spec.info.classes[t] for t, r in enumerate(rows)
                                               if not r])
    state = model.state_dict()
    missing = sorted(set(state) - set(src_state))
    if missing:
        raise ModelError(f"{source}: has no tensor {missing[0]!r} of architecture {spec.arch!r} "
                         f"({len(missing)} missing); initialise from the same architecture")
    same_labels = k_src == k_dst and all(r == [i] for i, r in enumerate(rows))
    for name, fresh in state.items():
        tensor = src_state[name].to(fresh.dtype)
        class_dims = [] if same_labels or tensor.ndim != fresh.ndim else [
            d for d in range(min(2, fresh.ndim))
            if fresh.shape[d] == k_dst and tensor.shape[d] == k_src]
        if not class_dims and tensor.shape == fresh.shape:
            state[name] = tensor
            report.copied.append(name)
            continue
        others_match = tensor.ndim == fresh.ndim and all(
            tensor.shape[d] == fresh.shape[d] for d in range(fresh.ndim) if d not in class_dims)
        if not class_dims or not others_match:
            raise ModelError(
                f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}, architecture "
                f"{spec.arch!r} {spec.arch_kwargs} needs {tuple(fresh.shape)}; the two networks "
                "differ beyond their class count (check arch_kwargs)")
        for d in class_dims:
            tensor = _reindex(tensor, d, k_src, rows)
        for d in class_dims:  # classes without a counterpart keep their fresh initialisation
            for t, sources in enumerate(rows):
                if not [s for s in sources if s < k_src]:
                    tensor.narrow(d, t, 1).copy_(fresh.narrow(d, t, 1))
        state[name] = tensor
        report.remapped.append(name)
    model.load_state_dict(state, strict=True)
    return report


@torch.no_grad()
def copy_matching(model: nn.Module, src_state: dict[str, torch.Tensor], source: str
                  ) -> InitReport:
    """Copy every tensor of ``src_state`` whose name and shape match ``model``'s (in place)."""
    report = InitReport(source)
    for name, tensor in model.state_dict().items():
        if name not in src_state:
            report.missing.append(name)
        elif src_state[name].shape != tensor.shape:
            report.skipped_shape.append(name)
        else:
            tensor.copy_(src_state[name])
            report.copied.append(name)
    if not report.copied:
        raise ConfigError(f"--init {source}: no tensor matches {type(model).__name__} by name "
                          "and shape; use a model of the same family (see docs/pretrained.md)")
    return report


def init_from(model: nn.Module, spec: ModelSpec, source: str) -> InitReport:
    """Initialise ``model`` from a pretrained name or a ``.pt``/``.safetensors`` file."""
    from semseg.hub import loading

    if loading.resolve(source, allow_arch=True) == "architecture":
        raise ConfigError(f"--init {source}: an architecture name has no trained weights; give "
                          "a pretrained name or a checkpoint file")
    src_model, src_spec = loading.load(source)
    if src_spec.arch != spec.arch:
        return copy_matching(model, src_model.state_dict(), source)
    return transfer_state(model, spec, src_model.state_dict(), src_spec, source)
